package sock

import (
	"cmp"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"
)

// TraceKind is what happened to a socket: one of the Trace* kinds. Its
// value is the word the log shows.
type TraceKind string

// TraceEvent kinds.
const (
	TraceOpen    TraceKind = "open"    // a socket was opened
	TraceRefuse  TraceKind = "refuse"  // an open was refused; Err says why
	TraceSockopt TraceKind = "sockopt" // the sockopt callback ran; Err if it failed
	TraceClose   TraceKind = "close"   // a socket was closed; Err if close failed
)

// TraceEvent is one socket event of a transfer.
type TraceEvent struct {
	Time time.Time
	// Handle is the easy handle's sequence number as curlsock assigns it,
	// 1 for the first handle of the process (package curl sets it).
	Handle  uint64
	Kind    TraceKind // TraceOpen, TraceRefuse, TraceSockopt, TraceClose
	FD      int       // -1 when none
	Purpose SockType  // not shown for close events, whose callback has none
	Addr    string    // destination as Sockaddr.String gives it; "" if unknown
	Rewrite string    // original destination when it was rewritten, else ""
	Err     error     // for refuse, or a failed sockopt or close
}

// String returns the event as one line:
//
//	12:00:00.000123 #3 open fd=7 IPCXN 127.0.0.1:8080 (rewritten from 10.0.0.1:80)
//	12:00:00.000200 #3 refuse IPCXN 10.0.0.2:80: not a loopback address
//
// The time is left out when zero.
func (ev TraceEvent) String() string {
	return string(ev.appendTo(nil))
}

func (ev TraceEvent) appendTo(b []byte) []byte {
	if !ev.Time.IsZero() {
		b = ev.Time.AppendFormat(b, "15:04:05.000000 ")
	}
	b = append(b, '#')
	b = strconv.AppendUint(b, ev.Handle, 10)
	b = append(b, ' ')
	b = append(b, ev.Kind...)
	if ev.FD >= 0 {
		b = append(b, " fd="...)
		b = strconv.AppendInt(b, int64(ev.FD), 10)
	}
	if ev.Kind != TraceClose {
		b = append(b, ' ')
		b = append(b, ev.Purpose.String()...)
	}
	if ev.Addr != "" {
		b = append(b, ' ')
		b = appendOneLine(b, ev.Addr)
	}
	if ev.Rewrite != "" {
		b = append(b, " (rewritten from "...)
		b = appendOneLine(b, ev.Rewrite)
		b = append(b, ')')
	}
	if ev.Err != nil {
		b = append(b, ": "...)
		b = appendOneLine(b, ev.Err.Error())
	}
	return b
}

// appendOneLine appends s with its line breaks (errors.Join puts them
// between errors; a unix socket path may hold one) turned into "; ", so that
// an event stays one line of the log.
func appendOneLine(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			b = append(b, "; "...)
		case '\r':
		default:
			b = append(b, s[i])
		}
	}
	return b
}

// TraceStats counts a Trace's events since it was made.
type TraceStats struct {
	Opened  int // open events
	Refused int // refuse events
	Closed  int // close events
	// Open is how many sockets are open now: len(OpenSockets()). It is
	// Opened - Closed as long as every socket's open and close were
	// recorded; it never goes negative, and a socket whose close was
	// missed stops counting when its fd is opened again.
	Open   int
	Errors int // events other than refusals with an error: failed sockopts and closes
}

// DefaultTraceLimit is how many events a new Trace keeps for Events.
const DefaultTraceLimit = 1024

// Trace records socket events as a log (one line per event to a writer), as
// counters, as the last events and as the sockets open now. It is safe for
// concurrent use; a nil *Trace records nothing.
type Trace struct {
	mu    sync.Mutex
	w     io.Writer
	line  []byte // reused for each line, so that writing allocates nothing
	stats TraceStats

	ring  []TraceEvent // the last len(ring) events, oldest at ring[next] once full
	next  int
	full  bool
	limit int

	open map[int]openSocket // by fd, which is unique in the process while open
	seq  uint64
}

type openSocket struct {
	ev  TraceEvent
	seq uint64
}

// NewTrace returns a Trace that writes each event to w as ev.String()+"\n",
// in a single Write while holding its lock, so that lines never interleave
// and appear in the order recorded. w may be nil (counters and events only).
// Recording waits for w: a slow writer slows every transfer traced.
func NewTrace(w io.Writer) *Trace {
	return &Trace{w: w, limit: DefaultTraceLimit, open: map[int]openSocket{}}
}

// SetLimit sets how many events Events keeps (0: none), keeping the newest.
func (t *Trace) SetLimit(n int) {
	if t == nil {
		return
	}
	n = max(n, 0)
	t.mu.Lock()
	defer t.mu.Unlock()
	evs := t.eventsLocked()
	if len(evs) > n {
		evs = slices.Clone(evs[len(evs)-n:])
	}
	t.ring, t.next, t.full, t.limit = evs, 0, n > 0 && len(evs) == n, n
}

// Record records ev, with Time set to now if zero. A sockopt or close event
// without Addr gets the Addr and Rewrite (and a close its Purpose) of the
// open event of its fd, since those callbacks see only the fd.
func (t *Trace) Record(ev TraceEvent) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Time.IsZero() {
		// Under the lock, so that the log's times never go backwards.
		ev.Time = time.Now()
	}
	if ev.Err != nil && ev.Kind != TraceRefuse {
		t.stats.Errors++
	}
	switch ev.Kind {
	case TraceOpen:
		t.stats.Opened++
		if ev.FD >= 0 {
			// A reused fd means its previous socket was closed unseen.
			t.seq++
			t.open[ev.FD] = openSocket{ev, t.seq}
		}
	case TraceRefuse:
		t.stats.Refused++
	case TraceSockopt, TraceClose:
		if o, ok := t.open[ev.FD]; ok && ev.Addr == "" {
			ev.Addr, ev.Rewrite = o.ev.Addr, o.ev.Rewrite
			if ev.Kind == TraceClose {
				ev.Purpose = o.ev.Purpose
			}
		}
		if ev.Kind == TraceClose {
			t.stats.Closed++
			delete(t.open, ev.FD)
		}
	}
	t.stats.Open = len(t.open)
	t.keep(ev)
	if t.w != nil {
		t.line = append(ev.appendTo(t.line[:0]), '\n')
		t.w.Write(t.line) // a log that cannot be written must not fail transfers
		if cap(t.line) > 4096 {
			t.line = nil // one huge error message should not stay allocated
		}
	}
}

func (t *Trace) keep(ev TraceEvent) {
	switch {
	case t.limit == 0:
	case !t.full:
		t.ring = append(t.ring, ev)
		t.full = len(t.ring) == t.limit
	default:
		t.ring[t.next] = ev
		t.next = (t.next + 1) % t.limit
	}
}

// Stats returns the counters.
func (t *Trace) Stats() TraceStats {
	if t == nil {
		return TraceStats{}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

// Events returns the last recorded events (at most the limit, 1024 unless
// SetLimit changed it), oldest first.
func (t *Trace) Events() []TraceEvent {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eventsLocked()
}

func (t *Trace) eventsLocked() []TraceEvent {
	evs := make([]TraceEvent, 0, len(t.ring))
	if t.full {
		evs = append(evs, t.ring[t.next:]...)
		return append(evs, t.ring[:t.next]...)
	}
	return append(evs, t.ring...)
}

// OpenSockets returns the open event of every socket not closed since, in
// the order they were opened. An open of an fd that is already open replaces
// the older event: the kernel reuses an fd only after it was closed.
func (t *Trace) OpenSockets() []TraceEvent {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	open := make([]openSocket, 0, len(t.open))
	for _, o := range t.open {
		open = append(open, o)
	}
	t.mu.Unlock()
	slices.SortFunc(open, func(a, b openSocket) int { return cmp.Compare(a.seq, b.seq) })
	evs := make([]TraceEvent, len(open))
	for i, o := range open {
		evs[i] = o.ev
	}
	return evs
}
