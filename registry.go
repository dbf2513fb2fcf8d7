package curl

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Why a hand-made table and not runtime/cgo.Handle: libcurl keeps calling a
// close-socket registration after every handle that set it is gone, and may
// still hold an id after curlsock freed it (a handle duplicated with go-curl's
// own Duphandle, then its original cleaned up). cgo.Handle.Value panics on a
// deleted handle; a lookup here just misses, and the caller fails closed. Ids
// carry a generation (idTable), so a stale id never reaches the registration
// that reuses its slot. And a lookup is two loads, where cgo.Handle's and a
// sync.Map's hash an interface: it runs in every callback.

// handleReg is the registration of an easy handle: libcurl gets its id as
// OPENSOCKETDATA and SOCKOPTDATA (both callbacks take their clientp from the
// transfer that is connecting), and it is the frame of the curlsock calls
// that drive the handle. Multi and share handles have one too, used only as
// the frame of their calls.
type handleReg struct {
	id   uintptr
	seq  uint64 // 1 for the first easy handle, 2 for the next...
	kind regKind
	ptr  uintptr // the CURL * it belongs to (easy handles only)

	mu          sync.Mutex
	open        OpenSocketFunc
	openData    any
	sockopt     SockoptFunc
	sockoptData any
	prereq      PrereqFunc
	prereqData  any
	prereqIPs   [2]string // the last primary and local IP, reused while libcurl repeats them
	closeFn     CloseSocketFunc
	closeData   any
	closer      *closeReg                    // the registration set as CLOSESOCKETDATA, nil without a close function
	hot         atomic.Pointer[hotCallbacks] // what the callbacks read, lock-free
	inst        *socketsState                // the Sockets installation, nil without one
	governed    governed                     // the user's values of options inst also sets
	// While this handle is the frame (the curlsock call driving libcurl on
	// some thread), the last socket opened in it and its destination, to
	// name it in a sockopt error: libcurl calls sockopt right after open, on
	// the same thread. Only that thread touches them, as libcurl drives a
	// handle on one thread at a time: no atomics on the path of every
	// connection. Not the callback's own handle: go-curl's Duphandle copies
	// the ids, and two threads may run callbacks of one id at once.
	lastFD int
	// Handed to open-socket callbacks while this is the frame: see openSocket.
	sa         Sockaddr
	saBusy     bool
	lastAddr   netip.AddrPort
	lastPath   string
	errs       []*CallbackError
	panicked   bool
	panicVal   any
	cleaned    bool
	performing bool
	multi      *CURLM      // the curlsock multi the handle is in
	retired    []*closeReg // replaced while a transfer was under way
	deferred   []*CURL     // cleaned up from callbacks of this frame's call
	opts       optionState
	detail     errorDetail // libcurl's error buffer (easy handles only)
}

// hotCallbacks is an immutable snapshot of a handle's callback settings,
// republished on every change: the user's callbacks composed with the
// Sockets installation's, if any.
type hotCallbacks struct {
	open        OpenSocketFunc
	openData    any
	sockopt     SockoptFunc
	sockoptData any
	prereq      PrereqFunc
	prereqData  any
	closer      *closeReg
	retired     []*closeReg // setCloser's, while a transfer may still hold them
}

// publishLocked republishes the snapshot; h.mu must be held.
func (h *handleReg) publishLocked() {
	hc := &hotCallbacks{open: h.open, openData: h.openData, sockopt: h.sockopt, sockoptData: h.sockoptData,
		prereq: h.prereq, prereqData: h.prereqData, closer: h.closer, retired: h.retired}
	if st := h.inst; st != nil {
		hc.open = st.openFunc(h.open)
		hc.sockopt = st.sockoptFunc(h.sockopt)
		if st.checksPrereq() {
			hc.prereq = st.prereqFunc(h.prereq)
		}
	}
	h.hot.Store(hc)
}

type regKind int

const (
	kindEasy regKind = iota
	kindMulti
	kindShare
)

// closeReg is a close-socket registration: function and data as they were
// when set. libcurl copies its id into every connection created while it is
// set (allocate_conn in url.c), so it must outlive the handle while any of
// those connections may still close a socket.
type closeReg struct {
	id    uintptr
	fn    CloseSocketFunc
	data  any
	owner uintptr // the handle that set it: where panics go when no frame is active

	// Guarded by registry.mu.
	handleRef bool // still set on its handle
	sockets   int  // open sockets charged to it
}

// fdEntry records a socket handed to libcurl while a close-socket callback was
// set. libcurl 7.88.x closes some sockets with plain close() (Happy Eyeballs
// losers, attempts abandoned on timeout; fixed in 8.2.0 by PR #11439), and
// the number is reused at once, so an entry also carries the socket's
// identity: a sweep drops entries whose fd no longer is that socket.
//
// On libcurl ≥ 8.2 only rare error paths still bypass the callback (an FTP
// listen socket whose setup failed; the FD_CLOEXEC failure of 8.17–8.18), so
// the identity of a socket curlsock itself just created is not taken when it
// is charged, which would cost a syscall per connection: the next sweep
// learns it, and meanwhile a number charged again is released all the same.
type fdEntry struct {
	closer   *closeReg
	known    bool // dev and ino are set
	dev, ino uint64
	// also: the registrations retired by setCloser while a transfer was
	// under way, when the socket was opened. Its connection may have been
	// created before the change and then closes the socket with one of
	// their ids, so they live as long as the socket does.
	also []*closeReg
}

// eagerIdentity: libcurl closes sockets behind curlsock's back on its normal
// paths, so an entry's identity must be taken before the number can be reused.
var eagerIdentity = versionNum < 0x080200

// registry holds every registration. The id lookups that each callback makes
// read the idTables without a lock: the mutex serialises changes and the
// socket accounting only.
var registry = struct {
	sync.Mutex
	seq     uint64 // numbers easy handles for people: ids are reused
	handles idTable[handleReg, *handleReg]
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
	h = &handleReg{id: registry.handles.alloc(), seq: registry.seq, kind: kindEasy, ptr: ptr}
	h.lastFD = -1
	registry.handles.set(h.id, h)
	registry.byPtr[ptr] = h
	return h, true
}

// newFrameReg registers a multi or share handle's frame.
func newFrameReg(kind regKind) *handleReg {
	registry.Lock()
	defer registry.Unlock()
	h := &handleReg{id: registry.handles.alloc(), kind: kind}
	h.lastFD = -1
	registry.handles.set(h.id, h)
	return h
}

func lookupHandle(id uintptr) *handleReg { return registry.handles.lookup(id) }
func lookupCloser(id uintptr) *closeReg  { return registry.closers.lookup(id) }

func (h *handleReg) regID() uintptr { return h.id }
func (c *closeReg) regID() uintptr  { return c.id }

func forgetPtr(h *handleReg) {
	registry.Lock()
	if h.kind == kindEasy && registry.byPtr[h.ptr] == h {
		delete(registry.byPtr, h.ptr)
	}
	registry.Unlock()
}

func forgetHandle(h *handleReg) {
	registry.Lock()
	if h.kind == kindEasy && registry.byPtr[h.ptr] == h {
		delete(registry.byPtr, h.ptr)
	}
	registry.handles.release(h.id)
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

// chargeFD records that fd, just handed to libcurl, will be closed through a
// close-socket callback, and keeps c alive until then. st is fd's identity, or
// nil if it was not taken. A number already in the table was closed behind
// our back and reused: that entry is released.
func chargeFD(fd int, st *unix.Stat_t, c *closeReg, also []*closeReg) {
	e := fdEntry{closer: c, also: also}
	if st != nil {
		e.known, e.dev, e.ino = true, st.Dev, st.Ino
	}
	registry.Lock()
	defer registry.Unlock()
	if old, ok := registry.fds[fd]; ok {
		releaseLocked(old)
	}
	registry.fds[fd] = e
	c.sockets++
	for _, r := range also {
		r.sockets++
	}
	if len(registry.fds) >= registry.sweepAt {
		sweepLocked()
		// Amortized: a sweep costs one fstat per tracked socket.
		registry.sweepAt = 2*len(registry.fds) + 64
	}
}

// socketStat fills st with the identity of fd, an open-socket callback's
// result, or returns an error if fd is not an open socket.
func socketStat(fd int, st *unix.Stat_t) error {
	if err := unix.Fstat(fd, st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return unix.ENOTSOCK
	}
	return nil
}

// takeFD removes fd from the table before it is closed, so that a new socket
// that gets the same number on another thread is never mistaken for it.
func takeFD(fd int) (fdEntry, bool) {
	registry.Lock()
	e, ok := registry.fds[fd]
	if ok {
		delete(registry.fds, fd)
	}
	registry.Unlock()
	return e, ok
}

// releaseFD drops the charge of a socket taken with takeFD, once closed.
func releaseFD(e fdEntry) {
	registry.Lock()
	releaseLocked(e)
	registry.Unlock()
}

func releaseLocked(e fdEntry) {
	e.closer.sockets--
	maybeFreeLocked(e.closer)
	for _, r := range e.also {
		r.sockets--
		maybeFreeLocked(r)
	}
}

// isSame reports whether fd still is the socket e recorded. Without a
// recorded identity, any open socket is taken for it.
func (e fdEntry) isSame(fd int) bool {
	var st unix.Stat_t
	if socketStat(fd, &st) != nil {
		return false
	}
	return !e.known || st.Dev == e.dev && st.Ino == e.ino
}

func sweepLocked() {
	for fd, e := range registry.fds {
		var st unix.Stat_t
		switch {
		case socketStat(fd, &st) != nil || e.known && (st.Dev != e.dev || st.Ino != e.ino):
			delete(registry.fds, fd)
			releaseLocked(e)
		case !e.known:
			e.known, e.dev, e.ino = true, st.Dev, st.Ino
			registry.fds[fd] = e
		}
	}
}

// RegistrationStats counts what curlsock keeps for libcurl. It is a leak
// detector for curlsock's own state, not for sockets: see Registrations.
type RegistrationStats struct {
	Handles        int // easy handles curlsock knows, not yet cleaned up
	Multis         int // multi handles not yet cleaned up
	Shares         int // share handles not yet cleaned up
	CloseCallbacks int // close-socket registrations libcurl may still call
	// Sockets are open sockets charged to close-socket callbacks: handed to
	// libcurl while one was set, and not yet given back to it for closing.
	Sockets int
}

// Registrations returns what curlsock keeps for libcurl now, after dropping
// the sockets libcurl closed without telling (libcurl < 8.2). Once every
// easy, multi and share handle is cleaned up every count is zero; anything
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
	registry.handles.each(func(h *handleReg) {
		switch h.kind {
		case kindEasy:
			st.Handles++
		case kindMulti:
			st.Multis++
		case kindShare:
			st.Shares++
		}
	})
	return st
}
