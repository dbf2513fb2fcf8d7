package main

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/curlsock/curlsock/internal/benchkit"
)

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

// openFDs counts /proc/self/fd (the directory's own fd included, every time).
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
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
		sr := benchkit.NewStatusReader()
		defer sr.Close()
		t := time.NewTicker(period)
		defer t.Stop()
		for i := 0; ; i++ {
			st := sr.Read()
			s.mu.Lock()
			s.peak.samples++
			s.peak.threads = max(s.peak.threads, st.Threads)
			s.peak.rssKB = max(s.peak.rssKB, st.RSSKB)
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
