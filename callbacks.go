//go:build linux

package curl

/*
#include <stdlib.h>
#include <string.h>
#include "callbacks.h"
*/
import "C"

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The //export trampolines, one per callback kind. libcurl calls the C
// functions in callbacks.c, which call these with the registration id libcurl
// holds as clientp and the frame of the curlsock call driving libcurl on this
// thread (0 when libcurl was driven behind curlsock's back, e.g. through
// go-curl's own multi).

//export curlsockGoOpen
func curlsockGoOpen(id C.uintptr_t, purpose C.int, addr *C.struct_curl_sockaddr, frame C.uintptr_t) C.curl_socket_t {
	h := lookupHandle(uintptr(id))
	if h == nil {
		var sa Sockaddr
		decodeSockaddr(&sa, addr)
		unattributed(uintptr(frame), &CallbackError{Callback: CallbackOpenSocket, Purpose: SockType(purpose), FD: -1, Addr: sa.String(), Err: ErrUnattributed})
		return C.CURL_SOCKET_BAD
	}
	if h.poisoned.Load() {
		return C.CURL_SOCKET_BAD
	}
	return C.curl_socket_t(h.openSocket(SockType(purpose), addr, uintptr(frame)))
}

//export curlsockGoSockopt
func curlsockGoSockopt(id C.uintptr_t, fd C.curl_socket_t, purpose C.int, frame C.uintptr_t) C.int {
	h := lookupHandle(uintptr(id))
	if h == nil {
		unattributed(uintptr(frame), &CallbackError{Callback: CallbackSockopt, Purpose: SockType(purpose), FD: int(fd), Err: ErrUnattributed})
		return C.CURL_SOCKOPT_ERROR
	}
	if h.poisoned.Load() {
		return C.CURL_SOCKOPT_ERROR
	}
	return C.int(h.sockoptSocket(int(fd), SockType(purpose), uintptr(frame)))
}

//export curlsockGoClose
func curlsockGoClose(id C.uintptr_t, fd C.curl_socket_t, frame C.uintptr_t) C.int {
	closeSocket(uintptr(id), int(fd), uintptr(frame))
	return 0
}

// unattributed reports a callback whose registration is gone to the curlsock
// call driving libcurl, if any.
func unattributed(frame uintptr, e *CallbackError) {
	if f := lookupHandle(frame); f != nil {
		f.addErr(e)
	}
}

//export curlsockGoWrite
func curlsockGoWrite(id C.uintptr_t, ptr *C.char, n C.size_t, header C.int, frame C.uintptr_t) C.size_t {
	h := lookupHandle(uintptr(id))
	if h == nil || h.poisoned.Load() {
		return 0 // libcurl fails the transfer with CURLE_WRITE_ERROR
	}
	h.mu.Lock()
	fn, data, sink := h.opts.write, h.opts.writeData, h.opts.sink
	if header != 0 {
		fn, data = h.opts.header, h.opts.headerData
	}
	h.mu.Unlock()
	if sink != nil {
		// No copy: the sink copies what it keeps.
		b := unsafe.Slice((*byte)(unsafe.Pointer(ptr)), int(n))
		if header != 0 {
			return C.size_t(sink.header(b))
		}
		return C.size_t(sink.write(b))
	}
	if fn == nil {
		return 0
	}
	// A copy, as go-curl made: callers may keep the slice.
	buf := C.GoBytes(unsafe.Pointer(ptr), C.int(n))
	var ok bool
	p := protect(func() { ok = fn(buf, data) })
	switch {
	case p.panicked:
		recordPanic(uintptr(frame), &h.frame, p.value)
		return 0
	case ok:
		return n
	}
	// go-curl's meaning of false.
	return C.CURL_WRITEFUNC_PAUSE
}

//export curlsockGoRead
func curlsockGoRead(id C.uintptr_t, ptr *C.char, n C.size_t, frame C.uintptr_t) C.size_t {
	h := lookupHandle(uintptr(id))
	if h == nil || h.poisoned.Load() {
		return C.CURL_READFUNC_ABORT
	}
	h.mu.Lock()
	fn, data, sink := h.opts.read, h.opts.readData, h.opts.sink
	h.mu.Unlock()
	if sink != nil {
		return C.size_t(sink.read(unsafe.Slice((*byte)(unsafe.Pointer(ptr)), int(n))))
	}
	if fn == nil {
		return C.CURL_READFUNC_ABORT
	}
	buf := make([]byte, int(n))
	var got int
	p := protect(func() { got = fn(buf, data) })
	switch {
	case p.panicked:
		recordPanic(uintptr(frame), &h.frame, p.value)
		return C.CURL_READFUNC_ABORT
	case got == C.CURL_READFUNC_ABORT || got == C.CURL_READFUNC_PAUSE:
		return C.size_t(got)
	case got < 0 || got > len(buf):
		h.addErr(&CallbackError{Callback: CallbackRead, FD: -1, Err: fmt.Errorf("%w: read callback returned %d for a %d-byte buffer", ErrInvalidResult, got, len(buf))})
		return C.CURL_READFUNC_ABORT
	}
	if got > 0 {
		C.memcpy(unsafe.Pointer(ptr), unsafe.Pointer(&buf[0]), C.size_t(got))
	}
	return C.size_t(got)
}

//export curlsockGoSeek
func curlsockGoSeek(id C.uintptr_t, offset C.curl_off_t, origin C.int, frame C.uintptr_t) C.int {
	h := lookupHandle(uintptr(id))
	if h == nil || h.poisoned.Load() {
		return C.CURL_SEEKFUNC_FAIL
	}
	h.mu.Lock()
	sink := h.opts.sink
	h.mu.Unlock()
	if sink == nil {
		return C.CURL_SEEKFUNC_CANTSEEK
	}
	return C.int(sink.seek(int64(offset), int(origin)))
}

//export curlsockGoTrailer
func curlsockGoTrailer(id C.uintptr_t, list **C.struct_curl_slist) C.int {
	h := lookupHandle(uintptr(id))
	if h == nil || h.poisoned.Load() {
		return C.CURL_TRAILERFUNC_ABORT
	}
	h.mu.Lock()
	sink := h.opts.sink
	h.mu.Unlock()
	if sink == nil {
		return C.CURL_TRAILERFUNC_OK
	}
	// libcurl copies the strings and frees the list once it is sent.
	for _, line := range sink.requestTrailer() {
		cs := C.CString(line)
		l := C.curl_slist_append(*list, cs)
		C.free(unsafe.Pointer(cs))
		if l == nil {
			return C.CURL_TRAILERFUNC_ABORT
		}
		*list = l
	}
	return C.CURL_TRAILERFUNC_OK
}

//export curlsockGoProgress
func curlsockGoProgress(id C.uintptr_t, dltotal, dlnow, ultotal, ulnow C.double, frame C.uintptr_t) C.int {
	h := lookupHandle(uintptr(id))
	if h == nil || h.poisoned.Load() {
		return 1
	}
	h.mu.Lock()
	fn, data := h.opts.progress, h.opts.progressData
	h.mu.Unlock()
	if fn == nil {
		return 0
	}
	var ok bool
	p := protect(func() { ok = fn(float64(dltotal), float64(dlnow), float64(ultotal), float64(ulnow), data) })
	if p.panicked {
		recordPanic(uintptr(frame), &h.frame, p.value)
		return 1
	}
	if ok {
		return 0
	}
	return 1 // abort: CURLE_ABORTED_BY_CALLBACK
}

//export curlsockGoPrereq
func curlsockGoPrereq(id C.uintptr_t, primaryIP, localIP *C.char, primaryPort, localPort C.int, frame C.uintptr_t) C.int {
	h := lookupHandle(uintptr(id))
	if h == nil || h.poisoned.Load() {
		return C.CURL_PREREQFUNC_ABORT
	}
	cb := h.settings()
	fn, data := cb.runPrereq, cb.prereqData
	h.mu.Lock()
	var primary, local string
	if fn != nil {
		primary = reuseString(&h.prereqIPs[0], primaryIP)
		local = reuseString(&h.prereqIPs[1], localIP)
	}
	h.mu.Unlock()
	if fn == nil {
		return C.CURL_PREREQFUNC_OK
	}
	var err error
	p := protect(func() { err = fn(data, primary, local, int(primaryPort), int(localPort)) })
	if p.panicked {
		recordPanic(uintptr(frame), &h.frame, p.value)
		return C.CURL_PREREQFUNC_ABORT
	}
	if err != nil {
		addr := primary
		if primaryPort != 0 {
			addr = net.JoinHostPort(primary, strconv.Itoa(int(primaryPort)))
		}
		h.addErr(&CallbackError{Callback: CallbackPrereq, FD: -1, Addr: addr, Err: err})
		return C.CURL_PREREQFUNC_ABORT
	}
	return C.CURL_PREREQFUNC_OK
}

// reuseString returns the C string p as a Go string, *last if it is the same
// text, so that a handle that keeps connecting to one address does not
// allocate per transfer.
func reuseString(last *string, p *C.char) string {
	if p == nil {
		return ""
	}
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(p)), n)
	if string(b) != *last {
		*last = string(b)
	}
	return *last
}

// sockaddrPool recycles the Sockaddr handed to open-socket callbacks (valid
// only during the call, as libcurl's struct is), so that dispatch does not
// allocate.
var sockaddrPool = sync.Pool{New: func() any { return new(Sockaddr) }}

func (h *handleReg) openSocket(purpose SockType, p *C.struct_curl_sockaddr, frame uintptr) int {
	// The Sockaddr of the curlsock call driving libcurl on this thread: only
	// this thread touches it, so no atomics. It is busy if a callback of this
	// call made libcurl open another socket behind curlsock's back (go-curl's
	// own methods); libcurl may also be driven with no curlsock call at all
	// (go-curl's multi, a handle copied with go-curl's Duphandle). Then the
	// pool. No defer: nothing below panics, protect recovers the callback's.
	f := &h.frame
	if frame != h.id {
		f = lookupFrame(frame)
	}
	if f != nil && !f.saBusy {
		f.saBusy = true
		fd := h.openWith(f, &f.sa, purpose, p, frame)
		f.saBusy = false
		return fd
	}
	sa := sockaddrPool.Get().(*Sockaddr)
	fd := h.openWith(f, sa, purpose, p, frame)
	sockaddrPool.Put(sa)
	return fd
}

// openWith runs h's open-socket callback; f is the frame, nil when
// no curlsock call drives libcurl on this thread.
func (h *handleReg) openWith(f *frame, sa *Sockaddr, purpose SockType, p *C.struct_curl_sockaddr, frame uintptr) int {
	decodeSockaddr(sa, p)
	cb := h.settings()
	fn, data, closer, retired, named := cb.runOpen, cb.openData, cb.closer, cb.retired, cb.runSockopt != nil
	if fn == nil {
		// Installed only so that the sockets a close-socket callback will
		// see are accounted for: open what libcurl would have.
		fn = openPlain
	}
	fd, rec, err := protectCall(fn, data, purpose, sa)
	switch {
	case rec.panicked:
		recordPanic(frame, &h.frame, rec.value)
		return SOCKET_BAD
	case err != nil:
		// As everywhere in Go, a result that comes with an error means
		// nothing: (0, err) must not close stdin.
		return h.openFailed(purpose, sa, err, -1)
	case fd == SOCKET_BAD:
		return h.openFailed(purpose, sa, ErrRefused, -1)
	case fd < 0 || fd > math.MaxInt32:
		return h.openFailed(purpose, sa, fmt.Errorf("%w: opensocket returned %d", ErrInvalidFD, fd), -1)
	}
	// libcurl connects whatever it is given and closes it when done, with
	// close() when no close-socket callback is set. Anything but an open
	// socket (a closed number, a pipe, a file, stdin) is not ours to hand
	// over: report it and leave it alone, close-socket callback or not.
	// Checked first, so that a failed rewrite below closes only a socket. A
	// socket OpenSocket just made for this very attempt is one already.
	var identity *unix.Stat_t
	if !sa.Made(fd) || closer != nil && eagerIdentity {
		var st unix.Stat_t
		if err := socketStat(fd, &st); err != nil {
			return h.openFailed(purpose, sa, fmt.Errorf("%w: fd %d: %v", ErrInvalidFD, fd, err), -1)
		}
		identity = &st
	}
	if sa.Changed() {
		if err := writeBack(sa, p); err != nil {
			return h.openFailed(purpose, sa, err, fd)
		}
	}
	if closer != nil {
		chargeFD(fd, identity, closer, retired)
	}
	// Only a sockopt callback's error names the destination (addrOf).
	if f != nil {
		f.lastFD = -1
		if named {
			f.lastFD, f.lastAddr, f.lastPath = fd, sa.Addr, sa.Path
		}
	}
	return fd
}

// openFailed records a refused attempt. fd, if not -1, is a socket that was
// being handed over: refusing it must not leak it.
func openPlain(_ any, _ SockType, sa *Sockaddr) (int, error) { return OpenSocket(sa) }

func (h *handleReg) openFailed(purpose SockType, sa *Sockaddr, err error, fd int) int {
	if fd >= 0 {
		unix.Close(fd)
	}
	h.addErr(&CallbackError{Callback: CallbackOpenSocket, Purpose: purpose, FD: -1, Addr: sa.String(), Err: err})
	return SOCKET_BAD
}

func (h *handleReg) sockoptSocket(fd int, purpose SockType, frame uintptr) int {
	cb := h.settings()
	fn, data := cb.runSockopt, cb.sockoptData
	if fn == nil {
		return SOCKOPT_OK
	}
	code, p, err := protectCall(fn, data, fd, purpose)
	if p.panicked {
		recordPanic(frame, &h.frame, p.value)
		return SOCKOPT_ERROR
	}
	switch {
	case err != nil:
	case code == SOCKOPT_OK:
		return SOCKOPT_OK
	case code == SOCKOPT_ERROR:
		err = ErrSockoptFailed
	case code == SOCKOPT_ALREADY_CONNECTED && purpose == SOCKTYPE_ACCEPT:
		err = fmt.Errorf("%w: SOCKOPT_ALREADY_CONNECTED for an accepted socket", ErrInvalidSockopt)
	case code == SOCKOPT_ALREADY_CONNECTED && alreadyConnectedBroken:
		err = fmt.Errorf("%w (libcurl %s)", ErrAlreadyConnectedUnsupported, versionString())
	case code == SOCKOPT_ALREADY_CONNECTED:
		return SOCKOPT_ALREADY_CONNECTED
	default:
		err = fmt.Errorf("%w: %d", ErrInvalidSockopt, code)
	}
	h.addErr(&CallbackError{Callback: CallbackSockopt, Purpose: purpose, FD: fd, Addr: addrOf(lookupFrame(frame), fd), Err: err})
	return SOCKOPT_ERROR
}

// addrOf names the destination of fd for an error message: the address it
// was opened for in frame f, or its peer (an accepted socket).
func addrOf(f *frame, fd int) string {
	if f != nil && f.lastFD == fd {
		return (&Sockaddr{Addr: f.lastAddr, Path: f.lastPath}).String()
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		if s := sockaddrString(sa); s != "" {
			return s
		}
	}
	return ""
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return fmt.Sprintf("%d.%d.%d.%d:%d", a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3], a.Port)
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			ip = ip.WithZone(zoneName(a.ZoneId))
		}
		return netip.AddrPortFrom(ip, uint16(a.Port)).String()
	case *unix.SockaddrUnix:
		return "unix:" + a.Name
	}
	return ""
}

func closeSocket(id uintptr, fd int, frame uintptr) {
	entry, tracked := takeFD(fd)
	c := lookupCloser(id)
	if c != nil && poisonedHandles.Load() > 0 {
		// A socket of a transfer whose callback panicked on an engine: closed
		// without running its callback, as after a panic anywhere else.
		if o := lookupHandle(c.owner); o != nil && o.poisoned.Load() {
			c = nil
		}
	}
	if c == nil {
		// Not ours to attribute (a registration already freed, or a stale
		// id): libcurl still forgets fd, so close it rather than leak it.
		unix.Close(fd)
		if tracked {
			releaseFD(entry)
		}
		return
	}
	var err error
	p := protect(func() { err = c.fn(c.data, fd) })
	if p.panicked {
		recordPanic(frame, lookupFrame(c.owner), p.value)
	}
	if p.panicked && tracked && entry.isSame(fd) {
		// The callback died before closing: close it for libcurl. If fd is
		// no longer the same socket it was closed already, and the number may
		// belong to someone else now; a socket curlsock did not open (another
		// handle's, on a shared connection) cannot be told apart, and is left.
		// On libcurl ≥ 8.2 an entry whose identity no sweep has learnt yet is
		// taken for the same socket: a callback that closes fd, lets the
		// number be reused, then panics, has that socket closed. Learning
		// the identity before every close would cost the fstat per
		// connection that the lazy identity saves (see fdEntry).
		unix.Close(fd)
	}
	if tracked {
		releaseFD(entry)
	}
	if err != nil && frame != 0 {
		if f := lookupHandle(frame); f != nil {
			f.addErr(&CallbackError{Callback: CallbackCloseSocket, Purpose: SOCKTYPE_IPCXN, FD: fd, Err: err})
		}
	}
}

// maxErrs bounds the errors kept for one transfer: a handle driven behind
// curlsock's back (go-curl's own multi) never has them collected.
const maxErrs = 64

func (h *handleReg) addErr(e *CallbackError) {
	h.mu.Lock()
	if len(h.errs) < maxErrs {
		h.errs = append(h.errs, e)
	}
	h.mu.Unlock()
}

func (h *handleReg) setMulti(m *CURLM) {
	h.mu.Lock()
	h.multi = m
	h.mu.Unlock()
}

// zoneName names an IPv6 scope id as sock.Sockaddr does: the interface's
// name, else the number.
func zoneName(scope uint32) string {
	if ifi, err := net.InterfaceByIndex(int(scope)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(scope), 10)
}
