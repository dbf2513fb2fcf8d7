package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	curl "github.com/curlsock/curlsock"
)

// Goal 4: Go allocations per readiness event in steady state. Sequential
// Do calls with a Go write callback: small keep-alive GETs, long downloads
// at full speed, and one paced download (the server writes a little at a
// time, so that nearly every write is a readiness event of its own). The
// readiness events are counted by this program's epoll_wait (cdriver.c),
// which curlsock's shard calls. Every allocation is recorded
// (MemProfileRate 1) and sorted by its stack into: the event loop (frames
// of the shard's round: what runs per readiness event), of which the write
// callback's copy of each chunk (curlsock hands Go a copy: one allocation
// per call); Do's own per-transfer allocations (the caller's goroutine);
// the runtime's own (stacks of runtime frames only: sudog caches, new Ms);
// anything else.

type allocPhase struct {
	What       string
	Transfers  int
	Bytes      uint64
	Seconds    float64
	Mallocs    uint64 // runtime.MemStats.Mallocs delta
	WriteCalls uint64
	EpCalls    uint64 // shard rounds that found events (epoll_wait calls returning > 0)
	EpEvents   uint64 // readiness events (fds ready, the shard's eventfd and timerfd included)
	Loop       int64  // allocations in the event loop, the write callback's copies excluded
	Copies     int64  // the write callback's copies
	Do         int64  // allocations under Engine.Do outside the event loop
	Runtime    int64
	Other      int64
	TopSites   []string
}

func (p allocPhase) perEvent() float64 { return float64(p.Loop) / float64(max(p.EpEvents, 1)) }

type allocResult struct {
	Phases []allocPhase
}

type allocParams struct {
	StreamURL, KAURL       string
	StreamBytes, PaceBytes int64
	Streams, Small         int
	PaceChunk              int
	PaceGap                time.Duration
}

func runAllocsChild(p allocParams) (allocResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return allocResult{}, err
	}
	arg, _ := json.Marshal(p)
	cmd := exec.Command(exe, "-internal-role", "allocs", "-urls", string(arg))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return allocResult{}, fmt.Errorf("allocs child: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r allocResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("allocs child: %w: %q", err, out)
	}
	return r, nil
}

func allocsChild(arg string) error {
	var ap allocParams
	if err := json.Unmarshal([]byte(arg), &ap); err != nil {
		return err
	}
	// Every allocation recorded, so that each phase's sites are exact
	// (MemStats.Mallocs does not depend on it).
	runtime.MemProfileRate = 1
	eng := curl.NewEngine()
	defer eng.Close()
	var calls, bytes uint64
	write := func(b []byte, _ any) bool {
		calls++ // callbacks run on the shard's goroutine, one at a time
		bytes += uint64(len(b))
		return true
	}
	phase := func(what, url string, n int, goWrite bool) (allocPhase, error) {
		e := curl.EasyInit()
		defer e.Cleanup()
		counter := newCCounter()
		defer counter.free()
		err := setupHandle(e, url, false)
		if err == nil {
			if goWrite {
				err = e.Setopt(curl.OPT_WRITEFUNCTION, write)
			} else {
				err = counter.set(e.CURL.GetHandle())
			}
		}
		if err != nil {
			return allocPhase{}, err
		}
		ctx := context.Background()
		// Warm-up: the connection, the shard, libcurl's buffers.
		for range 2 {
			if err := eng.Do(ctx, e); err != nil {
				return allocPhase{}, fmt.Errorf("%s: warm-up: %w", what, err)
			}
		}
		calls, bytes = 0, 0
		counter.reset()
		before, _ := allocSites()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0, e0 := epollCounts()
		t0 := time.Now()
		for i := range n {
			if err := eng.Do(ctx, e); err != nil {
				return allocPhase{}, fmt.Errorf("%s: transfer %d: %w", what, i, err)
			}
		}
		el := time.Since(t0)
		c1, e1 := epollCounts()
		runtime.ReadMemStats(&m1)
		p := allocPhase{What: what, Transfers: n, Seconds: el.Seconds(), Mallocs: m1.Mallocs - m0.Mallocs,
			WriteCalls: calls, Bytes: bytes + counter.get(), EpCalls: c1 - c0, EpEvents: e1 - e0}
		if !goWrite {
			p.WriteCalls = 0
		}
		after, cats := allocSites()
		p.TopSites = topSites(before, after, 6)
		for site, n := range after {
			if d := n - before[site]; d > 0 {
				switch cats[site] {
				case catLoop:
					p.Loop += d
				case catCopy:
					p.Copies += d
				case catDo:
					p.Do += d
				case catRuntime:
					p.Runtime += d
				default:
					p.Other += d
				}
			}
		}
		return p, nil
	}
	var r allocResult
	for _, ph := range []struct {
		what    string
		url     string
		n       int
		goWrite bool
	}{
		{fmt.Sprintf("%d keep-alive GETs of nginx's file, C write callback", ap.Small), ap.KAURL, ap.Small, false},
		{fmt.Sprintf("%d keep-alive GETs of nginx's file, Go write callback", ap.Small), ap.KAURL, ap.Small, true},
		{fmt.Sprintf("stream %d × %d MiB at full speed, Go write callback", ap.Streams, ap.StreamBytes>>20),
			ap.StreamURL + strconv.FormatInt(ap.StreamBytes, 10), ap.Streams, true},
		{fmt.Sprintf("stream 1 × %d MiB paced (%d B every %v), Go write callback", ap.PaceBytes>>20, ap.PaceChunk, ap.PaceGap),
			fmt.Sprintf("%s%d/%d/%d", ap.StreamURL, ap.PaceBytes, ap.PaceChunk, ap.PaceGap.Microseconds()), 1, true},
	} {
		p, err := phase(ph.what, ph.url, ph.n, ph.goWrite)
		if err != nil {
			return err
		}
		r.Phases = append(r.Phases, p)
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	return nil
}

type allocCat int

const (
	catOther allocCat = iota
	catLoop
	catCopy
	catDo
	catRuntime
)

// allocSites returns the objects allocated so far by allocation site
// ("function (file:line) ← caller ← caller", runtime frames left out), and
// each site's category.
func allocSites() (map[string]int64, map[string]allocCat) {
	for range 3 { // the profile shows allocations two GC cycles late
		runtime.GC()
	}
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, true)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		n, ok = runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:n]
			break
		}
	}
	sites := map[string]int64{}
	cats := map[string]allocCat{}
	for _, rec := range recs {
		frames := runtime.CallersFrames(rec.Stack())
		var names, all []string
		for {
			f, more := frames.Next()
			all = append(all, f.Function)
			if len(names) < 3 && (!strings.HasPrefix(f.Function, "runtime.") || strings.HasPrefix(f.Function, "runtime.cgocallback")) {
				names = append(names, fmt.Sprintf("%s (%s:%d)", strings.TrimPrefix(f.Function, "github.com/curlsock/curlsock."), shortFile(f.File), f.Line))
			}
			if !more {
				break
			}
		}
		has := func(fn string) bool { return slices.Contains(all, fn) }
		if has("main.allocSites") {
			continue // this function's own
		}
		cat := catOther
		switch {
		case has("github.com/curlsock/curlsock.(*shard).round"):
			cat = catLoop
			if has("github.com/curlsock/curlsock.curlsockGoWrite") && has("github.com/curlsock/curlsock._Cfunc_GoBytes") {
				cat = catCopy
			}
		case has("github.com/curlsock/curlsock.(*Engine).Do"):
			cat = catDo
		case len(names) == 0:
			cat = catRuntime
			for i, fn := range all {
				if i > 0 && len(names) < 3 {
					names = append(names, fn)
				}
			}
			names[0] = "runtime: " + names[0]
		}
		site := strings.Join(names, " ← ")
		sites[site] += rec.AllocObjects
		cats[site] = cat
	}
	return sites, cats
}

// topSites lists the k sites that allocated most between two snapshots.
func topSites(before, after map[string]int64, k int) []string {
	var keys []string
	for s, n := range after {
		if n-before[s] > 0 {
			keys = append(keys, s)
		}
	}
	d := func(s string) int64 { return after[s] - before[s] }
	slices.SortFunc(keys, func(a, b string) int { return int(d(b) - d(a)) })
	var out []string
	for _, s := range keys[:min(k, len(keys))] {
		out = append(out, fmt.Sprintf("%d %s", d(s), s))
	}
	return out
}

func shortFile(f string) string {
	if i := strings.LastIndex(f, "/"); i >= 0 {
		if j := strings.LastIndex(f[:i], "/"); j >= 0 {
			return f[j+1:]
		}
	}
	return f
}
