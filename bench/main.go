// Command bench is curlsock's end-to-end benchmark: fresh-connection GETs
// (CURLOPT_FORBID_REUSE=1) against a local nginx (or a Go server without
// nginx), with libcurl's socket callbacks absent, written in C, written in Go
// through curlsock, behind curlsock's guard, through go-curl, and through
// pycurl with and without Python callbacks; plus a 256-transfer curlsock multi
// with and without Go callbacks. Variants are interleaved round by round, and
// the medians go into one markdown table with the project's goals:
//
//	go run ./bench                     # or: make bench
//	go run ./bench -rounds 3 -n 500    # quicker
//	go run ./bench -variants c -rounds 3 -n 20000 -cpuprofile c.pprof
//
// It is a program, not a test: go test ./... never runs it.
package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/internal/benchkit"
)

//go:embed pycurl_bench.py
var pycurlScript []byte

type variant struct {
	key, what string
	multi     bool
	python    bool
	start     func() (runner, error)
	runner    runner
	samples   []sample
}

func main() {
	var (
		rounds     = flag.Int("rounds", envInt("BENCH_ROUNDS", 41), "rounds; each runs every variant once, in a rotated order (env BENCH_ROUNDS)")
		n          = flag.Int("n", envInt("BENCH_N", 750), "sequential transfers per variant per round (env BENCH_N)")
		warmup     = flag.Int("warmup", 200, "untimed transfers per variant before the first round")
		conc       = flag.Int("multi", 256, "concurrent transfers in the multi variants; each round runs ceil(n/multi) batches")
		only       = flag.String("variants", "a,b,bg,c,d,e,f,g,m,mc", "comma-separated variants to run (diagnostics: c-open, c-sockopt, c-close: one curlsock Go callback each; bg+fstat, bg+book, bg+all: (bg) plus copies of curlsock's per-transfer work; mb, mbg: the multi with (b)'s or (bg)'s callbacks)")
		serverKind = flag.String("server", "auto", "auto (nginx, else Go), nginx or go")
		size       = flag.Int("size", 1024, "size of the static file, in bytes")
		python     = flag.String("python", "", "Python with pycurl (default: /usr/bin/python3, then python3 in PATH)")
		out        = flag.String("out", benchkit.DefaultOut("results.md"), "also write the table to this file (\"\" for none)")
		cpuprofile = flag.String("cpuprofile", "", "write a CPU profile of the timed rounds to this file")
		profileHz  = flag.Int("profile-hz", 500, "CPU profile sampling rate (Go's default is 100)")
		memprofile = flag.String("memprofile", "", "write an allocation profile (every allocation sampled) of the timed rounds to this file")
		cpu        = flag.Int("cpu", -2, "run the server, the pycurl processes and the thread that drives libcurl on this CPU (-1: wherever the scheduler puts them; default: the last CPU this process may use)")
		micro      = flag.String("micro", "", "go test -bench Dispatch output to report as well (make bench makes it)")
		serve      = flag.Int("internal-serve", -1, "internal: run as the Go fallback server for a body of this size")
	)
	flag.Parse()
	if *serve >= 0 {
		serveGo(*serve, *cpu)
		return
	}
	if *rounds < 1 || *n < 1 || *conc < 1 || *size < 1 {
		fatalf("-rounds, -n, -multi and -size must be positive")
	}
	var microTable string
	if *micro != "" {
		rows, err := parseMicro(*micro)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		microTable = microReport(rows, libcurlVersion())
	}
	if err := run(*rounds, *n, *warmup, *conc, *only, *serverKind, *size, *cpu, *python, *out, *cpuprofile, *profileHz, *memprofile, microTable); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func run(rounds, n, warmup, conc int, only, serverKind string, size, cpu int, python, out, cpuprofile string, profileHz int, memprofile, microTable string) error {
	want := map[string]bool{}
	for _, k := range strings.Split(only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}

	var err error
	if cpu == -2 {
		cpu, err = benchkit.LastCPU()
	} else if cpu >= 0 {
		err = benchkit.CheckCPU(cpu)
	}
	if err != nil {
		return err
	}
	pinCPU = cpu
	srv, err := startServer(serverKind, size, cpu)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	defer benchkit.RunCleanups()
	benchkit.AtExit(srv.stop)

	if cpu >= 0 {
		// Keep GOMAXPROCS as it is (the machine's CPUs, or $GOMAXPROCS),
		// whatever the runtime makes of the pinned threads.
		runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	}
	benchkit.OnSignal(func(s os.Signal) {
		benchkit.RunCleanups()
		fatalf("stopped by %v", s)
	})
	fmt.Fprintf(os.Stderr, "bench: %s serving %d bytes at %s\n", srv.version, size, srv.url)

	py := ""
	var script string
	if want["f"] || want["g"] {
		if py = findPython(python); py == "" {
			fmt.Fprintln(os.Stderr, "bench: no Python with pycurl (apt-get install python3-pycurl): skipping (f) and (g)")
		} else {
			dir, err := os.MkdirTemp("", "curlsock-bench-py-")
			if err != nil {
				return err
			}
			benchkit.AtExit(func() { os.RemoveAll(dir) })
			script = filepath.Join(dir, "pycurl_bench.py")
			if err := os.WriteFile(script, pycurlScript, 0o644); err != nil {
				return err
			}
		}
	}

	url := srv.url
	all := []*variant{
		{key: "a", what: "curlsock, no callbacks", start: func() (runner, error) { return newEasyRunner(url, size, nil) }},
		{key: "b", what: "C callbacks (socket / return 0 / close)", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error { return setCCallbacks(e.CURL.GetHandle()) })
		}},
		{key: "bg", what: "minimal Go callbacks: C trampolines into exported Go funcs, no curlsock", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error { return setMinGoCallbacks(e.CURL.GetHandle(), 0) })
		}},
		{key: "c", what: "curlsock Go callbacks (OpenSocket / SOCKOPT_OK / unix.Close)", start: func() (runner, error) {
			return newEasyRunner(url, size, setGoCallbacks)
		}},
		{key: "d", what: "curlsock Sockets{Guard} (127.0.0.1/32, any port) + (c)'s close", start: func() (runner, error) {
			return newEasyRunner(url, size, setGuard)
		}},
		{key: "e", what: "go-curl (andelf/go-curl), no callbacks", start: func() (runner, error) { return newGoCurlRunner(url, size) }},
		{key: "f", what: "pycurl, no callbacks", python: true, start: func() (runner, error) {
			return newPyRunner(py, script, url, "plain", size, warmup)
		}},
		{key: "g", what: "pycurl, Python open/sockopt/close callbacks", python: true, start: func() (runner, error) {
			return newPyRunner(py, script, url, "callbacks", size, warmup)
		}},
		// Diagnostics, not run by default: one Go callback at a time. curlsock
		// installs its open-socket trampoline whenever any socket callback
		// is set, so every one of these enters Go at least twice.
		{key: "c-open", what: "curlsock Go open callback only", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error { return e.Setopt(curl.OPT_OPENSOCKETFUNCTION, goOpen) })
		}},
		{key: "c-sockopt", what: "curlsock Go sockopt callback only", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error { return e.Setopt(curl.OPT_SOCKOPTFUNCTION, goSockopt) })
		}},
		{key: "c-close", what: "curlsock Go close callback only", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error { return e.Setopt(curl.OPT_CLOSESOCKETFUNCTION, goClose) })
		}},
		{key: "bg+fstat", what: "(bg) + an fstat of each new socket", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error { return setMinGoCallbacks(e.CURL.GetHandle(), modeFstat) })
		}},
		{key: "bg+book", what: "(bg) + curlsock-like bookkeeping (sync.Map ids, locked fd map, pool, defer/recover)", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error { return setMinGoCallbacks(e.CURL.GetHandle(), modeBook) })
		}},
		{key: "bg+all", what: "(bg) + fstat + bookkeeping", start: func() (runner, error) {
			return newEasyRunner(url, size, func(e *curl.CURL) error {
				return setMinGoCallbacks(e.CURL.GetHandle(), modeFstat|modeBook)
			})
		}},
		{key: "m", what: fmt.Sprintf("curlsock multi, %d concurrent, no callbacks", conc), multi: true, start: func() (runner, error) {
			return newMultiRunner(url, size, conc, nil)
		}},
		{key: "mc", what: fmt.Sprintf("curlsock multi, %d concurrent, (c)'s callbacks", conc), multi: true, start: func() (runner, error) {
			return newMultiRunner(url, size, conc, setGoCallbacks)
		}},
		// Diagnostics for the multi: C callbacks, and (bg)'s minimal Go ones.
		{key: "mb", what: fmt.Sprintf("curlsock multi, %d concurrent, (b)'s C callbacks", conc), multi: true, start: func() (runner, error) {
			return newMultiRunner(url, size, conc, func(e *curl.CURL) error { return setCCallbacks(e.CURL.GetHandle()) })
		}},
		{key: "mbg", what: fmt.Sprintf("curlsock multi, %d concurrent, (bg)'s minimal Go callbacks", conc), multi: true, start: func() (runner, error) {
			return newMultiRunner(url, size, conc, func(e *curl.CURL) error { return setMinGoCallbacks(e.CURL.GetHandle(), 0) })
		}},
	}
	for k := range want {
		if !slices.ContainsFunc(all, func(v *variant) bool { return v.key == k }) {
			return fmt.Errorf("unknown variant %q (see -h)", k)
		}
	}
	var vs []*variant
	for _, v := range all {
		if !want[v.key] || v.python && py == "" {
			continue
		}
		r, err := v.start()
		if err != nil {
			return fmt.Errorf("(%s) %s: %w", v.key, v.what, err)
		}
		v.runner = r
		if v.python {
			benchkit.AtExit(r.close) // also on a signal: stop it before the server
		} else {
			defer r.close()
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return errors.New("no variant to run")
	}

	// Warm-up: connections, page cache, libcurl's and Go's lazy set-up.
	for _, v := range vs {
		if v.python {
			continue // warmed up at its start
		}
		if _, err := v.runner.measure(max(warmup, 1)); err != nil {
			return fmt.Errorf("warm-up (%s): %w", v.key, err)
		}
	}

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		// Set before StartCPUProfile, which then keeps it (and says on
		// stderr that it could not set its own 100 Hz).
		runtime.SetCPUProfileRate(profileHz)
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if memprofile != "" {
		runtime.MemProfileRate = 1
		defer func() {
			if err := writeHeapProfile(memprofile); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			}
		}()
	}

	loadBefore := benchkit.Loadavg(1)
	start := time.Now()
	for r := 0; r < rounds; r++ {
		// Rotate the order so that no variant always follows the same one.
		order := append(slices.Clone(vs[r%len(vs):]), vs[:r%len(vs)]...)
		var line []string
		for _, v := range order {
			s, err := v.runner.measure(n)
			if err != nil {
				return fmt.Errorf("round %d (%s): %w", r+1, v.key, err)
			}
			v.samples = append(v.samples, s)
			line = append(line, fmt.Sprintf("%s=%.0f", v.key, s.tps()))
		}
		fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s transfers/s\n", r+1, rounds, strings.Join(line, " "))
	}
	elapsed := time.Since(start)
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}

	table := microTable + report(vs, reportInfo{rounds: rounds, n: n, conc: conc, size: size, srv: srv, python: py, elapsed: elapsed,
		loadBefore: loadBefore, loadAfter: benchkit.Loadavg(1), cpu: pinCPU})
	fmt.Print(table)
	if out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: table written to %s\n", out)
	}
	return nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	runtime.GC() // the profile shows allocations up to the last GC
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

type reportInfo struct {
	rounds, n, conc, size int
	srv                   *server
	loadBefore, loadAfter string
	cpu                   int
	python                string
	elapsed               time.Duration
}

func (v *variant) col(f func(sample) float64) []float64 {
	var xs []float64
	for _, s := range v.samples {
		xs = append(xs, f(s))
	}
	return xs
}

func (v *variant) tps() float64 { return benchkit.Median(v.col(sample.tps)) }

// cpuUs is the median client CPU time per transfer, in µs.
func (v *variant) cpuUs() float64 {
	return benchkit.Median(v.col(func(s sample) float64 { return s.cpuSeconds / float64(s.transfers) * 1e6 }))
}

// thrUs is the median CPU time per transfer of the thread that drove
// libcurl, in µs.
func (v *variant) thrUs() float64 {
	return benchkit.Median(v.col(func(s sample) float64 { return s.thrSeconds / float64(s.transfers) * 1e6 }))
}

// pairedRatio returns the median and range of the per-round ratios x/y of
// transfers/s: rounds pair the two variants in time, so machine noise that
// hits a whole round cancels.
func pairedRatio(x, y *variant) (med, lo, hi float64) {
	var rs []float64
	for i := range min(len(x.samples), len(y.samples)) {
		rs = append(rs, x.samples[i].tps()/y.samples[i].tps())
	}
	return benchkit.Median(rs), slices.Min(rs), slices.Max(rs)
}

// pairedOverhead is the median over rounds of 1/x − 1/y, in µs per transfer.
func pairedOverhead(x, y *variant) float64 {
	var ds []float64
	for i := range min(len(x.samples), len(y.samples)) {
		ds = append(ds, 1e6/x.samples[i].tps()-1e6/y.samples[i].tps())
	}
	return benchkit.Median(ds)
}

// fraction renders x/y as "1/N" (or "≤ 0" when x is not positive).
func fraction(x, y float64) string {
	switch {
	case x <= 0:
		return "≤ 0, i.e. below the noise"
	case y <= 0:
		return "n/a"
	}
	return fmt.Sprintf("1/%.1f", y/x)
}

// judged prints v with prec decimals, or more when rounding to prec would put
// it on the other side of its goal (0.96996 as "0.970" next to a miss).
func judged(v float64, prec int, met func(float64) bool) string {
	for p := prec; p < prec+4; p++ {
		s := strconv.FormatFloat(v, 'f', p, 64)
		if x, err := strconv.ParseFloat(s, 64); err == nil && met(x) == met(v) {
			return s
		}
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func report(vs []*variant, ri reportInfo) string {
	byKey := map[string]*variant{}
	for _, v := range vs {
		byKey[v.key] = v
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	pyVersion := ""
	for _, v := range vs {
		if pr, ok := v.runner.(*pyRunner); ok && pr.version != "" {
			pyVersion = pr.version
		}
	}
	w("## curlsock end-to-end benchmark\n\n")
	w("%s; libcurl %s (Go variants); %s; %d rounds × %d sequential fresh-connection GETs (FORBID_REUSE) of a %d-byte file per variant",
		benchkit.Timestamp(), libcurlVersion(), ri.srv.version, ri.rounds, ri.n, ri.size)
	if byKey["m"] != nil || byKey["mc"] != nil {
		w("; multi: %d batches of %d concurrent per round", (ri.n+ri.conc-1)/ri.conc, ri.conc)
	}
	// The commit measured, "+changes" when the work tree's Go or C files differ.
	rev := benchkit.Revision("--untracked-files=no", "--", "*.go", "*.c", "*.h")
	w(".\ncurlsock %s; %s, %d CPUs (%s), Linux %s, %s", rev, benchkit.CPUModel(), runtime.NumCPU(), gomaxprocs(), benchkit.Kernel(), runtime.Version())
	if pyVersion != "" {
		w(", %s (%s)", pyVersion, ri.python)
	}
	if ri.cpu >= 0 {
		w(". The server, the pycurl processes and the thread calling libcurl share CPU %d (-cpu); the Go runtime's other threads are not pinned", ri.cpu)
	} else {
		w(". No CPU pinning (-cpu -1)")
	}
	w(". Wall time of the rounds: %.1f s; load average before/after: %s / %s (other work on the machine shows up as noise).\n\n",
		ri.elapsed.Seconds(), ri.loadBefore, ri.loadAfter)

	base := byKey["b"]
	w("| variant | what | transfers/s (median) | µs/transfer | vs (b) | min–max transfers/s | client CPU µs/transfer | libcurl thread CPU µs/transfer | Go allocs/transfer | Go B/transfer |\n")
	w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, v := range vs {
		tps := v.tps()
		all := v.col(sample.tps)
		ratio := "—"
		if base != nil {
			ratio = fmt.Sprintf("%.3f", tps/base.tps())
		}
		allocs, bytes := "—", "—"
		if len(v.samples) > 0 && v.samples[0].goHeap {
			allocs = fmt.Sprintf("%.1f", benchkit.Median(v.col(func(s sample) float64 { return float64(s.mallocs) / float64(s.transfers) })))
			bytes = fmt.Sprintf("%.0f", benchkit.Median(v.col(func(s sample) float64 { return float64(s.allocBytes) / float64(s.transfers) })))
		}
		w("| (%s) | %s | %.0f | %.1f | %s | %.0f–%.0f | %.1f | %.1f | %s | %s |\n",
			v.key, v.what, tps, 1e6/tps, ratio, slices.Min(all), slices.Max(all), v.cpuUs(), v.thrUs(), allocs, bytes)
	}

	w("\n### Goals\n\n")
	a, c, f, g := byKey["a"], byKey["c"], byKey["f"], byKey["g"]
	if c != nil && base != nil {
		r := c.tps() / base.tps()
		pm, lo, hi := pairedRatio(c, base)
		met := func(x float64) bool { return x >= 0.97 }
		w("- (c)/(b) transfers/s = %s (goal ≥ 0.97): %s. Per-round ratios: median %.3f, range %.3f–%.3f.\n", judged(r, 3, met), benchkit.Mark(met(r)), pm, lo, hi)
	} else {
		w("- (c)/(b): not measured (run variants b and c).\n")
	}
	if a != nil && c != nil {
		oc := 1e6/c.tps() - 1e6/a.tps()
		pc := pairedOverhead(c, a)
		thrC := c.thrUs() - a.thrUs()
		if f != nil && g != nil {
			og := 1e6/g.tps() - 1e6/f.tps()
			pg := pairedOverhead(g, f)
			thrG := g.thrUs() - f.thrUs()
			w("- callback overhead per transfer: curlsock 1/c − 1/a = %.2f µs, pycurl 1/g − 1/f = %.2f µs; "+
				"goal curlsock ≤ 1/20 of pycurl's = %.2f µs: %s (curlsock's is %s of pycurl's). "+
				"Medians of the per-round differences: %.2f µs and %.2f µs. "+
				"By CPU time of the thread driving libcurl, less noisy: curlsock %.2f µs, pycurl %.2f µs (%s).\n",
				oc, og, og/20, benchkit.Mark(oc <= og/20), fraction(oc, og), pc, pg, thrC, thrG, fraction(thrC, thrG))
		} else {
			w("- callback overhead per transfer: curlsock 1/c − 1/a = %.2f µs (per-round median %.2f µs; libcurl thread CPU %.2f µs); "+
				"pycurl not measured (no python3-pycurl): goal not evaluated.\n", oc, pc, thrC)
		}
	}
	if bg := byKey["bg"]; bg != nil && a != nil && base != nil {
		w("- for reference, the floor of any Go callback (bg: C trampolines into Go functions that only call socket/close, no curlsock): "+
			"(bg)/(b) = %.3f; 1/bg − 1/a = %.2f µs; libcurl thread CPU (bg) − (b) = %.2f µs",
			bg.tps()/base.tps(), 1e6/bg.tps()-1e6/a.tps(), bg.thrUs()-base.thrUs())
		if c != nil {
			w("; curlsock on top of it, (c) − (bg): %.2f µs wall, %.2f µs thread CPU", 1e6/c.tps()-1e6/bg.tps(), c.thrUs()-bg.thrUs())
		}
		w(".\n")
	}
	if m, mc := byKey["m"], byKey["mc"]; m != nil && mc != nil {
		r := mc.tps() / m.tps()
		pm, lo, hi := pairedRatio(mc, m)
		met := func(x float64) bool { return x >= 0.95 }
		w("- multi with callbacks / without = %s (goal ≥ 0.95): %s. Per-round ratios: median %.3f, range %.3f–%.3f.\n", judged(r, 3, met), benchkit.Mark(met(r)), pm, lo, hi)
	}
	w("\nµs/transfer is 1e6 / median transfers/s (wall clock; one transfer at a time, except in the multi rows). " +
		"Client CPU is the client process's user+system time per transfer (the Go benchmark's, or pycurl's Python's), server excluded; " +
		"libcurl thread CPU counts only the thread that called libcurl (where every callback runs), without the Go runtime's other threads. " +
		"Go allocs are runtime.MemStats deltas over the timed transfers. Medians over rounds.\n")
	return b.String()
}

func libcurlVersion() string { return benchkit.LibcurlVersion(curl.Version()) }

func gomaxprocs() string { return fmt.Sprintf("GOMAXPROCS %d", runtime.GOMAXPROCS(0)) }
