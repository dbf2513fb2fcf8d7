package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/internal/benchkit"
)

// Goal 2: conc transfers at once against nginx, for n transfers per round,
// by the engine, the C driver and net/http.

type tpSample struct {
	transfers   int
	seconds     float64
	cpu         float64 // process user+sys
	mallocs     uint64
	writeCalls  uint64 // Go write callback calls (the engine with a Go callback)
	connects    int    // new connections (CURLINFO_NUM_CONNECTS; -1: not known)
	epCalls     uint64 // epoll_wait calls from C that returned events
	epEvents    uint64
	peakThreads int
}

func (s tpSample) tps() float64   { return float64(s.transfers) / s.seconds }
func (s tpSample) cpuUs() float64 { return s.cpu / float64(s.transfers) * 1e6 }

type tpRunner interface {
	run(n int) (tpSample, error)
	close()
}

// measure wraps a run of n transfers with the process's counters.
func measure(n int, body func() (writeCalls uint64, connects int, err error)) (tpSample, error) {
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0, e0 := epollCounts()
	s := startSampler(10*time.Millisecond, false)
	cpu0 := benchkit.ProcessCPU()
	t0 := time.Now()
	wc, conns, err := body()
	el := time.Since(t0)
	cpu1 := benchkit.ProcessCPU()
	p := s.finish()
	c1, e1 := epollCounts()
	runtime.ReadMemStats(&m1)
	if err != nil {
		return tpSample{}, err
	}
	return tpSample{transfers: n, seconds: el.Seconds(), cpu: cpu1 - cpu0, mallocs: m1.Mallocs - m0.Mallocs,
		writeCalls: wc, connects: conns, epCalls: c1 - c0, epEvents: e1 - e0, peakThreads: p.threads}, nil
}

// engineRunner: conc goroutines, each with its own handle, calling Do in a
// loop until n transfers were started.
type engineRunner struct {
	eng      *curl.Engine
	hs       []*curl.CURL
	counter  cCounter
	goWrite  bool
	calls    atomic.Uint64
	bytes    atomic.Uint64
	connects atomic.Int64
	size     int
}

func newEngineRunner(url string, conc, size int, forbidReuse, goWrite bool) (*engineRunner, error) {
	r := &engineRunner{eng: curl.NewEngine(), counter: newCCounter(), goWrite: goWrite, size: size}
	write := func(b []byte, _ any) bool {
		r.calls.Add(1)
		r.bytes.Add(uint64(len(b)))
		return true
	}
	for range conc {
		e := curl.EasyInit()
		if e == nil {
			r.close()
			return nil, fmt.Errorf("EasyInit failed")
		}
		r.hs = append(r.hs, e)
		err := setupHandle(e, url, forbidReuse)
		if err == nil {
			if goWrite {
				err = e.Setopt(curl.OPT_WRITEFUNCTION, write)
			} else {
				err = r.counter.set(e.CURL.GetHandle())
			}
		}
		if err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

func (r *engineRunner) bodyBytes() uint64 {
	if r.goWrite {
		return r.bytes.Load()
	}
	return r.counter.get()
}

func (r *engineRunner) run(n int) (tpSample, error) {
	r.counter.reset()
	r.bytes.Store(0)
	r.calls.Store(0)
	r.connects.Store(0)
	return measure(n, func() (uint64, int, error) {
		var left atomic.Int64
		left.Store(int64(n))
		var wg sync.WaitGroup
		errs := make(chan error, len(r.hs))
		ctx := context.Background()
		for _, e := range r.hs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					err := r.eng.Do(ctx, e)
					if err == nil {
						err = checkStatus(e)
					}
					if v, _ := e.Getinfo(curl.INFO_NUM_CONNECTS); v != nil {
						c, _ := v.(int)
						r.connects.Add(int64(c))
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return 0, 0, fmt.Errorf("engine: %w", err)
		}
		if got, want := r.bodyBytes(), uint64(n)*uint64(r.size); got != want {
			return 0, 0, fmt.Errorf("engine: %d body bytes, want %d", got, want)
		}
		return r.calls.Load(), int(r.connects.Load()), nil
	})
}

func (r *engineRunner) close() {
	for _, e := range r.hs {
		e.Cleanup()
	}
	r.eng.Close()
	r.counter.free()
}

// cRunner: the C driver, conc handles re-added as they finish.
type cRunner struct {
	d    *cDriver
	size int
}

func newCRunner(url string, conc, size int, forbidReuse, kickEach bool) (*cRunner, error) {
	d, err := newCDriver([]string{url}, conc, forbidReuse, kickEach)
	if err != nil {
		return nil, err
	}
	return &cRunner{d: d, size: size}, nil
}

func (r *cRunner) run(n int) (tpSample, error) {
	r.d.resetBytes()
	return measure(n, func() (uint64, int, error) {
		if _, _, err := r.d.run(n, 30*time.Second); err != nil {
			return 0, 0, err
		}
		if got, want := r.d.bodyBytes(), uint64(n)*uint64(r.size); got != want {
			return 0, 0, fmt.Errorf("the C driver: %d body bytes, want %d", got, want)
		}
		return 0, r.d.connects, nil
	})
}

func (r *cRunner) close() { r.d.free() }

// httpRunner: Go's net/http client, conc goroutines looping.
type httpRunner struct {
	client *http.Client
	tr     *http.Transport
	url    string
	conc   int
	size   int
}

func newHTTPRunner(url string, conc, size int, fresh bool) *httpRunner {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: fresh, DisableCompression: true,
		MaxIdleConns: conc, MaxIdleConnsPerHost: conc}
	return &httpRunner{client: &http.Client{Transport: tr}, tr: tr, url: url, conc: conc, size: size}
}

func (r *httpRunner) run(n int) (tpSample, error) {
	return measure(n, func() (uint64, int, error) {
		var left atomic.Int64
		left.Store(int64(n))
		var total atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, r.conc)
		for range r.conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					resp, err := r.client.Get(r.url)
					if err != nil {
						errs <- err
						return
					}
					b, err := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("HTTP status %d", resp.StatusCode)
					}
					if err != nil {
						errs <- err
						return
					}
					total.Add(b)
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return 0, 0, fmt.Errorf("net/http: %w", err)
		}
		if got, want := total.Load(), int64(n)*int64(r.size); got != want {
			return 0, 0, fmt.Errorf("net/http: %d body bytes, want %d", got, want)
		}
		return 0, -1, nil
	})
}

func (r *httpRunner) close() { r.tr.CloseIdleConnections() }
