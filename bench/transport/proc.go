package main

import (
	"runtime/metrics"
	"time"
)

// heapObjects is the Go heap's live and not yet swept objects, in bytes
// (runtime/metrics: no stop of the world, unlike ReadMemStats).
const heapMetric = "/memory/classes/heap/objects:bytes"

func heapObjects() int64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// heapSampler records the highest heapObjects every period until stopped.
type heapSampler struct {
	stop chan struct{}
	done chan int64
}

func startHeapSampler(period time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		s := []metrics.Sample{{Name: heapMetric}}
		t := time.NewTicker(period)
		defer t.Stop()
		var peak int64
		for {
			metrics.Read(s)
			if s[0].Value.Kind() == metrics.KindUint64 {
				peak = max(peak, int64(s[0].Value.Uint64()))
			}
			select {
			case <-h.stop:
				h.done <- peak
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// finish stops the sampler and returns the peak, the value now included.
func (h *heapSampler) finish() int64 {
	close(h.stop)
	return max(<-h.done, heapObjects())
}
