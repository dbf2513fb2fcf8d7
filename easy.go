//go:build linux

package curl

/*
#include <stdlib.h>
#include "callbacks.h"
*/
import "C"

import (
	"context"
	"unsafe"

	gocurl "github.com/andelf/go-curl"
	"golang.org/x/sys/unix"
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
	if err := h.busy(); err != nil {
		return err
	}
	h.raise()
	if err := h.refusal(); err != nil {
		h.startTransfer()
		return err
	}
	h.mu.Lock()
	h.waitIdleOp()
	// From inside one of the handle's own callbacks, or while the handle is
	// in a multi or an engine, libcurl refuses the call (E_FAILED_INIT): the
	// transfer under way keeps its callback errors and its state.
	nested := h.performing || h.multi != nil || h.active != nil
	if !nested {
		h.performing = true
	}
	h.mu.Unlock()
	if !nested {
		h.startTransfer()
	}
	var err error
	h.drive(func() {
		if !nested {
			h.performTID.Store(int32(unix.Gettid())) // drive locked the thread
		}
		err = e.CURL.Perform()
	})
	if nested {
		return err
	}
	h.performTID.Store(0)
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

// PerformContext is Perform that returns when ctx is done: the transfer is
// stopped (its connection closed) and the error matches ctx.Err() with
// errors.Is; a ctx already done returns ctx.Err() without starting.
//
// It runs the transfer on a multi of the handle's own, driven by the calling
// goroutine through Go's netpoller, never on a shared engine; the multi is
// kept across calls, so that connections are reused as by Perform, and freed
// by Cleanup. Otherwise it behaves as Perform: same results, callbacks on the
// calling goroutine, a callback's panic raised here. OPT_CONNECT_ONLY is the
// exception: its connection would close as the handle leaves the multi, so
// PerformContext (and Engine.Do) return ErrConnectOnly; use Perform.
func (e *CURL) PerformContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := e.reg
	s, err := h.ownShard()
	if err != nil {
		return err
	}
	t, err := e.beginTransfer(ctx, s)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		_ = s.submit(command{kind: cmdCancel, t: t, err: canceled(ctx)})
	})
	returned := false
	defer func() {
		if !returned {
			// A callback ended this goroutine inside libcurl.
			h.mu.Lock()
			h.own = nil
			h.mu.Unlock()
			s.abandon()
			h.abortTransfer()
			h.unpoison()
		}
	}()
	s.start(t)
	if !t.ended() {
		s.run(t.ended)
	}
	returned = true
	stop()
	return e.endTransferOf(t)
}

// ownShard returns PerformContext's multi for the handle, made on first use.
func (h *handleReg) ownShard() (*shard, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cleaned {
		return nil, ErrHandleClosed
	}
	if h.own == nil {
		// As many idle connections as a lone handle's own cache keeps
		// (CURLOPT_MAXCONNECTS' default).
		s, err := newShard(kindShard, 5)
		if err != nil {
			return nil, err
		}
		h.own = s
	}
	return h.own, nil
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
//
// During a transfer of an Engine or PerformContext, Cleanup stops it, and
// the goroutine waiting for it frees the handle as its Do or PerformContext
// returns ErrHandleClosed.
func (e *CURL) Cleanup() {
	h := e.reg
	f := currentFrame()
	h.mu.Lock()
	done := h.cleaned
	h.cleaned = true
	t := h.active
	if !done && t != nil {
		h.cleanupAfter = true
	}
	h.mu.Unlock()
	switch {
	case done:
		return
	case t != nil && shardFrameOfThread() == t.shard.frame.id:
		// From a callback on the goroutine driving the transfer: its other
		// callbacks stop now, and the shard ends it after this round.
		t.shard.frame.poisonTransfer(h)
		return
	case t != nil:
		// If the shard stopped meanwhile, it ends the transfer itself.
		_ = t.shard.submit(command{kind: cmdCancel, t: t, err: ErrHandleClosed})
		return
	case f == &h.frame:
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
	own := h.own
	h.own = nil
	h.mu.Unlock()
	// libcurl takes a handle out of its multi before cleaning it up.
	if m != nil {
		m.forget(e.handle())
	}
	// PerformContext's multi: its cached connections close through the
	// handle's close-socket callback, still set.
	if own != nil {
		own.free()
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
// were made with. While the handle is in Do or PerformContext on another
// goroutine, Reset does nothing: go-curl's Reset returns no error to say
// ErrHandleBusy with.
func (e *CURL) Reset() {
	h := e.reg
	if h.isCleaned() {
		return
	}
	if h.busy() != nil {
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
	if h.settings().inst != nil {
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
	if e.reg.isCleaned() || e.reg.busy() != nil {
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
	ss := src.settings()
	src.mu.Lock()
	gov, opts := src.governed, src.opts
	// libcurl would have written both handles' text into the one buffer.
	userErrBuf := src.detail.user
	src.mu.Unlock()
	opts.slists, opts.postfields, opts.postfieldsValue = nil, nil, ""
	dst.mu.Lock()
	dst.detail.user = userErrBuf
	dst.governed = gov
	dst.opts = opts
	dst.changeLocked(func(s *callbackSettings) {
		s.open, s.openData = ss.open, ss.openData
		s.sockopt, s.sockoptData = ss.sockopt, ss.sockoptData
		s.prereq, s.prereqData = ss.prereq, ss.prereqData
		if ss.inst != nil {
			// Its own copy: the original's records are of its own sockets.
			s.inst = ss.inst.copyFor(dst)
		}
	})
	dst.mu.Unlock()
	err := d.setCloser(func(s *callbackSettings) { s.closeFn, s.closeData = ss.closeFn, ss.closeData })
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
	if inst := h.settings().inst; inst != nil {
		return inst.failed
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
	old := h.settings().closer
	// The installation stays (Reset sets it again), and so do the
	// registrations a transfer may still hold.
	h.changeLocked(func(s *callbackSettings) { *s = callbackSettings{inst: s.inst, retired: s.retired} })
	h.governed = governed{}
	h.detail.user = nil // libcurl forgets CURLOPT_ERRORBUFFER too
	h.lastFD = -1
	// The C memory is freed by freeOptions, once libcurl is done with it.
	slists, post := h.opts.slists, h.opts.postfields
	h.opts = optionState{slists: slists, postfields: post}
	return old
}

// Pause pauses or resumes the transfer's directions (curl_easy_pause).
// Resuming may deliver buffered data to the write callback at once, so it
// runs as a curlsock call driving libcurl; on a cleaned-up handle it returns
// ErrHandleClosed. While the handle is in Engine.Do or PerformContext on
// another goroutine, the goroutine driving the transfer runs the pause and
// Pause waits for it; on a transfer that ended meanwhile it does nothing.
//
// libcurl's calls on one handle must not overlap, and curl_easy_pause must
// run on the thread driving the transfer: a Pause from another goroutine
// during Perform returns ErrHandleBusy, and a Do, PerformContext or Perform
// that starts while Pause runs on the idle handle waits for it.
func (e *CURL) Pause(bitmask int) error {
	h := e.reg
	t, release, err := h.pauseClaim()
	if err != nil {
		return err
	}
	if t != nil {
		// In Do or PerformContext on another goroutine: the one driving
		// the transfer runs the pause.
		reply := make(chan error, 1)
		if err := t.shard.submit(command{kind: cmdPause, t: t, bits: bitmask, reply: reply}); err != nil {
			return err
		}
		select {
		case err := <-reply:
			return err
		case <-t.done:
			// Ended first: PerformContext's shard may run no more rounds.
			return nil
		}
	}
	defer release()
	var rc C.CURLcode
	h.drive(func() { rc = C.curl_easy_pause(e.handle(), C.int(bitmask)) })
	h.raise()
	return curlErr(rc)
}

// pauseClaim says where Pause runs: t, the transfer of an engine or
// PerformContext driven elsewhere, for its goroutine to pause; or here, with
// release to call after curl_easy_pause. Here is a callback of the
// handle's transfer, a handle in a curlsock multi (its user drives it), or
// an idle handle, which stays claimed until release.
func (h *handleReg) pauseClaim() (t *transfer, release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waitIdleOp()
	switch {
	case h.cleaned:
		return nil, nil, ErrHandleClosed
	case h.active != nil:
		if shardFrameOfThread() == h.active.shard.frame.id {
			return nil, func() {}, nil
		}
		return h.active, nil, nil
	case h.performing:
		if int(h.performTID.Load()) != unix.Gettid() {
			return nil, nil, ErrHandleBusy
		}
		return nil, func() {}, nil
	case h.multi != nil:
		return nil, func() {}, nil
	}
	return nil, h.claimIdleLocked(), nil
}

// claimIdle claims the handle for an operation that must not overlap a
// transfer (Install, Uninstall): ErrHandleBusy while one is under way,
// anywhere; else a transfer starting before release waits.
func (h *handleReg) claimIdle() (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waitIdleOp()
	switch {
	case h.cleaned:
		return nil, ErrHandleClosed
	case h.performing || h.multi != nil || h.active != nil:
		return nil, ErrHandleBusy
	}
	return h.claimIdleLocked(), nil
}

// claimIdleLocked marks an operation on the idle handle, with h.mu held.
func (h *handleReg) claimIdleLocked() (release func()) {
	p := make(chan struct{})
	h.idleOp = p
	return func() {
		h.mu.Lock()
		h.idleOp = nil
		h.mu.Unlock()
		close(p)
	}
}

// waitIdleOp waits, with h.mu held, until no operation runs on the idle
// handle.
func (h *handleReg) waitIdleOp() {
	for h.idleOp != nil {
		p := h.idleOp
		h.mu.Unlock()
		<-p
		h.mu.Lock()
	}
}

// Escape URL-encodes s (curl_easy_escape). libcurl ignores the handle
// (since 7.82.0), so this never touches it, cleaned up or not; embedded NUL
// bytes are encoded too.
func (e *CURL) Escape(s string) string {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	out := C.curl_easy_escape(nil, cs, C.int(len(s)))
	if out == nil {
		return ""
	}
	defer C.curl_free(unsafe.Pointer(out))
	return C.GoString(out)
}

// Unescape URL-decodes s (curl_easy_unescape), without touching the handle.
func (e *CURL) Unescape(s string) string {
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	n := C.int(0)
	out := C.curl_easy_unescape(nil, cs, C.int(len(s)), &n)
	if out == nil {
		return ""
	}
	defer C.curl_free(unsafe.Pointer(out))
	return C.GoStringN(out, n)
}

// Recv receives raw data on a CONNECT_ONLY connection (curl_easy_recv).
// go-curl's leaked a C copy of the buffer on every call.
func (e *CURL) Recv(buffer []byte) (int, error) {
	if e.reg.isCleaned() {
		return 0, ErrHandleClosed
	}
	if err := e.reg.busy(); err != nil {
		return 0, err
	}
	if len(buffer) == 0 {
		return 0, nil
	}
	n := C.size_t(0)
	// libcurl writes into the buffer only during the call: a Go slice's
	// memory may be passed, as it holds no Go pointers.
	rc := C.curl_easy_recv(e.handle(), unsafe.Pointer(&buffer[0]), C.size_t(len(buffer)), &n)
	return int(n), curlErr(rc)
}

// Send sends raw data on a CONNECT_ONLY connection (curl_easy_send).
func (e *CURL) Send(buffer []byte) (int, error) {
	if e.reg.isCleaned() {
		return 0, ErrHandleClosed
	}
	if err := e.reg.busy(); err != nil {
		return 0, err
	}
	if len(buffer) == 0 {
		return 0, nil
	}
	n := C.size_t(0)
	rc := C.curl_easy_send(e.handle(), unsafe.Pointer(&buffer[0]), C.size_t(len(buffer)), &n)
	return int(n), curlErr(rc)
}
