package curl

/*
#include "callbacks.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	gocurl "github.com/andelf/go-curl"
)

// CURL is an easy handle: go-curl's, with every go-curl method promoted, plus
// the socket callbacks. Use EasyInit, or Wrap for a handle made by go-curl.
type CURL struct {
	*gocurl.CURL
	reg *handleReg
}

// EasyInit creates an easy handle (curl_easy_init). It returns nil if libcurl
// cannot.
func EasyInit() *CURL {
	return Wrap(gocurl.EasyInit())
}

// Wrap adopts a handle created with go-curl. Wrapping the same handle twice
// gives two *CURL sharing one set of callbacks. Once adopted, clean the
// handle up with the wrapper's Cleanup: go-curl's own would skip releasing
// curlsock's registrations.
func Wrap(h *gocurl.CURL) *CURL {
	if h == nil || h.GetHandle() == nil {
		return nil
	}
	reg, created := handleFor(uintptr(h.GetHandle()))
	e := &CURL{CURL: h, reg: reg}
	if created {
		// Fails only when out of memory; the handle works without its
		// detail text then.
		_ = e.setErrorBuffer()
	}
	return e
}

func (e *CURL) handle() unsafe.Pointer { return e.CURL.GetHandle() }

// Setopt sets an option (curl_easy_setopt). The callback options take Go
// functions:
//
//	OPT_OPENSOCKETFUNCTION   OpenSocketFunc, or func(any, SockType, *Sockaddr) (int, error)
//	OPT_SOCKOPTFUNCTION      SockoptFunc, or func(any, int, SockType) (int, error)
//	OPT_CLOSESOCKETFUNCTION  CloseSocketFunc, or func(any, int) error
//	OPT_PREREQFUNCTION       PrereqFunc
//	OPT_WRITEFUNCTION, OPT_HEADERFUNCTION, OPT_READFUNCTION, OPT_PROGRESSFUNCTION  as in go-curl
//	OPT_*DATA, OPT_PRIVATE   any value, kept in Go and passed to the callback
//
// Other options take what go-curl's take — int or bool for numbers, string
// for strings, []string for lists — plus int64 for off_t options, []byte for
// blobs and *CURLSH for OPT_SHARE. nil removes a callback or resets an
// option. A value libcurl cannot be given safely is refused with an error
// wrapping ErrOptionType, never a panic.
func (e *CURL) Setopt(opt int, param any) error {
	h := e.reg
	if h.isCleaned() {
		return ErrHandleClosed
	}
	h.raise()
	switch opt {
	case OPT_OPENSOCKETFUNCTION:
		fn, err := asOpenSocketFunc(param)
		if err != nil {
			return err
		}
		h.mu.Lock()
		if fn != nil && h.inst != nil && h.inst.Dialer != nil {
			h.mu.Unlock()
			return fmt.Errorf("%w: the handle's Sockets.Dialer makes its sockets; an open-socket callback cannot too", ErrInstallConflict)
		}
		h.open = fn
		h.publishLocked()
		h.mu.Unlock()
	case OPT_OPENSOCKETDATA:
		h.mu.Lock()
		h.openData = param
		h.publishLocked()
		h.mu.Unlock()
		return nil
	case OPT_SOCKOPTFUNCTION:
		fn, err := asSockoptFunc(param)
		if err != nil {
			return err
		}
		h.mu.Lock()
		h.sockopt = fn
		h.publishLocked()
		h.mu.Unlock()
	case OPT_SOCKOPTDATA:
		h.mu.Lock()
		h.sockoptData = param
		h.publishLocked()
		h.mu.Unlock()
		return nil
	case OPT_CLOSESOCKETFUNCTION:
		fn, err := asCloseSocketFunc(param)
		if err != nil {
			return err
		}
		return e.setCloser(func() { h.closeFn = fn })
	case OPT_CLOSESOCKETDATA:
		return e.setCloser(func() { h.closeData = param })
	case C.CURLOPT_PREREQFUNCTION:
		var fn PrereqFunc
		switch f := param.(type) {
		case nil:
		case PrereqFunc:
			fn = f
		case func(any, string, string, int, int) error:
			fn = f
		default:
			return fmt.Errorf("%w: CURLOPT_PREREQFUNCTION takes a PrereqFunc, not %T", ErrOptionType, param)
		}
		h.mu.Lock()
		h.prereq = fn
		h.publishLocked()
		h.mu.Unlock()
	case C.CURLOPT_PREREQDATA:
		h.mu.Lock()
		h.prereqData = param
		h.publishLocked()
		h.mu.Unlock()
		return nil
	case C.CURLOPT_SHARE:
		return e.setShare(param)
	default:
		if done, err := e.setGoverned(opt, param); done {
			return err
		}
		return e.setoptOther(opt, param)
	}
	return e.install()
}

// setCloser applies change to the close-socket settings. libcurl copies the
// function and its data into each connection it creates, so a change never
// mutates the registration those connections hold: it makes a new one.
func (e *CURL) setCloser(change func()) error {
	h := e.reg
	h.mu.Lock()
	change()
	old := h.closer
	h.closer = nil
	switch {
	case h.inst != nil:
		h.closer = newCloseReg(h.inst.closeFunc(h.closeFn), h.closeData, h.id)
	case h.closeFn != nil:
		h.closer = newCloseReg(h.closeFn, h.closeData, h.id)
	}
	// A transfer under way (in a multi, or a callback changing the option
	// mid-Perform) may have created a connection that holds the old id but
	// has no socket yet: keep the old registration until it is idle, and
	// as long as any socket opened meanwhile (chargeFD's also).
	busy := old != nil && (h.multi != nil || h.performing)
	if busy {
		h.retired = append(h.retired, old)
	}
	h.publishLocked()
	h.mu.Unlock()
	err := e.install()
	if !busy {
		unsetCloser(old)
	}
	return err
}

// releaseRetired drops the registrations kept by setCloser, once no transfer
// of the handle is under way.
func (h *handleReg) releaseRetired() {
	h.mu.Lock()
	retired := h.retired
	h.retired = nil
	if retired != nil {
		h.publishLocked()
	}
	h.mu.Unlock()
	for _, c := range retired {
		unsetCloser(c)
	}
}

// install hands libcurl the socket trampolines the current settings need.
// The open-socket trampoline is installed whenever any socket callback is:
// the sockets a close-socket callback will be asked to close must be
// accounted for, and a sockopt error names the address the socket was
// opened for.
func (e *CURL) install() error {
	h := e.reg
	h.mu.Lock()
	installed := h.inst != nil
	open := h.open != nil || h.sockopt != nil || h.closeFn != nil || installed
	sockopt := h.sockopt != nil || installed
	prereq := h.prereq != nil || installed && h.inst.checksPrereq()
	var closeID uintptr
	if h.closer != nil {
		closeID = h.closer.id
	}
	h.mu.Unlock()
	p := e.handle()
	var ids [3]uintptr
	if open {
		ids[0] = h.id
	}
	if sockopt {
		ids[1] = h.id
	}
	ids[2] = closeID
	return firstErr(
		C.curlsock_setopt_id(p, C.CURLOPT_OPENSOCKETDATA, C.uintptr_t(ids[0])),
		C.curlsock_set_opensocket(p, cbool(open)),
		C.curlsock_setopt_id(p, C.CURLOPT_SOCKOPTDATA, C.uintptr_t(ids[1])),
		C.curlsock_set_sockopt(p, cbool(sockopt)),
		C.curlsock_setopt_id(p, C.CURLOPT_CLOSESOCKETDATA, C.uintptr_t(ids[2])),
		C.curlsock_set_closesocket(p, cbool(closeID != 0)),
		C.curlsock_set_prereq(p, cbool(prereq), C.uintptr_t(h.id)),
	)
}

// installData hands libcurl the data callback trampolines the current
// settings need. It is separate from install so that setting a data callback
// on a handle duplicated behind curlsock's back leaves its socket callback
// ids alone: they fail closed rather than silently disappear.
func (e *CURL) installData() error {
	h := e.reg
	h.mu.Lock()
	write, header := h.opts.write != nil, h.opts.header != nil
	read, progress := h.opts.read != nil, h.opts.progress != nil
	h.mu.Unlock()
	p, id := e.handle(), C.uintptr_t(h.id)
	return firstErr(
		C.curlsock_set_write(p, cbool(write), id),
		C.curlsock_set_header(p, cbool(header), id),
		C.curlsock_set_read(p, cbool(read), id),
		C.curlsock_set_progress(p, cbool(progress), id),
	)
}

func firstErr(rcs ...C.CURLcode) error {
	for _, rc := range rcs {
		if rc != C.CURLE_OK {
			return CurlError(rc)
		}
	}
	return nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// Perform performs the transfer (curl_easy_perform). Without callback errors
// it returns exactly what go-curl returns, a bare CurlError on failure (the
// detail text is in ErrorText); when the transfer fails and socket callbacks
// returned errors during it, an *Error. A panic in a callback is raised
// again here.
func (e *CURL) Perform() error {
	h := e.reg
	if h.isCleaned() {
		return ErrHandleClosed
	}
	h.raise()
	if err := h.refusal(); err != nil {
		h.startTransfer()
		return err
	}
	h.mu.Lock()
	// From inside one of the handle's own callbacks, or while the handle is
	// in a multi, libcurl refuses the call (E_FAILED_INIT): the transfer
	// under way keeps its callback errors and its state.
	nested := h.performing || h.multi != nil
	if !nested {
		h.performing = true
	}
	h.mu.Unlock()
	if !nested {
		h.startTransfer()
	}
	var err error
	h.drive(func() { err = e.CURL.Perform() })
	if nested {
		return err
	}
	h.endTransfer()
	h.mu.Lock()
	h.performing = false
	idle := h.multi == nil
	h.mu.Unlock()
	if idle {
		h.releaseRetired()
	}
	h.raise()
	return h.result(err)
}

// result is what a finished transfer of the handle returns for libcurl's
// err: err itself, or an *Error when callbacks failed during the transfer.
func (h *handleReg) result(err error) error {
	code, ok := err.(CurlError)
	if !ok {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) == 0 {
		return err
	}
	return &Error{Code: code, Detail: h.detail.text, Callbacks: append([]*CallbackError(nil), h.errs...)}
}

// CallbackErrors returns the socket callback errors of the handle's current
// or last transfer: they are kept from the start of one transfer (Perform,
// or AddHandle to a multi) until the next one starts.
func (e *CURL) CallbackErrors() []*CallbackError {
	h := e.reg
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*CallbackError(nil), h.errs...)
}

// Cleanup ends the session (curl_easy_cleanup). Close-socket callbacks that
// libcurl may still call later, from a connection cache that outlives the
// handle, stay valid. Calling it twice is harmless. Called from a callback
// while libcurl is still running, it closes the handle for its caller at
// once, and frees it when the curlsock call driving libcurl returns; the
// handle's own Perform then fails without running more Go callbacks.
func (e *CURL) Cleanup() {
	h := e.reg
	h.mu.Lock()
	done := h.cleaned
	h.cleaned = true
	h.mu.Unlock()
	if done {
		return
	}
	if currentFrame() == h {
		C.curlsock_frame_poison()
	}
	if e.cleanup() {
		h.raise()
	}
}

// cleanup frees the handle and reports whether it did. Inside a callback it
// leaves that to the frame libcurl is running (see drive): curl_easy_cleanup
// frees a handle libcurl is still using without checking, and libcurl
// (7.88 and 8.x) then crashes, hangs or leaks.
func (e *CURL) cleanup() bool {
	h := e.reg
	if f := currentFrame(); f != nil {
		f.mu.Lock()
		f.deferred = append(f.deferred, e)
		f.mu.Unlock()
		return false
	}
	// Before libcurl frees the handle: malloc may give its address to the
	// next handle at once, and that one must not find this registration.
	forgetPtr(h)
	h.mu.Lock()
	m := h.multi
	h.multi = nil
	h.mu.Unlock()
	// libcurl takes a handle out of its multi before cleaning it up.
	if m != nil {
		m.forget(e.CURL.GetHandle())
	}
	h.drive(func() { e.CURL.Cleanup() })
	h.freeErrorBuffer()
	old := h.detach()
	unsetCloser(old)
	h.releaseRetired()
	h.freeOptions()
	forgetHandle(h)
	return true
}

// Reset resets every option (curl_easy_reset), the socket callbacks included;
// after Cleanup it does nothing. A Sockets installation stays, and is set
// again on the reset handle: use Uninstall to remove it. Connections the
// handle keeps cached still close through the close-socket callback they
// were made with.
func (e *CURL) Reset() {
	h := e.reg
	if h.isCleaned() {
		return
	}
	h.raise()
	e.CURL.Reset()
	unsetCloser(h.detach())
	// libcurl forgot the lists and POSTFIELDS along with every option.
	h.freeOptions()
	// Set before, so they cannot fail now but for lack of memory, and then
	// a handle whose installation failed refuses transfers.
	_ = e.setErrorBuffer()
	h.mu.Lock()
	installed := h.inst != nil
	h.mu.Unlock()
	if installed {
		if err := e.applyInstallation(); err != nil {
			e.failInstallation(err)
		}
	}
}

// Duphandle clones the handle (curl_easy_duphandle); nil after Cleanup. The
// copy gets its own registrations, with the same callbacks and data, and its
// own Sockets installation with the same settings: it does not depend on the
// original, which may be cleaned up first.
func (e *CURL) Duphandle() *CURL {
	if e.reg.isCleaned() {
		return nil
	}
	e.reg.raise()
	d := Wrap(e.CURL.Duphandle())
	if d == nil {
		return nil
	}
	if !d.reg.hasErrorBuffer() {
		// Out of memory: the copy would write into the original's buffer.
		d.Cleanup()
		return nil
	}
	// libcurl copied the original's ids verbatim (dupset in easy.c); nothing
	// can call them on the copy before install replaces them.
	src, dst := e.reg, d.reg
	src.mu.Lock()
	open, openData := src.open, src.openData
	sockopt, sockoptData := src.sockopt, src.sockoptData
	prereq, prereqData := src.prereq, src.prereqData
	closeFn, closeData := src.closeFn, src.closeData
	inst, gov := src.inst, src.governed
	opts := src.opts
	// libcurl would have written both handles' text into the one buffer.
	userErrBuf := src.detail.user
	src.mu.Unlock()
	opts.slists, opts.postfields, opts.postfieldsValue = nil, nil, ""
	dst.mu.Lock()
	dst.detail.user = userErrBuf
	dst.open, dst.openData = open, openData
	dst.sockopt, dst.sockoptData = sockopt, sockoptData
	dst.prereq, dst.prereqData = prereq, prereqData
	dst.governed = gov
	if inst != nil {
		// Its own copy: the original's records are of the original's sockets.
		dst.inst = inst.copyFor(dst)
	}
	dst.opts = opts
	dst.publishLocked()
	dst.mu.Unlock()
	err := d.setCloser(func() { dst.closeFn, dst.closeData = closeFn, closeData })
	if err == nil {
		err = d.installData()
	}
	if err == nil {
		err = d.copyOptions(src)
	}
	if err != nil {
		// Setting callbacks on a fresh handle fails only if libcurl is out of
		// memory; a copy whose ids still point at the original must not run.
		d.Cleanup()
		return nil
	}
	return d
}

// refusal is what a transfer of the handle returns without starting: the
// error of a failed Sockets.Install, nil if there is none.
func (h *handleReg) refusal() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.inst != nil {
		return h.inst.failed
	}
	return nil
}

func (h *handleReg) isCleaned() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cleaned
}

// detach forgets every callback setting and returns the close-socket
// registration the handle held, for the caller to release.
func (h *handleReg) detach() *closeReg {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.closer
	h.open, h.openData = nil, nil
	h.sockopt, h.sockoptData = nil, nil
	h.prereq, h.prereqData = nil, nil
	h.closeFn, h.closeData, h.closer = nil, nil, nil
	h.governed = governed{}
	h.detail.user = nil // libcurl forgets CURLOPT_ERRORBUFFER too
	h.publishLocked()
	h.lastFD = -1
	// The C memory is freed by freeOptions, once libcurl is done with it.
	slists, post := h.opts.slists, h.opts.postfields
	h.opts = optionState{slists: slists, postfields: post}
	return old
}

func asOpenSocketFunc(param any) (OpenSocketFunc, error) {
	switch f := param.(type) {
	case nil:
		return nil, nil
	case OpenSocketFunc:
		return f, nil
	case func(any, SockType, *Sockaddr) (int, error):
		return f, nil
	}
	return nil, fmt.Errorf("%w: CURLOPT_OPENSOCKETFUNCTION takes an OpenSocketFunc, not %T", ErrOptionType, param)
}

func asSockoptFunc(param any) (SockoptFunc, error) {
	switch f := param.(type) {
	case nil:
		return nil, nil
	case SockoptFunc:
		return f, nil
	case func(any, int, SockType) (int, error):
		return f, nil
	}
	return nil, fmt.Errorf("%w: CURLOPT_SOCKOPTFUNCTION takes a SockoptFunc, not %T", ErrOptionType, param)
}

func asCloseSocketFunc(param any) (CloseSocketFunc, error) {
	switch f := param.(type) {
	case nil:
		return nil, nil
	case CloseSocketFunc:
		return f, nil
	case func(any, int) error:
		return f, nil
	}
	return nil, fmt.Errorf("%w: CURLOPT_CLOSESOCKETFUNCTION takes a CloseSocketFunc, not %T", ErrOptionType, param)
}
