//go:build linux

package curl

import (
	"net/netip"
	"sync"
	"sync/atomic"
)

// Why a hand-made table and not runtime/cgo.Handle: libcurl keeps calling a
// close-socket registration after every handle that set it is gone, and may
// still hold an id after curlsock freed it (a handle duplicated with go-curl's
// own Duphandle, then its original cleaned up). cgo.Handle.Value panics on a
// deleted handle; a lookup here just misses, and the caller fails closed. Ids
// carry a generation (idTable), so a stale id never reaches the registration
// that reuses its slot. And a lookup is two loads, where cgo.Handle's and a
// sync.Map's hash an interface: it runs in every callback.

// frame is the registration of a curlsock call that drives libcurl: Perform,
// Cleanup, a multi's or share's calls (see frame.go). Its id is what the C
// side records as the thread's frame. An easy handle's frame is part of its
// registration and has the same id; multi and share handles have only one.
type frame struct {
	id   uintptr
	kind regKind    // for Registrations
	easy *handleReg // the easy handle whose frame this is, nil for a multi's or share's

	mu       sync.Mutex // guards the frame's fields and, for an easy handle, handleReg's
	panicked bool
	panicVal any
	deferred []*CURL // cleaned up from callbacks of this frame's call
	// An engine shard's frame serves many transfers: a callback's panic
	// fails only its own transfer (poisoned, for the shard to end), where
	// any other frame stops every callback of the call.
	perTransfer bool
	poisoned    []*handleReg
	// While this frame is driving libcurl on some thread, the last socket
	// opened in it and its destination, to name it in a sockopt error:
	// libcurl calls sockopt right after open, on the same thread. Only that
	// thread touches them, as libcurl drives a handle on one thread at a
	// time: no atomics on the path of every connection. Not the callback's
	// own handle: go-curl's Duphandle copies the ids, and two threads may run
	// callbacks of one id at once.
	lastFD   int
	lastAddr netip.AddrPort
	lastPath string
	// Handed to open-socket callbacks while this is the frame: see openSocket.
	sa     Sockaddr
	saBusy bool
}

func (f *frame) regID() uintptr { return f.id }

// handleReg is the registration of an easy handle: libcurl gets its id as
// OPENSOCKETDATA and SOCKOPTDATA (both callbacks take their clientp from the
// transfer that is connecting), and it is the frame of the curlsock calls
// that drive the handle.
type handleReg struct {
	frame
	seq uint64  // 1 for the first easy handle, 2 for the next...
	ptr uintptr // the CURL * it belongs to

	// set is the handle's callback settings: the callbacks read it without
	// a lock; it changes only under mu (changeLocked).
	set        atomic.Pointer[callbackSettings]
	prereqIPs  [2]string // the last primary and local IP, reused while libcurl repeats them
	governed   governed  // the user's values of options an installation also sets
	errs       []*CallbackError
	cleaned    bool
	performing bool
	performTID atomic.Int32 // the thread of Perform's curl_easy_perform, while performing
	// Closed when an operation on the idle handle (Pause, Install,
	// Uninstall) is done; a transfer starting meanwhile waits for it.
	idleOp chan struct{}
	multi  *CURLM // the curlsock multi the handle is in
	// The transfer of an Engine or PerformContext the handle is in; the
	// goroutine waiting for it frees the handle if cleaned up meanwhile.
	active       *transfer
	cleanupAfter bool
	own          *shard // PerformContext's multi, kept for keep-alive until Cleanup
	// A callback of the handle's transfer on an engine panicked: its other
	// callbacks fail without running until the transfer ends.
	poisoned atomic.Bool
	opts     optionState
	detail   errorDetail // libcurl's error buffer
}

// callbackSettings are a handle's socket callbacks as the user set them,
// its Sockets installation and its close-socket registrations, with what
// the trampolines run: the user's callbacks composed with the installation's.
// Immutable once published.
type callbackSettings struct {
	open        OpenSocketFunc
	openData    any
	sockopt     SockoptFunc
	sockoptData any
	prereq      PrereqFunc
	prereqData  any
	closeFn     CloseSocketFunc
	closeData   any
	inst        *socketsState // the Sockets installation, nil without one
	closer      *closeReg     // set as CLOSESOCKETDATA, nil without a close function
	retired     []*closeReg   // replaced while a transfer was under way: setCloser

	runOpen    OpenSocketFunc
	runSockopt SockoptFunc
	runPrereq  PrereqFunc
}

// settings returns the handle's published callback settings.
func (h *handleReg) settings() *callbackSettings { return h.set.Load() }

// changeLocked publishes a copy of the settings that f changed, composed
// anew; h.mu must be held.
func (h *handleReg) changeLocked(f func(s *callbackSettings)) {
	s := *h.set.Load()
	f(&s)
	s.runOpen, s.runSockopt, s.runPrereq = s.open, s.sockopt, s.prereq
	if st := s.inst; st != nil {
		s.runOpen = st.openFunc(s.open)
		s.runSockopt = st.sockoptFunc(s.sockopt)
		if st.checksPrereq() {
			s.runPrereq = st.prereqFunc(s.prereq)
		}
	}
	h.set.Store(&s)
}

// change is changeLocked taking h.mu.
func (h *handleReg) change(f func(s *callbackSettings)) {
	h.mu.Lock()
	h.changeLocked(f)
	h.mu.Unlock()
}

type regKind int

const (
	kindEasy regKind = iota
	kindMulti
	kindShare
	kindShard        // an Engine's or PerformContext's multi
	kindDefaultShard // the default engine's: never closed, so not counted
)

// closeReg is a close-socket registration: function and data as they were
// when set. libcurl copies its id into every connection created while it is
// set (allocate_conn in url.c), so it must outlive the handle while any of
// those connections may still close a socket.
type closeReg struct {
	id    uintptr
	fn    CloseSocketFunc
	data  any
	owner uintptr // the id of the handle that set it: where panics go when no frame is active

	// Guarded by registry.mu.
	handleRef bool // still set on its handle
	sockets   int  // open sockets charged to it
}

// registry holds every registration. The id lookups that each callback makes
// read the idTables without a lock: the mutex serialises changes and the
// socket accounting only.
var registry = struct {
	sync.Mutex
	seq     uint64                 // numbers easy handles for people: ids are reused
	frames  idTable[frame, *frame] // easy handles' too, by their id
	closers idTable[closeReg, *closeReg]
	byPtr   map[uintptr]*handleReg
	fds     map[int]fdEntry
	sweepAt int
}{
	byPtr:   map[uintptr]*handleReg{},
	fds:     map[int]fdEntry{},
	sweepAt: 64,
}

// handleFor returns the registration of the easy handle at ptr, creating it
// on first use (created).
func handleFor(ptr uintptr) (h *handleReg, created bool) {
	registry.Lock()
	defer registry.Unlock()
	if h := registry.byPtr[ptr]; h != nil {
		return h, false
	}
	// byPtr forgets a handle before libcurl frees it (forgetPtr), so an
	// address reused by malloc never finds a dead registration.
	registry.seq++
	h = &handleReg{seq: registry.seq, ptr: ptr}
	h.frame = frame{id: registry.frames.alloc(), kind: kindEasy, easy: h, lastFD: -1}
	h.set.Store(&callbackSettings{})
	registry.frames.set(h.id, &h.frame)
	registry.byPtr[ptr] = h
	return h, true
}

// newFrame registers a multi or share handle's frame.
func newFrame(kind regKind) *frame {
	registry.Lock()
	defer registry.Unlock()
	f := &frame{id: registry.frames.alloc(), kind: kind, lastFD: -1}
	registry.frames.set(f.id, f)
	return f
}

func lookupFrame(id uintptr) *frame     { return registry.frames.lookup(id) }
func lookupCloser(id uintptr) *closeReg { return registry.closers.lookup(id) }

// lookupHandle returns the easy handle registered as id, nil if there is
// none (or id is a multi's or share's frame).
func lookupHandle(id uintptr) *handleReg {
	if f := registry.frames.lookup(id); f != nil {
		return f.easy
	}
	return nil
}

func (c *closeReg) regID() uintptr { return c.id }

func forgetPtr(h *handleReg) {
	registry.Lock()
	if registry.byPtr[h.ptr] == h {
		delete(registry.byPtr, h.ptr)
	}
	registry.Unlock()
}

func forgetHandle(h *handleReg) {
	forgetPtr(h)
	forgetFrame(&h.frame)
}

func forgetFrame(f *frame) {
	registry.Lock()
	registry.frames.release(f.id)
	registry.Unlock()
}

func newCloseReg(fn CloseSocketFunc, data any, owner uintptr) *closeReg {
	registry.Lock()
	defer registry.Unlock()
	c := &closeReg{id: registry.closers.alloc(), fn: fn, data: data, owner: owner, handleRef: true}
	registry.closers.set(c.id, c)
	return c
}

// unsetCloser records that c is no longer set on its handle.
func unsetCloser(c *closeReg) {
	if c == nil {
		return
	}
	registry.Lock()
	c.handleRef = false
	maybeFreeLocked(c)
	registry.Unlock()
}

func maybeFreeLocked(c *closeReg) {
	if c != nil && !c.handleRef && c.sockets == 0 {
		registry.closers.release(c.id)
	}
}

// RegistrationStats counts what curlsock keeps for libcurl. It is a leak
// detector for curlsock's own state, not for sockets: see Registrations.
type RegistrationStats struct {
	Handles int // easy handles curlsock knows, not yet cleaned up
	Multis  int // multi handles not yet cleaned up
	Shares  int // share handles not yet cleaned up
	// Shards are the libcurl multis of Engine shards (started, not closed)
	// and of PerformContext (one per handle that used it, until Cleanup).
	// The default engine's (curl.Do), which is never closed, are not counted.
	Shards         int
	CloseCallbacks int // close-socket registrations libcurl may still call
	// Sockets are open sockets charged to close-socket callbacks: handed to
	// libcurl while one was set, and not yet given back to it for closing.
	Sockets int
}

// Registrations returns what curlsock keeps for libcurl now, after dropping
// the sockets libcurl closed without telling (libcurl < 8.2). Once every
// easy, multi and share handle is cleaned up and every Engine closed, every
// count is zero; anything
// else is a registration curlsock leaked.
//
// It does not count sockets that are open but no longer libcurl's: a socket
// handed to a close-socket callback leaves the count when the callback is
// called, whether or not the callback closes it (libcurl has forgotten it
// either way), and sockets libcurl opens and closes without the callbacks
// never enter it. A callback that does not close what it is given leaks
// descriptors that only the process's own count shows (/proc/self/fd):
// checking after every callback would cost a system call per connection.
func Registrations() RegistrationStats {
	registry.Lock()
	defer registry.Unlock()
	sweepLocked()
	st := RegistrationStats{CloseCallbacks: registry.closers.live, Sockets: len(registry.fds)}
	registry.frames.each(func(f *frame) {
		switch f.kind {
		case kindEasy:
			st.Handles++
		case kindMulti:
			st.Multis++
		case kindShare:
			st.Shares++
		case kindShard:
			st.Shards++
		}
	})
	return st
}
