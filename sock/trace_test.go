//go:build linux

package sock

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var traceNoon = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)

func TestTraceEventString(t *testing.T) {
	errNo := errors.New("not a loopback address")
	for _, tc := range []struct {
		ev   TraceEvent
		want string
	}{
		{TraceEvent{Time: traceNoon, Handle: 3, Kind: TraceOpen, FD: 7, Purpose: SockTypeIPCXN, Addr: "127.0.0.1:8080", Rewrite: "10.0.0.1:80"},
			"12:00:00.123456 #3 open fd=7 IPCXN 127.0.0.1:8080 (rewritten from 10.0.0.1:80)"},
		{TraceEvent{Time: traceNoon, Handle: 3, Kind: TraceRefuse, FD: -1, Addr: "10.0.0.2:80", Err: errNo},
			"12:00:00.123456 #3 refuse IPCXN 10.0.0.2:80: not a loopback address"},
		{TraceEvent{Time: traceNoon, Handle: 1, Kind: TraceSockopt, FD: 9, Purpose: SockTypeAccept, Addr: "[::1]:4000"},
			"12:00:00.123456 #1 sockopt fd=9 ACCEPT [::1]:4000"},
		{TraceEvent{Time: traceNoon, Handle: 1, Kind: TraceSockopt, FD: 9, Err: unix.EPERM},
			"12:00:00.123456 #1 sockopt fd=9 IPCXN: operation not permitted"},
		{TraceEvent{Time: traceNoon, Handle: 2, Kind: TraceClose, FD: 7, Addr: "unix:/run/app.sock"},
			"12:00:00.123456 #2 close fd=7 unix:/run/app.sock"},
		{TraceEvent{Time: traceNoon, Handle: 2, Kind: TraceClose, FD: 7, Err: unix.EBADF},
			"12:00:00.123456 #2 close fd=7: bad file descriptor"},
		{TraceEvent{Kind: TraceOpen, FD: 0, Addr: "unix:@x"}, "#0 open fd=0 IPCXN unix:@x"},
		{TraceEvent{Handle: 5, Kind: TraceRefuse, FD: -1, Purpose: SockType(9), Addr: "unix:/a\nb",
			Err: errors.Join(errors.New("first"), errors.New("second\r\n"))},
			"#5 refuse SockType(9) unix:/a; b: first; second; "},
	} {
		if got := tc.ev.String(); got != tc.want {
			t.Errorf("String() =\n %q, want\n %q", got, tc.want)
		}
	}
}

func TestTraceRecordFillsTime(t *testing.T) {
	tr := NewTrace(nil)
	before := time.Now()
	tr.Record(TraceEvent{Kind: TraceOpen, FD: 5})
	tr.Record(TraceEvent{Kind: TraceClose, FD: 5, Time: traceNoon})
	evs := tr.Events()
	if len(evs) != 2 || evs[0].Time.Before(before) || time.Since(evs[0].Time) > time.Minute || !evs[1].Time.Equal(traceNoon) {
		t.Fatalf("events %v", evs)
	}
}

func TestTraceStatsAndOpenSockets(t *testing.T) {
	tr := NewTrace(nil)
	rec := func(kind TraceKind, fd int, addr string, err error) {
		tr.Record(TraceEvent{Time: traceNoon, Kind: kind, FD: fd, Addr: addr, Err: err})
	}
	check := func(want TraceStats, open ...string) {
		t.Helper()
		if got := tr.Stats(); got != want {
			t.Fatalf("Stats() = %+v, want %+v", got, want)
		}
		var got []string
		for _, ev := range tr.OpenSockets() {
			got = append(got, fmt.Sprintf("%d=%s", ev.FD, ev.Addr))
		}
		if strings.Join(got, " ") != strings.Join(open, " ") {
			t.Fatalf("OpenSockets() = %v, want %v", got, open)
		}
	}
	rec(TraceOpen, 7, "a:1", nil)
	rec(TraceOpen, 5, "b:1", nil)
	check(TraceStats{Opened: 2, Open: 2}, "7=a:1", "5=b:1")
	rec(TraceRefuse, -1, "c:1", errors.New("no"))
	check(TraceStats{Opened: 2, Refused: 1, Open: 2}, "7=a:1", "5=b:1")
	rec(TraceClose, 7, "", nil)
	check(TraceStats{Opened: 2, Refused: 1, Closed: 1, Open: 1}, "5=b:1")
	// fd 7 again, after its close: a new socket.
	rec(TraceOpen, 7, "d:1", nil)
	check(TraceStats{Opened: 3, Refused: 1, Closed: 1, Open: 2}, "5=b:1", "7=d:1")
	// fd 5 opened again without its close being seen: the old one is gone.
	rec(TraceOpen, 5, "e:1", nil)
	check(TraceStats{Opened: 4, Refused: 1, Closed: 1, Open: 2}, "7=d:1", "5=e:1")
	rec(TraceSockopt, 5, "", unix.EPERM)
	rec(TraceClose, 5, "", nil)
	rec(TraceClose, 7, "", unix.EBADF)
	check(TraceStats{Opened: 4, Refused: 1, Closed: 3, Open: 0, Errors: 2})
	// A close never opened (an accepted socket): Open stays at 0.
	rec(TraceClose, 11, "", nil)
	check(TraceStats{Opened: 4, Refused: 1, Closed: 4, Open: 0, Errors: 2})
}

// Sockopt and close callbacks know only the fd: the trace names the
// destination from the fd's open event.
func TestTraceFillsAddrFromOpen(t *testing.T) {
	var buf bytes.Buffer
	tr := NewTrace(&buf)
	tr.Record(TraceEvent{Time: traceNoon, Handle: 4, Kind: TraceOpen, FD: 8, Purpose: SockTypeIPCXN, Addr: "[::1]:80", Rewrite: "192.0.2.1:80"})
	tr.Record(TraceEvent{Time: traceNoon, Handle: 4, Kind: TraceSockopt, FD: 8, Purpose: SockTypeIPCXN})
	tr.Record(TraceEvent{Time: traceNoon, Handle: 4, Kind: TraceClose, FD: 8})
	tr.Record(TraceEvent{Time: traceNoon, Handle: 4, Kind: TraceClose, FD: 8}) // already closed: unknown
	const want = "12:00:00.123456 #4 open fd=8 IPCXN [::1]:80 (rewritten from 192.0.2.1:80)\n" +
		"12:00:00.123456 #4 sockopt fd=8 IPCXN [::1]:80 (rewritten from 192.0.2.1:80)\n" +
		"12:00:00.123456 #4 close fd=8 [::1]:80 (rewritten from 192.0.2.1:80)\n" +
		"12:00:00.123456 #4 close fd=8\n"
	if buf.String() != want {
		t.Fatalf("log:\n%s\nwant:\n%s", buf.String(), want)
	}
	if evs := tr.Events(); evs[2].Addr != "[::1]:80" {
		t.Fatalf("the kept close event has Addr %q", evs[2].Addr)
	}
}

func TestTraceRing(t *testing.T) {
	tr := NewTrace(nil)
	for i := range 1500 {
		tr.Record(TraceEvent{Handle: uint64(i), Kind: TraceRefuse, FD: -1})
	}
	evs := tr.Events()
	if len(evs) != DefaultTraceLimit || evs[0].Handle != 1500-DefaultTraceLimit || evs[len(evs)-1].Handle != 1499 {
		t.Fatalf("%d events, %d..%d", len(evs), evs[0].Handle, evs[len(evs)-1].Handle)
	}
	handles := func() []uint64 {
		var h []uint64
		for _, ev := range tr.Events() {
			h = append(h, ev.Handle)
		}
		return h
	}
	tr.SetLimit(3)
	if h := fmt.Sprint(handles()); h != "[1497 1498 1499]" {
		t.Fatalf("after SetLimit(3): %s", h)
	}
	tr.Record(TraceEvent{Handle: 1500, Kind: TraceRefuse, FD: -1})
	if h := fmt.Sprint(handles()); h != "[1498 1499 1500]" {
		t.Fatalf("after one more: %s", h)
	}
	tr.SetLimit(5)
	tr.Record(TraceEvent{Handle: 1501, Kind: TraceRefuse, FD: -1})
	if h := fmt.Sprint(handles()); h != "[1498 1499 1500 1501]" {
		t.Fatalf("after growing: %s", h)
	}
	for i := range 3 {
		tr.Record(TraceEvent{Handle: uint64(1502 + i), Kind: TraceRefuse, FD: -1})
	}
	if h := fmt.Sprint(handles()); h != "[1500 1501 1502 1503 1504]" {
		t.Fatalf("after wrapping: %s", h)
	}
	tr.SetLimit(0)
	tr.Record(TraceEvent{Kind: TraceRefuse, FD: -1})
	if len(tr.Events()) != 0 {
		t.Fatal("SetLimit(0) kept events")
	}
	if got := tr.Stats().Refused; got != 1506 {
		t.Fatalf("Refused = %d: the limit must not affect counting", got)
	}
}

// lineWriter fails the test if Write is called concurrently or with anything
// but one whole line.
type lineWriter struct {
	t        *testing.T
	inflight atomic.Int32
	mu       sync.Mutex
	lines    []string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if w.inflight.Add(1) != 1 {
		w.t.Error("concurrent Write")
	}
	defer w.inflight.Add(-1)
	s := string(p)
	if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		w.t.Errorf("Write(%q): not one line", s)
	}
	time.Sleep(time.Microsecond) // widen the window for an overlapping Write
	w.mu.Lock()
	w.lines = append(w.lines, strings.TrimSuffix(s, "\n"))
	w.mu.Unlock()
	return len(p), nil
}

func TestTraceConcurrent(t *testing.T) {
	w := &lineWriter{t: t}
	tr := NewTrace(w)
	const goroutines, per = 8, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range per {
				// Each goroutine owns its fds, as each socket does.
				fd := 1000*g + i%10
				tr.Record(TraceEvent{Handle: uint64(g), Kind: TraceOpen, FD: fd, Addr: "127.0.0.1:80"})
				tr.Record(TraceEvent{Handle: uint64(g), Kind: TraceSockopt, FD: fd})
				tr.Record(TraceEvent{Handle: uint64(g), Kind: TraceClose, FD: fd})
			}
		})
		wg.Go(func() {
			for range per / 10 {
				_ = tr.Stats()
				_ = tr.Events()
				_ = tr.OpenSockets()
			}
		})
	}
	wg.Wait()
	want := TraceStats{Opened: goroutines * per, Closed: goroutines * per}
	if got := tr.Stats(); got != want {
		t.Fatalf("Stats() = %+v, want %+v", got, want)
	}
	if len(w.lines) != 3*goroutines*per {
		t.Fatalf("%d lines, want %d", len(w.lines), 3*goroutines*per)
	}
	// The log's order is the recording order: per fd, open, sockopt, close.
	next := map[string]TraceKind{}
	for _, l := range w.lines {
		f := strings.Fields(l) // time, #g, kind, fd=, ...
		key := f[1] + f[3]
		want := next[key]
		if want == "" {
			want = TraceOpen
		}
		if TraceKind(f[2]) != want {
			t.Fatalf("line %q: want %s next for %s", l, want, key)
		}
		next[key] = map[TraceKind]TraceKind{TraceOpen: TraceSockopt, TraceSockopt: TraceClose, TraceClose: TraceOpen}[TraceKind(f[2])]
	}
}

func TestTraceNil(t *testing.T) {
	var tr *Trace
	tr.Record(TraceEvent{Kind: TraceOpen, FD: 1})
	tr.SetLimit(3)
	if tr.Stats() != (TraceStats{}) || tr.Events() != nil || tr.OpenSockets() != nil {
		t.Fatal("nil Trace recorded")
	}
}
