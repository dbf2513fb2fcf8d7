// Command transport benchmarks curlsock's curl.Transport, an
// http.RoundTripper on the package's Engine, against net/http's own
// http.Transport, both under an http.Client, against a local nginx (another
// process):
//
//  1. small keep-alive GETs, 1 and 64 at once: requests/s and the process's
//     CPU per request;
//  2. the same with fresh connections (DisableKeepAlives on both);
//  3. a 1 GiB download read with io.Copy(io.Discard, body), and a 64 MiB one
//     read by a slow reader (64 KiB, then 1 ms of sleep): throughput, and
//     the process's memory growth (VmHWM over the RSS before, the Go heap's
//     peak over the heap before).
//
// The variants run interleaved, round by round, in one process; the report
// gives medians over rounds and the ratio curl.Transport / net/http.
//
//	go run ./bench/transport                 # or: make bench-transport
//	go run ./bench/transport -quick          # under a minute
//	go run ./bench/transport -variants curl -cases ka64 -cpuprofile curl.pprof -out ""
//
// It is a program, not a test: go test ./... never runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/internal/benchkit"
)

type config struct {
	rounds, dlRounds    int
	dur, warm           time.Duration
	size                int
	bigSize, slowSize   int64
	slowChunk           int
	slowGap             time.Duration
	cpu                 int
	variants, cases     []string
	out, cpuprofile     string
	memprofile          string
	hangAfter           time.Duration
	concSmall, concHigh int
	rev                 string // the commit measured, read when the run starts
}

// The cases, in the order they run and are reported.
var allCases = []string{"ka1", "ka64", "fresh1", "fresh64", "download", "slow"}

var allVariants = []string{"curl", "nethttp"}

func main() {
	var (
		quick      = flag.Bool("quick", false, "a quick run (under a minute): fewer and shorter rounds (overrides the defaults of -rounds, -dl-rounds, -dur)")
		rounds     = flag.Int("rounds", 9, "rounds of the small-GET cases; each runs every variant once, in a rotated order")
		dlRounds   = flag.Int("dl-rounds", 5, "rounds of the download cases")
		dur        = flag.Duration("dur", time.Second, "how long each variant sends small GETs per round")
		warm       = flag.Duration("warm", 300*time.Millisecond, "unmeasured small GETs per variant before a case's rounds")
		size       = flag.Int("size", 1024, "bytes of nginx's small file")
		bigSize    = flag.Int64("big", 1<<30, "bytes of the download read with io.Copy")
		slowSize   = flag.Int64("slow", 64<<20, "bytes of the download read by the slow reader")
		slowChunk  = flag.Int("slow-chunk", 64<<10, "the slow reader reads this many bytes at a time (io.ReadFull) ...")
		slowGap    = flag.Duration("slow-gap", time.Millisecond, "... then sleeps this long")
		conc       = flag.Int("conc", 64, "requests at once in the ka64 and fresh64 cases")
		cpu        = flag.Int("cpu", -2, "pin nginx's worker to this CPU (-1: no pinning; default: the last CPU)")
		variants   = flag.String("variants", strings.Join(allVariants, ","), "variants to run: curl (curl.Transport), nethttp (http.Transport)")
		cases      = flag.String("cases", strings.Join(allCases, ","), "cases to run: ka1, ka64 (keep-alive, 1 and -conc at once), fresh1, fresh64 (DisableKeepAlives), download (-big bytes, io.Copy), slow (-slow bytes, slow reader)")
		out        = flag.String("out", defaultOut(), "also write the report here (\"\": don't)")
		cpuprofile = flag.String("cpuprofile", "", "CPU profile of all the measured runs to this file (with -variants curl: the Transport's alone)")
		memprofile = flag.String("memprofile", "", "heap profile (allocations of the whole run: go tool pprof -sample_index=alloc_space) to this file")
		hangAfter  = flag.Duration("hang", 60*time.Second, "a run still going this long after it should have ended is a hang: goroutines dumped, program stopped")
	)
	flag.Parse()
	cfg := config{rounds: *rounds, dlRounds: *dlRounds, dur: *dur, warm: *warm, size: *size, bigSize: *bigSize, slowSize: *slowSize,
		slowChunk: *slowChunk, slowGap: *slowGap, cpu: *cpu, out: *out, cpuprofile: *cpuprofile, memprofile: *memprofile, hangAfter: *hangAfter,
		concSmall: 1, concHigh: *conc}
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["rounds"] {
			cfg.rounds = 3
		}
		if !set["dl-rounds"] {
			cfg.dlRounds = 2
		}
		if !set["dur"] {
			cfg.dur = 500 * time.Millisecond
		}
	}
	var err error
	if cfg.variants, err = list(*variants, allVariants); err != nil {
		fatalf("-variants: %v", err)
	}
	if cfg.cases, err = list(*cases, allCases); err != nil {
		fatalf("-cases: %v", err)
	}
	if cfg.rounds < 1 || cfg.dlRounds < 1 || cfg.concHigh < 1 || cfg.slowChunk < 1 {
		fatalf("-rounds, -dl-rounds, -conc and -slow-chunk must be at least 1")
	}
	if err := run(cfg); err != nil {
		fatalf("%v", err)
	}
}

// list parses a comma-separated subset of known, kept in known's order.
func list(s string, known []string) ([]string, error) {
	want := map[string]bool{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v == "" {
			continue
		}
		if !slices.Contains(known, v) {
			return nil, fmt.Errorf("unknown %q (known: %s)", v, strings.Join(known, ", "))
		}
		want[v] = true
	}
	var l []string
	for _, k := range known {
		if want[k] {
			l = append(l, k)
		}
	}
	if len(l) == 0 {
		return nil, errors.New("none given")
	}
	return l, nil
}

func fatalf(format string, args ...any) {
	benchkit.RunCleanups()
	fmt.Fprintf(os.Stderr, "bench/transport: "+format+"\n", args...)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/transport: "+format+"\n", args...)
}

func libcurlVersion() string { return benchkit.LibcurlVersion(curl.Version()) }

func defaultOut() string {
	name := "transport-results.md"
	if strings.HasPrefix(libcurlVersion(), "8.") {
		name = "transport-results-curl8.md"
	}
	return benchkit.DefaultOut(name)
}

// A variant is one http.Client under test, set up for one case.
type variant struct {
	key    string
	client *http.Client
	close  func()
}

// newVariant returns key's client for conc requests at once; fresh turns
// keep-alive off. Everything else is the transport's default.
func newVariant(key string, conc int, fresh bool) *variant {
	switch key {
	case "curl":
		tr := &curl.Transport{DisableKeepAlives: fresh}
		return &variant{key: key, client: &http.Client{Transport: tr}, close: tr.CloseIdleConnections}
	default:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = fresh
		// net/http keeps 2 idle connections per host by default: with more
		// requests at once it would close and reopen connections.
		if conc > tr.MaxIdleConnsPerHost {
			tr.MaxIdleConnsPerHost = conc
		}
		if tr.MaxIdleConns != 0 && conc > tr.MaxIdleConns {
			tr.MaxIdleConns = conc
		}
		return &variant{key: key, client: &http.Client{Transport: tr}, close: tr.CloseIdleConnections}
	}
}

func variantName(key string) string {
	if key == "curl" {
		return "curl.Transport"
	}
	return "net/http"
}

// sample is one variant's run in one round.
type sample struct {
	requests   int64
	bytes      int64
	seconds    float64
	cpu        float64 // the process's user+sys
	switches   int64   // the process's context switches
	mallocs    uint64
	allocBytes uint64
	conns      int64 // connections nginx accepted during the run; -1 unknown
	rssGrowKB  int64 // VmHWM after − VmRSS before (downloads)
	heapGrow   int64 // the Go heap's peak − the heap before (downloads), bytes
}

type tpCase struct {
	key, name string
	url       string
	conc      int
	fresh     bool
}

type dlCase struct {
	key, name string
	url       string
	warmURL   string // the small file, on the download's server
	size      int64
	slow      bool
}

// result is a case's samples per variant, in round order.
type result struct {
	key, name string
	download  bool
	samples   map[string][]sample
	wall      time.Duration
	load0     string
	load1     string
}

func run(cfg config) (err error) {
	defer benchkit.RunCleanups()
	benchkit.OnSignal(func(s os.Signal) { fatalf("stopped by %v", s) })
	if _, err := benchkit.RaiseNofile(); err != nil {
		return err
	}
	// Read now: the tree may move while the run goes on. "+changes" when
	// the package's own sources (not its tests, not the benchmarks) differ.
	cfg.rev = benchkit.Revision("--", "*.go", "*.c", "*.h", ":(exclude)*_test.go", ":(exclude)bench/**")
	if cfg.cpu == -2 {
		if cfg.cpu, err = benchkit.LastCPU(); err != nil {
			return err
		}
	}
	started := time.Now()
	ngx, err := startNginx(cfg.size, cfg.bigSize, cfg.slowSize, cfg.cpu)
	if err != nil {
		return err
	}
	benchkit.AtExit(ngx.stop)
	if slices.Contains(cfg.cases, "download") || slices.Contains(cfg.cases, "slow") {
		if err := ngx.warmFiles(); err != nil {
			return err
		}
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.memprofile != "" {
		defer func() {
			if err == nil {
				err = writeHeapProfile(cfg.memprofile)
			}
		}()
	}
	var results []*result
	for _, key := range cfg.cases {
		var r *result
		switch key {
		case "ka1", "ka64", "fresh1", "fresh64":
			c := tpCase{key: key, url: ngx.kaURL, conc: cfg.concSmall}
			if strings.HasSuffix(key, "64") {
				c.conc = cfg.concHigh
			}
			if strings.HasPrefix(key, "fresh") {
				c.fresh, c.url = true, ngx.freshURL
				c.name = fmt.Sprintf("fresh connections, %d at once", c.conc)
			} else {
				c.name = fmt.Sprintf("keep-alive, %d at once", c.conc)
			}
			r, err = runTPCase(cfg, ngx, c)
		case "download":
			r, err = runDLCase(cfg, dlCase{key: key, url: ngx.bigURL, warmURL: ngx.kaURL, size: ngx.bigSize,
				name: fmt.Sprintf("%s download, io.Copy(io.Discard)", sizeName(ngx.bigSize))})
		case "slow":
			r, err = runDLCase(cfg, dlCase{key: key, url: ngx.slowURL, warmURL: ngx.kaURL, size: ngx.slowSize, slow: true,
				name: fmt.Sprintf("%s download, slow reader (%s, then %v)", sizeName(ngx.slowSize), sizeName(int64(cfg.slowChunk)), cfg.slowGap)})
		}
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	report := format(cfg, ngx, results, time.Since(started))
	fmt.Print(report)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			return err
		}
		logf("report written to %s", cfg.out)
	}
	return nil
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// runTPCase runs the small GETs of c: a warm-up per variant, then the
// rounds, the variants in a rotated order.
func runTPCase(cfg config, ngx *nginxServer, c tpCase) (*result, error) {
	r := &result{key: c.key, name: c.name, samples: map[string][]sample{}, load0: benchkit.Loadavg(3)}
	var vs []*variant
	for _, key := range cfg.variants {
		vs = append(vs, newVariant(key, c.conc, c.fresh))
	}
	defer func() {
		for _, v := range vs {
			v.close()
		}
	}()
	for _, v := range vs {
		if _, err := smallGets(cfg, ngx, v, c, cfg.warm); err != nil {
			return nil, fmt.Errorf("%s, warm-up, %s: %w", c.name, variantName(v.key), err)
		}
	}
	// net/http may still be dialing connections that it no longer needs
	// (a request that waited for one took an idle one first): let them
	// land before nginx's count of connections is read.
	time.Sleep(200 * time.Millisecond)
	t0 := time.Now()
	for round := range cfg.rounds {
		var line []string
		for i := range vs {
			v := vs[(i+round)%len(vs)]
			s, err := smallGets(cfg, ngx, v, c, cfg.dur)
			if err != nil {
				return nil, fmt.Errorf("%s, round %d, %s: %w", c.name, round+1, variantName(v.key), err)
			}
			r.samples[v.key] = append(r.samples[v.key], s)
			line = append(line, fmt.Sprintf("%s %.0f/s %.1fµs %.3f conns/req", v.key, s.rate(), s.cpuPer()*1e6, s.connsPer()))
		}
		logf("%s, round %d/%d: %s", c.name, round+1, cfg.rounds, strings.Join(line, ", "))
	}
	r.wall, r.load1 = time.Since(t0), benchkit.Loadavg(3)
	return r, nil
}

// smallGets runs GETs of c's small file from c.conc goroutines for d.
func smallGets(cfg config, ngx *nginxServer, v *variant, c tpCase, d time.Duration) (sample, error) {
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	acc0, accErr := ngx.accepts()
	var stop atomic.Bool
	var requests, bytes atomic.Int64
	errs := make(chan error, c.conc)
	var wg sync.WaitGroup
	cpu0, cs0 := benchkit.Usage()
	t0 := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for range c.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				n, err := get(v.client, c.url)
				if err == nil && n != int64(cfg.size) {
					err = fmt.Errorf("body of %d bytes, want %d", n, cfg.size)
				}
				if err != nil {
					errs <- err
					stop.Store(true)
					return
				}
				requests.Add(1)
				bytes.Add(n)
			}
		}()
	}
	if err := waitOrHang(&wg, d+cfg.hangAfter, fmt.Sprintf("%s, %s", c.name, variantName(v.key))); err != nil {
		return sample{}, err
	}
	el := time.Since(t0)
	cpu1, cs1 := benchkit.Usage()
	runtime.ReadMemStats(&ms1)
	close(errs)
	if err := <-errs; err != nil {
		return sample{}, err
	}
	s := sample{requests: requests.Load(), bytes: bytes.Load(), seconds: el.Seconds(), cpu: cpu1 - cpu0, switches: cs1 - cs0,
		mallocs: ms1.Mallocs - ms0.Mallocs, allocBytes: ms1.TotalAlloc - ms0.TotalAlloc, conns: -1}
	if acc1, err := ngx.accepts(); err == nil && accErr == nil {
		s.conns = acc1 - acc0 - 1 // the second status request's own connection
	}
	return s, nil
}

// get runs one GET and reads its body to the end.
func get(c *http.Client, url string) (int64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	return n, err
}

// waitOrHang waits for wg; past limit it dumps every goroutine's stack to
// stderr and stops the program: a hang is a defect to report, not a sample.
func waitOrHang(wg *sync.WaitGroup, limit time.Duration, what string) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(limit):
		logf("HANG: %s has not ended after %v; goroutines:", what, limit)
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		fatalf("hang: %s", what)
		return nil
	}
}

// runDLCase runs c's download once per variant per round, rotated.
func runDLCase(cfg config, c dlCase) (*result, error) {
	r := &result{key: c.key, name: c.name, download: true, samples: map[string][]sample{}, load0: benchkit.Loadavg(3)}
	var vs []*variant
	for _, key := range cfg.variants {
		vs = append(vs, newVariant(key, 1, false))
	}
	defer func() {
		for _, v := range vs {
			v.close()
		}
	}()
	buf := make([]byte, cfg.slowChunk)
	// The warm-up opens each variant's connection to nginx: the downloads
	// reuse it, as a client with requests before them would.
	for _, v := range vs {
		if _, err := get(v.client, c.warmURL); err != nil {
			return nil, fmt.Errorf("%s, warm-up, %s: %w", c.name, variantName(v.key), err)
		}
	}
	t0 := time.Now()
	for round := range cfg.dlRounds {
		var line []string
		for i := range vs {
			v := vs[(i+round)%len(vs)]
			s, err := download(cfg, v, c, buf)
			if err != nil {
				return nil, fmt.Errorf("%s, round %d, %s: %w", c.name, round+1, variantName(v.key), err)
			}
			r.samples[v.key] = append(r.samples[v.key], s)
			line = append(line, fmt.Sprintf("%s %.0f MB/s, RSS +%.2f MiB, heap +%.2f MiB, %.2f CPU s/GiB",
				v.key, s.mbps(), s.rssGrowMiB(), s.heapGrowMiB(), s.cpuPerGiB()))
		}
		logf("%s, round %d/%d: %s", c.name, round+1, cfg.dlRounds, strings.Join(line, "; "))
	}
	r.wall, r.load1 = time.Since(t0), benchkit.Loadavg(3)
	return r, nil
}

// download fetches c.url with v and reads the body, with the process's
// memory before and after: a GC and FreeOSMemory, VmHWM reset to the RSS,
// then the download; the growth is VmHWM after − VmRSS before, and the Go
// heap's peak (sampled every 2 ms) − the heap before.
func download(cfg config, v *variant, c dlCase, buf []byte) (sample, error) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := benchkit.ResetHWM(); err != nil {
		return sample{}, fmt.Errorf("resetting VmHWM: %w", err)
	}
	st0 := benchkit.ReadStatus()
	heap0 := heapObjects()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	hs := startHeapSampler(2 * time.Millisecond)
	cpu0, cs0 := benchkit.Usage()
	t0 := time.Now()
	var n int64
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, err = fetch(v.client, c, buf, cfg.slowGap)
	}()
	// A generous bound: 10 MB/s for a full-speed download, the reader's
	// own pace for a slow one.
	limit := time.Duration(c.size/10e6)*time.Second + cfg.hangAfter
	if c.slow {
		limit += time.Duration(c.size/int64(len(buf))+1) * cfg.slowGap * 2
	}
	select {
	case <-done:
	case <-time.After(limit):
		logf("HANG: %s, %s has not ended after %v; goroutines:", c.name, variantName(v.key), limit)
		pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
		fatalf("hang: %s, %s", c.name, variantName(v.key))
	}
	el := time.Since(t0)
	cpu1, cs1 := benchkit.Usage()
	peak := hs.finish()
	st1 := benchkit.ReadStatus()
	runtime.ReadMemStats(&ms1)
	if err == nil && n != c.size {
		err = fmt.Errorf("body of %d bytes, want %d", n, c.size)
	}
	if err != nil {
		return sample{}, err
	}
	return sample{requests: 1, bytes: n, seconds: el.Seconds(), cpu: cpu1 - cpu0, switches: cs1 - cs0, mallocs: ms1.Mallocs - ms0.Mallocs,
		allocBytes: ms1.TotalAlloc - ms0.TotalAlloc, conns: -1, rssGrowKB: st1.HWMKB - st0.RSSKB, heapGrow: peak - heap0}, nil
}

// fetch GETs c.url and reads the body: with io.Copy(io.Discard, body), or
// slowly, len(buf) bytes (io.ReadFull) then a sleep of gap.
func fetch(client *http.Client, c dlCase, buf []byte, gap time.Duration) (int64, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	if !c.slow {
		n, err := io.Copy(io.Discard, resp.Body)
		if err == nil {
			err = resp.Body.Close()
		}
		return n, err
	}
	var total int64
	for {
		n, err := io.ReadFull(resp.Body, buf)
		total += int64(n)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return total, resp.Body.Close()
		case err != nil:
			return total, err
		}
		time.Sleep(gap)
	}
}

func (s sample) rate() float64        { return float64(s.requests) / s.seconds }
func (s sample) cpuPer() float64      { return s.cpu / float64(s.requests) }
func (s sample) mallocsPer() float64  { return float64(s.mallocs) / float64(s.requests) }
func (s sample) allocKBPer() float64  { return float64(s.allocBytes) / 1024 / float64(s.requests) }
func (s sample) mbps() float64        { return float64(s.bytes) / 1e6 / s.seconds }
func (s sample) cpuPerGiB() float64   { return s.cpu / (float64(s.bytes) / (1 << 30)) }
func (s sample) rssGrowMiB() float64  { return float64(s.rssGrowKB) / 1024 }
func (s sample) heapGrowMiB() float64 { return float64(s.heapGrow) / (1 << 20) }
func (s sample) allocMiB() float64    { return float64(s.allocBytes) / (1 << 20) }
func (s sample) connsPer() float64 {
	if s.conns < 0 {
		return math.NaN()
	}
	return float64(s.conns) / float64(s.requests)
}

// metric is one row of the report.
type metric struct {
	name   string
	f      func(sample) float64
	format string // of one value
	ratio  bool   // whether curl / net/http means something
}

var tpMetrics = []metric{
	{"requests/s", sample.rate, "%.0f", true},
	{"CPU µs/request", func(s sample) float64 { return s.cpuPer() * 1e6 }, "%.1f", true},
	{"context switches/request", func(s sample) float64 { return float64(s.switches) / float64(s.requests) }, "%.2f", true},
	{"Go allocs/request", sample.mallocsPer, "%.1f", true},
	{"Go KiB allocated/request", sample.allocKBPer, "%.2f", true},
	{"new connections/request (nginx)", sample.connsPer, "%.4f", false},
}

var dlMetrics = []metric{
	{"MB/s", sample.mbps, "%.0f", true},
	{"CPU s/GiB", sample.cpuPerGiB, "%.2f", true},
	{"peak RSS growth, MiB (VmHWM − RSS before)", sample.rssGrowMiB, "%.2f", true},
	{"Go heap peak growth, MiB", sample.heapGrowMiB, "%.2f", true},
	{"context switches/MiB", func(s sample) float64 { return float64(s.switches) / (float64(s.bytes) / (1 << 20)) }, "%.2f", true},
	{"Go MiB allocated", sample.allocMiB, "%.2f", true},
	{"Go allocs", func(s sample) float64 { return float64(s.mallocs) }, "%.0f", true},
}

func format(cfg config, ngx *nginxServer, results []*result, wall time.Duration) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## curlsock Transport benchmark\n\n")
	w("%s; libcurl %s; curlsock %s; %s. ", benchkit.Timestamp(), libcurlVersion(), cfg.rev, benchkit.Machine())
	w("Server: %s, one worker", ngx.version)
	if cfg.cpu >= 0 {
		w(" pinned to CPU %d", cfg.cpu)
	}
	w("; the client process is not pinned.\n\n")
	w("Both clients are an `http.Client` with nothing set but its Transport: `curl.Transport{}` (on the package's default engine, "+
		"GOMAXPROCS shards, one origin per shard) and `http.DefaultTransport.Clone()` with `MaxIdleConnsPerHost` raised to the requests at once "+
		"(%d; net/http's default keeps 2 idle per host); for fresh connections `DisableKeepAlives` on both, against an nginx server that closes "+
		"each connection after its response (`keepalive_timeout 0`). Small GETs: a %d-byte file, each variant sending for %v per round, "+
		"%d rounds (%d for the downloads), the variants' order rotated round by round, after %v of unmeasured GETs per variant; every body "+
		"read with io.Copy(io.Discard, body) and its length checked. CPU = the benchmark process's user+sys (getrusage) over the run, divided by "+
		"the requests; context switches likewise (getrusage's voluntary + involuntary: a thread that blocked or was preempted); Go allocs from runtime.MemStats; new connections from nginx's stub_status (accepted connections). "+
		"Downloads: sparse files served by nginx (sendfile, page cache warm), on a connection the variant opened before; before each, a GC, "+
		"debug.FreeOSMemory and VmHWM reset (/proc/self/clear_refs 5); RSS growth = VmHWM after − VmRSS before; Go heap growth = the highest "+
		"/memory/classes/heap/objects:bytes sampled every 2 ms − its value before. Cells: median (min–max) over rounds; the ratio is of the medians.\n\n",
		cfg.concHigh, cfg.size, cfg.dur, cfg.rounds, cfg.dlRounds, cfg.warm)
	w("| case | metric | %s |", strings.Join(mapNames(cfg.variants), " | "))
	two := len(cfg.variants) == 2
	if two {
		w(" curl / net/http |")
	}
	w("\n| --- | --- |%s", strings.Repeat(" ---: |", len(cfg.variants)))
	if two {
		w(" ---: |")
	}
	w("\n")
	for _, r := range results {
		ms := tpMetrics
		if r.download {
			ms = dlMetrics
		}
		for _, m := range ms {
			w("| %s | %s |", r.name, m.name)
			meds := map[string]float64{}
			for _, k := range cfg.variants {
				var xs []float64
				for _, s := range r.samples[k] {
					xs = append(xs, m.f(s))
				}
				meds[k] = benchkit.Median(xs)
				w(" %s (%s–%s) |", num(m.format, meds[k]), num(m.format, slices.Min(xs)), num(m.format, slices.Max(xs)))
			}
			if two {
				c, n := meds["curl"], meds["nethttp"]
				switch q := c / n; {
				case !m.ratio || n <= 0 || math.IsNaN(q):
					w(" — |")
				case q >= 10:
					w(" %.0f |", q)
				default:
					w(" %.2f |", q)
				}
			}
			w("\n")
		}
	}
	w("\nLoad average before/after each case: ")
	var ls []string
	for _, r := range results {
		ls = append(ls, fmt.Sprintf("%s %s / %s (%.0f s)", r.key, r.load0, r.load1, r.wall.Seconds()))
	}
	w("%s. Total wall time: %.0f s.\n", strings.Join(ls, "; "), wall.Seconds())
	return b.String()
}

func mapNames(keys []string) []string {
	var l []string
	for _, k := range keys {
		l = append(l, variantName(k))
	}
	return l
}

// num formats v with f, whole numbers with thousands separators.
func num(f string, v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	s := fmt.Sprintf(f, v)
	if f != "%.0f" || math.Abs(v) < 1000 {
		return s
	}
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
