package main

import (
	"os"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// procStatus is what /proc/self/status says about memory.
type procStatus struct {
	rssKB, hwmKB int64
}

func readStatus() procStatus {
	var st procStatus
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return st
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		var p *int64
		switch k {
		case "VmRSS":
			p = &st.rssKB
		case "VmHWM":
			p = &st.hwmKB
		default:
			continue
		}
		if f := strings.Fields(v); len(f) > 0 {
			*p, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return st
}

// resetHWM resets VmHWM to the current RSS (proc(5), clear_refs "5").
func resetHWM() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// usage is the process's CPU (user+sys) and context switches (voluntary
// and not) so far.
func usage() (cpu float64, switches int64) {
	var r unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &r)
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(r.Utime) + tv(r.Stime), r.Nvcsw + r.Nivcsw
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

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

// revision is the commit of the tree, "+changes" when the package's own
// sources (not its tests, not the benchmarks) differ from it.
func revision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "(commit unknown)"
	}
	rev := "commit " + strings.TrimSpace(string(out))
	st, err := exec.Command("git", "status", "--porcelain", "--", "*.go", "*.c", "*.h",
		":(exclude)*_test.go", ":(exclude)bench/**").Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += "+changes"
	}
	return rev
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}
