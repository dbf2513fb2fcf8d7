package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/internal/benchkit"
)

// Goal 1: n transfers at once, each held 1 s by the Go server (another
// process), from a child process per variant so that its memory is the
// variant's alone.

type scaleResult struct {
	Variant        string
	N, OK, Failed  int
	FirstErr       string
	Seconds        float64
	SetupSeconds   float64 // making the handles
	CPUSeconds     float64 // the process's user+sys during the run (the sampler's included)
	GOMAXPROCS     int
	BaseThreads    int
	PeakThreads    int
	PeakGoroutines int
	BaseRSSKB      int64
	HWMKB          int64 // VmHWM after the run (reset after the baseline)
	PeakRSSKB      int64 // the highest sampled VmRSS
	BasePssKB      int64
	PeakPssKB      int64 // the highest sampled PSS
	BaseGoSysKB    int64
	BaseHeapKB     int64
	BaseStackKB    int64
	PeakGoSysKB    int64 // at the PSS peak
	PeakHeapKB     int64
	PeakStackKB    int64
	Samples        int
	HeldMax        int // from the server: requests held at once
}

// perTransferKB is (peak − baseline) / n for VmHWM and for PSS.
func (r scaleResult) rssPer() float64 { return float64(r.HWMKB-r.BaseRSSKB) / float64(r.N) }
func (r scaleResult) pssPer() float64 { return float64(r.PeakPssKB-r.BasePssKB) / float64(r.N) }

// runScaleChild runs one variant in a child process and returns its result.
func runScaleChild(variant string, n int, srv *goServer, timeout, hold time.Duration, barrier bool, heapProfile, cpuProfile string) (scaleResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return scaleResult{}, err
	}
	urls := slices.Clone(srv.holdURLs)
	if barrier {
		for i := range urls {
			urls[i] += "/" + strconv.Itoa(n)
		}
	}
	cmd := exec.Command(exe, "-internal-role", "scale", "-variant", variant, "-n", strconv.Itoa(n),
		"-urls", strings.Join(urls, ","), "-fast", srv.fastURLs[0], "-timeout", timeout.String(), "-hold", hold.String())
	if heapProfile != "" && variant == "engine" {
		cmd.Args = append(cmd.Args, "-heapprofile", heapProfile)
	}
	if cpuProfile != "" {
		cmd.Args = append(cmd.Args, "-cpuprofile", cpuProfile+"-"+variant+".pprof")
	}
	cmd.Stderr = os.Stderr
	srv.serverStats() // reset the server's peak
	out, err := cmd.Output()
	if err != nil {
		return scaleResult{}, fmt.Errorf("scale child (%s): %w", variant, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r scaleResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("scale child (%s): %w: %q", variant, err, out)
	}
	r.HeldMax, _ = srv.serverStats()
	return r, nil
}

func setupHandle(e *curl.CURL, url string, forbidReuse bool) error {
	err := firstError(
		e.Setopt(curl.OPT_URL, url),
		e.Setopt(curl.OPT_NOSIGNAL, 1),
		e.Setopt(curl.OPT_PROXY, ""),
	)
	if err == nil && forbidReuse {
		err = e.Setopt(curl.OPT_FORBID_REUSE, 1)
	}
	return err
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkStatus(e *curl.CURL) error {
	v, err := e.Getinfo(curl.INFO_RESPONSE_CODE)
	if err != nil {
		return err
	}
	if code, _ := v.(int); code != 200 {
		return fmt.Errorf("HTTP status %v", v)
	}
	return nil
}

// scaleChild is the child side: warm up, take the idle baseline, run n
// transfers at once, print the result as JSON.
func scaleChild(variant string, n int, urls []string, fast string, timeout, holdFor time.Duration, heapProfile, cpuProfile string) error {
	if _, err := benchkit.RaiseNofile(); err != nil {
		return err
	}
	if heapProfile != "" {
		runtime.MemProfileRate = 1 // every allocation: exact sizes
	}
	counter := newCCounter()
	var run func() (ok, failed int, firstErr error)
	var setupDone time.Time
	switch variant {
	case "engine", "perform":
		var eng *curl.Engine
		if variant == "engine" {
			eng = curl.NewEngine()
		}
		newHandle := func(url string) (*curl.CURL, error) {
			e := curl.EasyInit()
			if e == nil {
				return nil, fmt.Errorf("EasyInit failed")
			}
			if err := firstError(setupHandle(e, url, false), counter.set(e.CURL.GetHandle())); err != nil {
				e.Cleanup()
				return nil, err
			}
			return e, nil
		}
		// One context for every transfer: a timer per transfer would be
		// the benchmark's memory, not the engine's.
		ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
		defer cancel()
		one := func(e *curl.CURL) error {
			var err error
			if eng != nil {
				err = eng.Do(ctx, e)
			} else {
				err = e.Perform()
			}
			if err == nil {
				err = checkStatus(e)
			}
			return err
		}
		w, err := newHandle(fast)
		if err != nil {
			return err
		}
		if err := one(w); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		w.Cleanup()
		run = func() (int, int, error) {
			// The handles first, as the C driver makes its own before it
			// starts; then a goroutine per transfer.
			hs := make([]*curl.CURL, n)
			for i := range hs {
				e, err := newHandle(urls[i%len(urls)])
				if err != nil {
					return 0, n, err
				}
				hs[i] = e
			}
			setupDone = time.Now()
			var entered atomic.Int64
			profile := func() {
				if heapProfile == "" {
					return
				}
				// Half the hold after the last transfer started: every
				// transfer is in flight (the server holds them all).
				time.AfterFunc(holdFor/2, func() {
					runtime.GC()
					if f, err := os.Create(heapProfile); err == nil {
						pprof.WriteHeapProfile(f)
						f.Close()
					}
				})
			}
			var wg sync.WaitGroup
			var ok, failed atomic.Int64
			var mu sync.Mutex
			var first error
			for _, e := range hs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if entered.Add(1) == int64(n) {
						profile()
					}
					if err := one(e); err != nil {
						if failed.Add(1) == 1 {
							mu.Lock()
							first = err
							mu.Unlock()
						}
						return
					}
					ok.Add(1)
				}()
			}
			wg.Wait()
			for _, e := range hs {
				e.Cleanup()
			}
			return int(ok.Load()), int(failed.Load()), first
		}
	case "cdriver":
		w, err := newCDriver([]string{fast}, 1, false, false)
		if err != nil {
			return err
		}
		if _, _, err := w.run(1, timeout); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		w.free()
		run = func() (int, int, error) {
			d, err := newCDriver(urls, n, false, false)
			if err != nil {
				return 0, n, err
			}
			setupDone = time.Now()
			defer d.free()
			done, failed, err := d.run(n, timeout)
			return done - failed, failed + (n - done), err
		}
	default:
		return fmt.Errorf("unknown scale variant %q", variant)
	}

	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(300 * time.Millisecond)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := benchkit.ReadStatus()
	r := scaleResult{Variant: variant, N: n, GOMAXPROCS: runtime.GOMAXPROCS(0), BaseThreads: base.Threads,
		BaseRSSKB: base.RSSKB, BasePssKB: pssKB(),
		BaseGoSysKB: int64(ms.Sys-ms.HeapReleased) / 1024, BaseHeapKB: int64(ms.HeapInuse) / 1024,
		BaseStackKB: int64(ms.StackInuse) / 1024}
	if err := benchkit.ResetHWM(); err != nil {
		return fmt.Errorf("reset VmHWM: %w", err)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		runtime.SetCPUProfileRate(500)
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	s := startSampler(5*time.Millisecond, true)
	cpu0 := benchkit.ProcessCPU()
	t0 := time.Now()
	ok, failed, first := run()
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	r.Seconds = time.Since(t0).Seconds()
	r.CPUSeconds = benchkit.ProcessCPU() - cpu0
	r.SetupSeconds = setupDone.Sub(t0).Seconds()
	p := s.finish()
	end := benchkit.ReadStatus()
	r.OK, r.Failed = ok, failed
	if first != nil {
		r.FirstErr = first.Error()
	}
	r.HWMKB, r.PeakRSSKB, r.PeakPssKB, r.PeakThreads, r.PeakGoroutines = end.HWMKB, p.rssKB, p.pssKB, p.threads, p.goroutines
	r.PeakGoSysKB, r.PeakHeapKB, r.PeakStackKB, r.Samples = p.goSysKB, p.heapKB, p.stackKB, p.samples
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	return nil
}
