// Command engine benchmarks curlsock's Engine (issue "Engine") against a C
// driver of libcurl's multi socket API (cdriver.c, in the style of curl's
// docs/examples/ephiperfifo.c) and Go's net/http:
//
//  1. scale: 10,000 transfers at once, each held 1 s by a server in another
//     process; OS threads and memory per transfer, one child process per
//     variant (the engine, the C driver, a goroutine per blocking Perform);
//
//  2. throughput against nginx: keep-alive with 64 transfers at once, fresh
//     connections (FORBID_REUSE) with 256; transfers/s and CPU per transfer,
//     variants interleaved round by round;
//
//  3. cancellation: Do against a server that never answers, canceled once
//     the server has the request; latency of cancel, fds and registrations;
//
//  4. Go allocations per readiness event and per transfer.
//
//     go run ./bench/engine                 # or: make bench-engine
//     go run ./bench/engine -quick          # a smaller run of everything
//     go run ./bench/engine -goals 2 -rounds 3 -variants engine,cdriver
//
// It is a program, not a test: go test ./... never runs it.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/internal/benchkit"
)

type config struct {
	goals                      map[int]bool
	rounds, nKA, nFresh        int
	kaConc, freshConc, size    int
	variants                   []string
	cpu                        int
	scaleN, performN, scaleRnd int
	listeners                  int
	hold                       time.Duration
	barrier                    bool
	cancelN                    int
	streamBytes                int64
	streams, small             int
	paceBytes                  int64
	paceChunk                  int
	paceGap                    time.Duration
	out, cpuprofile            string
	heapprofile                string
	scaleCPUProfile            string
}

func main() {
	var (
		goals       = flag.String("goals", "1,2,3,4", "goals to measure: 1 scale, 2 throughput, 3 cancellation, 4 allocations")
		quick       = flag.Bool("quick", false, "a quick run: fewer rounds, transfers and cycles (overrides the defaults of the flags below)")
		rounds      = flag.Int("rounds", 9, "throughput rounds; each runs every variant once, in a rotated order")
		nKA         = flag.Int("n-ka", 20000, "keep-alive transfers per variant per round")
		nFresh      = flag.Int("n-fresh", 8000, "fresh-connection transfers per variant per round")
		kaConc      = flag.Int("ka-conc", 64, "concurrent keep-alive transfers")
		freshConc   = flag.Int("fresh-conc", 256, "concurrent fresh-connection transfers")
		variants    = flag.String("variants", "cdriver,engine,engine-gowrite,nethttp", "throughput variants (diagnostic: cdriver-each, the C driver starting each re-added handle with its own curl_multi_socket_action, as the engine does)")
		size        = flag.Int("size", 1024, "bytes of nginx's static file")
		cpu         = flag.Int("cpu", -2, "pin nginx's worker to this CPU (-1: no pinning; default: the last CPU)")
		scaleN      = flag.Int("scale-n", 10000, "transfers at once in the scale test (engine and C driver)")
		performN    = flag.Int("perform-n", 5000, "transfers at once for the goroutine-per-Perform variant (10,000 OS threads abort a Go program)")
		scaleRounds = flag.Int("scale-rounds", 2, "runs of each scale variant (interleaved)")
		listeners   = flag.Int("listeners", 4, "listening ports of the holding server (the transfers are spread over them)")
		hold        = flag.Duration("hold", time.Second, "how long the server holds each request in the scale test")
		barrier     = flag.Bool("barrier", true, "scale test: the server also holds each request until all of the variant's transfers are held at once")
		cancelN     = flag.Int("cancel-n", 10000, "cancel cycles")
		streamBytes = flag.Int64("stream-bytes", 256<<20, "bytes per streamed download (goal 4)")
		streams     = flag.Int("streams", 4, "streamed downloads at full speed (goal 4)")
		paceBytes   = flag.Int64("pace-bytes", 8<<20, "bytes of the paced download (goal 4)")
		paceChunk   = flag.Int("pace-chunk", 4096, "the paced download's server writes this many bytes at a time (goal 4)")
		paceGap     = flag.Duration("pace-gap", 50*time.Microsecond, "... with this pause between writes (goal 4)")
		small       = flag.Int("small", 5000, "small keep-alive transfers for allocations per transfer (goal 4)")
		out         = flag.String("out", defaultOut(), "also write the report here (\"\": don't)")
		cpuprofile  = flag.String("cpuprofile", "", "CPU profile of the throughput rounds (goal 2) to this file")
		scaleProf   = flag.String("scale-cpuprofile", "", "CPU profiles of the scale children (goal 1): PREFIX-VARIANT.pprof")
		heapprofile = flag.String("heapprofile", "", "heap profile of the engine's scale child (goal 1), taken at 80 % of the hold time, to this file")

		role    = flag.String("internal-role", "", "internal: server, scale, cancel or allocs")
		variant = flag.String("variant", "", "internal: the scale variant")
		n       = flag.Int("n", 0, "internal: transfers or cycles")
		urls    = flag.String("urls", "", "internal: comma-separated URLs")
		fast    = flag.String("fast", "", "internal: the warm-up URL")
		timeout = flag.Duration("timeout", 60*time.Second, "internal: scale transfers' timeout")
		stall   = flag.Bool("stall", false, "internal: the server also stalls")
	)
	flag.Parse()
	var err error
	switch *role {
	case "server":
		serveRaw(*listeners, *hold, *stall)
		return
	case "scale":
		err = scaleChild(*variant, *n, strings.Split(*urls, ","), *fast, *timeout, *hold, *heapprofile, *cpuprofile)
	case "cancel":
		err = cancelChild(*n)
	case "allocs":
		err = allocsChild(*urls)
	case "":
		cfg := config{goals: map[int]bool{}, rounds: *rounds, nKA: *nKA, nFresh: *nFresh, kaConc: *kaConc, freshConc: *freshConc,
			size: *size, cpu: *cpu, scaleN: *scaleN, performN: *performN, scaleRnd: *scaleRounds, listeners: *listeners,
			hold: *hold, barrier: *barrier, cancelN: *cancelN, streamBytes: *streamBytes, streams: *streams, small: *small,
			paceBytes: *paceBytes, paceChunk: *paceChunk, paceGap: *paceGap,
			out: *out, cpuprofile: *cpuprofile, heapprofile: *heapprofile, scaleCPUProfile: *scaleProf}
		for _, g := range strings.Split(*goals, ",") {
			if i, err := strconv.Atoi(strings.TrimSpace(g)); err == nil && i >= 1 && i <= 4 {
				cfg.goals[i] = true
			} else if g != "" {
				fatalf("-goals: %q is not 1, 2, 3 or 4", g)
			}
		}
		for _, v := range strings.Split(*variants, ",") {
			if v = strings.TrimSpace(v); v != "" {
				if !slices.Contains([]string{"cdriver", "cdriver-each", "engine", "engine-gowrite", "nethttp"}, v) {
					fatalf("-variants: unknown %q", v)
				}
				cfg.variants = append(cfg.variants, v)
			}
		}
		if *quick {
			set := map[string]bool{}
			flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
			def := func(name string, p *int, v int) {
				if !set[name] {
					*p = v
				}
			}
			def("rounds", &cfg.rounds, 3)
			def("n-ka", &cfg.nKA, 5000)
			def("n-fresh", &cfg.nFresh, 2000)
			def("scale-rounds", &cfg.scaleRnd, 1)
			def("cancel-n", &cfg.cancelN, 2000)
			def("streams", &cfg.streams, 2)
			def("small", &cfg.small, 2000)
		}
		err = run(cfg)
	default:
		err = fmt.Errorf("unknown -internal-role %q", *role)
	}
	if err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	benchkit.RunCleanups()
	fmt.Fprintf(os.Stderr, "bench/engine: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/engine: "+format+"\n", args...)
}

func defaultOut() string {
	name := "engine-results.md"
	if strings.HasPrefix(libcurlVersion(), "8.") {
		name = "engine-results-curl8.md"
	}
	return benchkit.DefaultOut(name)
}

func gomaxprocs() int { return runtime.GOMAXPROCS(0) }

func run(cfg config) error {
	defer benchkit.RunCleanups()
	benchkit.OnSignal(func(s os.Signal) { fatalf("stopped by %v", s) })
	if _, err := benchkit.RaiseNofile(); err != nil {
		return err
	}
	if cfg.cpu == -2 {
		var err error
		if cfg.cpu, err = benchkit.LastCPU(); err != nil {
			return err
		}
	}
	started := time.Now()
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## curlsock engine benchmark\n\n")
	w("%s; libcurl %s; curlsock %s; %s.\n", benchkit.Timestamp(), libcurlVersion(),
		benchkit.Revision("--untracked-files=no", "--", "*.go", "*.c", "*.h"), benchkit.Machine())

	var gs *goServer
	if cfg.goals[1] || cfg.goals[4] {
		var err error
		if gs, err = startGoServer(cfg.listeners, cfg.hold, false); err != nil {
			return err
		}
		benchkit.AtExit(gs.stop)
	}
	var ngx *nginxServer
	if cfg.goals[2] || cfg.goals[4] {
		var err error
		if ngx, err = startNginx(cfg.size, cfg.cpu); err != nil {
			return err
		}
		benchkit.AtExit(ngx.stop)
		w("Server for goals 2 and 4: %s, one worker", ngx.version)
		if cfg.cpu >= 0 {
			w(" pinned to CPU %d", cfg.cpu)
		}
		w("; the client process is not pinned.\n")
	}
	w("\n")

	if cfg.goals[1] {
		if err := goal1(cfg, gs, w); err != nil {
			return err
		}
	}
	if cfg.goals[2] {
		if err := goal2(cfg, ngx, w); err != nil {
			return err
		}
	}
	if cfg.goals[3] {
		if err := goal3(cfg, w); err != nil {
			return err
		}
	}
	if cfg.goals[4] {
		if err := goal4(cfg, gs, ngx, w); err != nil {
			return err
		}
	}
	w("Total wall time: %.0f s.\n", time.Since(started).Seconds())
	fmt.Print(b.String())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(b.String()), 0o644); err != nil {
			return err
		}
		logf("report written to %s", cfg.out)
	}
	return nil
}

func goal1(cfg config, gs *goServer, w func(string, ...any)) error {
	load0 := benchkit.Loadavg(3)
	kinds := []struct{ key, what string }{
		{"engine", "(a) curlsock Engine.Do, one goroutine per transfer"},
		{"cdriver", "(b) C driver (epoll + timerfd, one thread)"},
		{"perform", "(c) one goroutine per blocking Perform"},
	}
	res := map[string][]scaleResult{}
	for r := range cfg.scaleRnd {
		for i := range kinds {
			k := kinds[(i+r)%len(kinds)]
			n := cfg.scaleN
			if k.key == "perform" {
				n = cfg.performN
			}
			logf("goal 1, round %d/%d: %s, %d transfers at once", r+1, cfg.scaleRnd, k.key, n)
			sr, err := runScaleChild(k.key, n, gs, 90*time.Second, cfg.hold, cfg.barrier, cfg.heapprofile, cfg.scaleCPUProfile)
			if err != nil {
				return err
			}
			logf("  ok %d, failed %d, %.1f s, held at once %d, peak threads %d, %.1f KB/transfer (RSS), %.1f (PSS)",
				sr.OK, sr.Failed, sr.Seconds, sr.HeldMax, sr.PeakThreads, sr.rssPer(), sr.pssPer())
			res[k.key] = append(res[k.key], sr)
		}
	}
	held := ""
	if cfg.barrier {
		held = ", and until all of the variant's transfers are held at once (-barrier)"
	}
	w("### Goal 1: scale — %d transfers at once, each held %v by a Go server in another process%s\n\n", cfg.scaleN, cfg.hold, held)
	w("IP-literal URLs over %d listening ports of the server; RLIMIT_NOFILE raised to the hard limit in both processes; each variant in a child process of its own, %d run(s) each, interleaved; "+
		"the handles are made first (all variants), then the transfers start at once (one goroutine each for (a) and (c)). "+
		"Memory per transfer = (peak − idle baseline) / transfers, the baseline taken after a warm-up transfer, a GC and FreeOSMemory, before the handles are made: "+
		"RSS = VmHWM (reset after the baseline) − VmRSS; PSS = the highest PSS sampled every 50 ms − baseline PSS. Threads: /proc/self/status every 5 ms. "+
		"Load average before/after: %s / %s.\n\n", cfg.listeners, cfg.scaleRnd, load0, benchkit.Loadavg(3))
	w("| variant | transfers | ok | failed | held at once (server) | wall s | peak threads | baseline RSS MB | peak RSS MB | KB/transfer (RSS) | KB/transfer (PSS) | at the PSS peak, per transfer: Go heap / Go stacks / Go runtime total / the rest (C, threads) KB | CPU s |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
	for _, k := range kinds {
		for _, r := range res[k.key] {
			n := float64(r.N)
			goKB := float64(r.PeakGoSysKB-r.BaseGoSysKB) / n
			w("| %s | %d | %d | %d | %d | %.2f | %d | %.1f | %.1f | %.2f | %.2f | %.2f / %.2f / %.2f / %.2f | %.2f |\n",
				k.what, r.N, r.OK, r.Failed, r.HeldMax, r.Seconds, r.PeakThreads, float64(r.BaseRSSKB)/1024, float64(r.HWMKB)/1024,
				r.rssPer(), r.pssPer(), float64(r.PeakHeapKB-r.BaseHeapKB)/n, float64(r.PeakStackKB-r.BaseStackKB)/n, goKB, r.pssPer()-goKB, r.CPUSeconds)
		}
	}
	med := func(key string, f func(scaleResult) float64) float64 {
		var xs []float64
		for _, r := range res[key] {
			xs = append(xs, f(r))
		}
		return benchkit.Median(xs)
	}
	allOK, threadsOK, firstErr := true, true, ""
	maxThreads := 0
	for _, r := range res["engine"] {
		allOK = allOK && r.OK == r.N && r.Failed == 0
		if r.FirstErr != "" && firstErr == "" {
			firstErr = r.FirstErr
		}
		maxThreads = max(maxThreads, r.PeakThreads)
		threadsOK = threadsOK && r.PeakThreads <= r.GOMAXPROCS+8
	}
	gmp := 0
	if len(res["engine"]) > 0 {
		gmp = res["engine"][0].GOMAXPROCS
	}
	w("\n- Engine: all %d transfers succeeded: %s", cfg.scaleN, benchkit.Mark(allOK))
	if firstErr != "" {
		w(" (first error: %s)", firstErr)
	}
	w("; peak OS threads %d ≤ GOMAXPROCS + 8 = %d: %s.\n", maxThreads, gmp+8, benchkit.Mark(threadsOK))
	ra, rb := med("engine", scaleResult.rssPer), med("cdriver", scaleResult.rssPer)
	pa, pb := med("engine", scaleResult.pssPer), med("cdriver", scaleResult.pssPer)
	w("- Memory per transfer, medians: engine %.2f KB RSS / %.2f KB PSS, C driver %.2f / %.2f, goroutine per Perform %.2f / %.2f (at %d transfers); "+
		"engine / C driver = %.2f (RSS), %.2f (PSS), goal ≤ 1.25: %s.\n\n",
		ra, pa, rb, pb, med("perform", scaleResult.rssPer), med("perform", scaleResult.pssPer), cfg.performN, ra/rb, pa/pb, benchkit.Mark(ra/rb <= 1.25 && pa/pb <= 1.25))
	return nil
}

type tpVariant struct {
	key, what string
	r         tpRunner
	samples   []tpSample
}

func goal2(cfg config, ngx *nginxServer, w func(string, ...any)) error {
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		runtime.SetCPUProfileRate(500)
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	for _, mode := range []struct {
		name  string
		url   string
		conc  int
		n     int
		fresh bool
	}{
		{"keep-alive", ngx.kaURL, cfg.kaConc, cfg.nKA, false},
		{"fresh connections (FORBID_REUSE; net/http: DisableKeepAlives)", ngx.freshURL, cfg.freshConc, cfg.nFresh, true},
	} {
		var vs []*tpVariant
		closeAll := func() {
			for _, v := range vs {
				v.r.close()
			}
		}
		for _, key := range cfg.variants {
			var r tpRunner
			var err error
			what := ""
			switch key {
			case "cdriver":
				what = "C driver (epoll + timerfd, one thread, C write callback)"
				r, err = newCRunner(mode.url, mode.conc, cfg.size, mode.fresh, false)
			case "cdriver-each":
				what = "C driver, each handle started with its own socket_action (diagnostic)"
				r, err = newCRunner(mode.url, mode.conc, cfg.size, mode.fresh, true)
			case "engine":
				what = "curlsock Engine.Do from N goroutines, C write callback"
				r, err = newEngineRunner(mode.url, mode.conc, cfg.size, mode.fresh, false)
			case "engine-gowrite":
				what = "curlsock Engine.Do from N goroutines, Go write callback"
				r, err = newEngineRunner(mode.url, mode.conc, cfg.size, mode.fresh, true)
			case "nethttp":
				what = "Go net/http client, N goroutines"
				r = newHTTPRunner(mode.url, mode.conc, cfg.size, mode.fresh)
			}
			if err != nil {
				closeAll()
				return fmt.Errorf("%s: %w", key, err)
			}
			vs = append(vs, &tpVariant{key: key, what: what, r: r})
		}
		for _, v := range vs { // warm-up
			if _, err := v.r.run(mode.conc * 4); err != nil {
				closeAll()
				return fmt.Errorf("warm-up (%s): %w", v.key, err)
			}
		}
		load0 := benchkit.Loadavg(3)
		baseThreads := benchkit.ReadStatus().Threads
		t0 := time.Now()
		for r := range cfg.rounds {
			var line []string
			for i := range vs {
				v := vs[(i+r)%len(vs)]
				s, err := v.r.run(mode.n)
				if err != nil {
					closeAll()
					return fmt.Errorf("%s round %d (%s): %w", mode.name, r+1, v.key, err)
				}
				v.samples = append(v.samples, s)
				line = append(line, fmt.Sprintf("%s=%.0f/s,%.1fµs", v.key, s.tps(), s.cpuUs()))
			}
			logf("goal 2, %s, round %d/%d: %s", strings.Fields(mode.name)[0], r+1, cfg.rounds, strings.Join(line, " "))
		}
		el := time.Since(t0)
		closeAll()
		reportTP(w, mode.name, mode.conc, mode.n, cfg.rounds, vs, load0, benchkit.Loadavg(3), el, baseThreads)
	}
	return nil
}

func reportTP(w func(string, ...any), name string, conc, n, rounds int, vs []*tpVariant, load0, load1 string, el time.Duration, baseThreads int) {
	w("### Goal 2: throughput, %s, %d at once\n\n", name, conc)
	w("%d rounds × %d transfers per variant, variants rotated round by round; medians over rounds; \"vs C\" is the median of the per-round ratios to the C driver. "+
		"CPU = the client process's user+sys (getrusage) per transfer. Go allocs: runtime.MemStats.Mallocs per transfer. "+
		"Epoll rounds/events: epoll_wait calls from C (the C driver's, the engine's shard) that returned events, and the events, per transfer. "+
		"Peak threads: of the whole benchmark process, %d before the rounds (the runtime's, and one locked thread per server child). "+
		"Wall time %.0f s; load average before/after: %s / %s.\n\n", rounds, n, baseThreads, el.Seconds(), load0, load1)
	var base *tpVariant
	for _, v := range vs {
		if v.key == "cdriver" {
			base = v
		}
	}
	col := func(v *tpVariant, f func(tpSample) float64) []float64 {
		var xs []float64
		for _, s := range v.samples {
			xs = append(xs, f(s))
		}
		return xs
	}
	paired := func(v *tpVariant, f func(tpSample) float64) float64 {
		if base == nil {
			return math.NaN()
		}
		var xs []float64
		for i := range min(len(v.samples), len(base.samples)) {
			xs = append(xs, f(v.samples[i])/f(base.samples[i]))
		}
		return benchkit.Median(xs)
	}
	per := func(f func(tpSample) uint64) func(tpSample) float64 {
		return func(s tpSample) float64 { return float64(f(s)) / float64(s.transfers) }
	}
	w("| variant | transfers/s | min–max | vs C | CPU µs/transfer | vs C | Go allocs/transfer | Go write calls/transfer | new connections/transfer | epoll rounds/transfer | events/transfer | peak threads |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, v := range vs {
		tps := col(v, tpSample.tps)
		conns := "—"
		if len(v.samples) > 0 && v.samples[0].connects >= 0 {
			conns = fmt.Sprintf("%.4f", benchkit.Median(col(v, func(s tpSample) float64 { return float64(s.connects) / float64(s.transfers) })))
		}
		w("| %s | %.0f | %.0f–%.0f | %.3f | %.1f | %.3f | %.2f | %.2f | %s | %.3f | %.3f | %.0f |\n", v.what,
			benchkit.Median(tps), slices.Min(tps), slices.Max(tps), paired(v, tpSample.tps), benchkit.Median(col(v, tpSample.cpuUs)), paired(v, tpSample.cpuUs),
			benchkit.Median(col(v, per(func(s tpSample) uint64 { return s.mallocs }))), benchkit.Median(col(v, per(func(s tpSample) uint64 { return s.writeCalls }))), conns,
			benchkit.Median(col(v, per(func(s tpSample) uint64 { return s.epCalls }))), benchkit.Median(col(v, per(func(s tpSample) uint64 { return s.epEvents }))),
			slices.Max(col(v, func(s tpSample) float64 { return float64(s.peakThreads) })))
	}
	w("\n")
	for _, v := range vs {
		if base == nil || v == base || !strings.HasPrefix(v.key, "engine") && v.key != "cdriver-each" {
			continue
		}
		t, c := paired(v, tpSample.tps), paired(v, tpSample.cpuUs)
		w("- %s: transfers/s %.3f × the C driver's (goal ≥ 0.90: %s), CPU per transfer %.3f × (goal ≤ 1.15: %s).\n",
			v.what, t, benchkit.Mark(t >= 0.90), c, benchkit.Mark(c <= 1.15))
	}
	for _, v := range vs {
		if base != nil && v.key == "nethttp" {
			w("- net/http: transfers/s %.3f × the C driver's, CPU per transfer %.3f ×.\n", paired(v, tpSample.tps), paired(v, tpSample.cpuUs))
		}
	}
	w("\n")
}

func goal3(cfg config, w func(string, ...any)) error {
	load0 := benchkit.Loadavg(3)
	logf("goal 3: %d cancel cycles", cfg.cancelN)
	r, err := runCancelChild(cfg.cancelN)
	if err != nil {
		return err
	}
	w("### Goal 3: cancellation — %d cycles against a server that reads the request and never answers\n\n", r.N)
	w("Each cycle: Do in a goroutine, the server (another process) reports that it read the request, the context is canceled; "+
		"latency = from cancel() to Do returning (context.Canceled) in its goroutine. One engine and one handle for all cycles, in a child process; "+
		"fds and curl.Registrations() taken after 20 warm-up cycles (start) and after the last (end), then after Cleanup and Engine.Close. "+
		"%.1f s for the cycles; peak threads %d (GOMAXPROCS %d); load average before/after: %s / %s.\n\n", r.Seconds, r.PeakThreads, r.GOMAXPROCS, load0, benchkit.Loadavg(3))
	w("| | value |\n| --- | ---: |\n")
	w("| cancel → Do returned, p50 | %.0f µs |\n| p99 | %.0f µs |\n| max | %.0f µs |\n| mean | %.0f µs |\n", r.P50us, r.P99us, r.MaxUs, r.MeanUs)
	w("| open fds: before the engine / start / end / after Close | %d / %d / %d / %d |\n", r.FDInit, r.FDStart, r.FDEnd, r.FDClosed)
	reg := func(s curl.RegistrationStats) string {
		return fmt.Sprintf("%d/%d/%d/%d", s.Handles, s.Multis, s.CloseCallbacks, s.Sockets)
	}
	w("| Registrations (handles/multis/close callbacks/sockets): before / start / end / after Close | %s / %s / %s / %s |\n\n",
		reg(r.RegInit), reg(r.RegStart), reg(r.RegEnd), reg(r.RegClosed))
	back := r.FDEnd == r.FDStart && r.RegEnd == r.RegStart && r.FDClosed == r.FDInit && r.RegClosed == r.RegInit
	w("- fds and registrations back to where they started: %s; p99 %.2f ms ≤ 10 ms: %s.\n\n", benchkit.Mark(back), r.P99us/1000, benchkit.Mark(r.P99us <= 10000))
	return nil
}

func goal4(cfg config, gs *goServer, ngx *nginxServer, w func(string, ...any)) error {
	load0 := benchkit.Loadavg(3)
	logf("goal 4: allocations")
	r, err := runAllocsChild(allocParams{StreamURL: gs.streamURL, KAURL: ngx.kaURL, StreamBytes: cfg.streamBytes, PaceBytes: cfg.paceBytes,
		Streams: cfg.streams, Small: cfg.small, PaceChunk: cfg.paceChunk, PaceGap: cfg.paceGap})
	if err != nil {
		return err
	}
	w("### Goal 4: Go allocations per readiness event\n\n")
	w("One engine, one handle per phase, sequential Do calls with a Go write callback, in a child process with every allocation recorded (MemProfileRate 1). "+
		"Each allocation is sorted by its stack: the event loop (under the shard's round, i.e. per readiness event), of which the write callback's copies "+
		"(curlsock hands it a copy of each chunk: one per call); Do's own outside the loop (per transfer); the runtime's own (runtime frames only); other. "+
		"Readiness events are counted by this program's epoll_wait (cdriver.c), which replaces libc's for the shard's C code: "+
		"rounds = epoll_wait calls that returned events, events = what they returned (the shard's eventfd and timerfd included). "+
		"The stream comes from the Go server (another process), the small files from nginx. Load average before/after: %s / %s.\n\n", load0, benchkit.Loadavg(3))
	w("| phase | transfers | MB | s | Go mallocs (MemStats) | write calls | epoll rounds | events | event loop, copies excluded | write copies | Do | runtime's own | other | loop allocs per event | Do allocs per transfer |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	worst := 0.0
	for _, p := range r.Phases {
		w("| %s | %d | %.1f | %.2f | %d | %d | %d | %d | %d | %d | %d | %d | %d | %.4f | %.2f |\n", p.What, p.Transfers, float64(p.Bytes)/1e6, p.Seconds,
			p.Mallocs, p.WriteCalls, p.EpCalls, p.EpEvents, p.Loop, p.Copies, p.Do, p.Runtime, p.Other, p.perEvent(), float64(p.Do)/float64(p.Transfers))
		worst = max(worst, p.perEvent())
	}
	w("\nAllocation sites per phase (objects; the three innermost non-runtime frames):\n\n")
	for _, p := range r.Phases {
		w("- %s: %s\n", p.What, strings.Join(p.TopSites, "; "))
	}
	w("\n- Steady state: at most %.4f allocations per readiness event in the event loop beyond the write callback's copies (goal 0): %s.\n\n", worst, benchkit.Mark(worst == 0))
	return nil
}
