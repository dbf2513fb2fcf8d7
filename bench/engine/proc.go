package main

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// procStatus is what /proc/self/status says about memory and threads.
type procStatus struct {
	threads      int
	rssKB, hwmKB int64
}

func readStatus() procStatus {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return procStatus{}
	}
	return parseStatus(data)
}

func parseStatus(data []byte) procStatus {
	var st procStatus
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var p *int64
		var n int64
		switch string(k) { // no allocation: the compiler compares in place
		case "Threads", "VmRSS", "VmHWM":
			p = &n
		default:
			continue
		}
		v = bytes.TrimLeft(v, " \t")
		for _, c := range v {
			if c < '0' || c > '9' {
				break
			}
			*p = *p*10 + int64(c-'0')
		}
		switch string(k) {
		case "Threads":
			st.threads = int(n)
		case "VmRSS":
			st.rssKB = n
		case "VmHWM":
			st.hwmKB = n
		}
	}
	return st
}

// statusReader reads /proc/self/status into a buffer of its own: sampling
// threads during the throughput rounds allocates nothing.
type statusReader struct {
	f   *os.File
	buf []byte
}

func newStatusReader() *statusReader {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return &statusReader{}
	}
	return &statusReader{f: f, buf: make([]byte, 16384)}
}

func (r *statusReader) read() procStatus {
	if r.f == nil {
		return readStatus()
	}
	n, err := r.f.ReadAt(r.buf, 0)
	if n == 0 && err != nil {
		return procStatus{}
	}
	return parseStatus(r.buf[:n])
}

func (r *statusReader) close() {
	if r.f != nil {
		r.f.Close()
	}
}

// pssKB is the process's proportional set size (/proc/self/smaps_rollup).
func pssKB() int64 {
	data, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Pss:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

// resetHWM resets VmHWM to the current RSS (proc(5), clear_refs "5").
func resetHWM() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// openFDs counts /proc/self/fd (the directory's own fd included, every time).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func cpuSeconds(r unix.Rusage) float64 {
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(r.Utime) + tv(r.Stime)
}

func processCPU() float64 {
	var r unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &r)
	return cpuSeconds(r)
}

// sampler reads /proc/self/status every period, and PSS and the Go
// runtime's memory every 10th time, until stopped: the peaks of a run.
type sampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak peakSample
}

type peakSample struct {
	threads    int
	rssKB      int64
	pssKB      int64
	goSysKB    int64 // at the PSS peak: runtime.MemStats.Sys − HeapReleased
	heapKB     int64 // HeapInuse
	stackKB    int64 // StackInuse
	samples    int
	goroutines int
}

func startSampler(period time.Duration, withMem bool) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sr := newStatusReader()
		defer sr.close()
		t := time.NewTicker(period)
		defer t.Stop()
		for i := 0; ; i++ {
			st := sr.read()
			s.mu.Lock()
			s.peak.samples++
			s.peak.threads = max(s.peak.threads, st.threads)
			s.peak.rssKB = max(s.peak.rssKB, st.rssKB)
			s.peak.goroutines = max(s.peak.goroutines, runtime.NumGoroutine())
			s.mu.Unlock()
			if withMem && i%10 == 0 {
				p := pssKB()
				if p > s.peak.pssKB {
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					s.mu.Lock()
					s.peak.pssKB = p
					s.peak.goSysKB = int64(ms.Sys-ms.HeapReleased) / 1024
					s.peak.heapKB = int64(ms.HeapInuse) / 1024
					s.peak.stackKB = int64(ms.StackInuse) / 1024
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) finish() peakSample {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}
