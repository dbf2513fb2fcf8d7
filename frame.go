//go:build linux

package curl

/*
#include "callbacks.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync/atomic"
)

// Frames. libcurl runs every callback on the thread of the call that drove
// it (curl_easy_perform, curl_multi_perform, curl_*_cleanup, ...). The
// curlsock call that makes such a call is a frame: it records itself in a C
// thread-local (callbacks.c), so that a callback knows where to report a
// panic, and so that after a panic the rest of the frame's callbacks fail in
// C without entering Go. Once libcurl has returned, the frame raises the
// panic again with its original value, and frees the handles its callbacks
// cleaned up. Everything about frames and panics is in this file.

// drive runs f, a call into libcurl, as a frame: callbacks that libcurl runs
// on this thread during f report panics to h.
func (h *frame) drive(f func()) {
	h.enter(f)
	// Handles cleaned up from callbacks during f, now that libcurl has
	// returned; inside an outer frame, cleanup hands them on to it.
	h.mu.Lock()
	deferred := h.deferred
	h.deferred = nil
	h.mu.Unlock()
	for _, e := range deferred {
		if e.cleanup() {
			// A callback's panic during that cleanup is raised by this call.
			if p, v := e.reg.takePanic(); p {
				h.keepPanic(v)
			}
		}
	}
}

func (h *frame) enter(f func()) {
	// The frame lives in a C thread-local: f's cgo call must run on the
	// thread that recorded it.
	runtime.LockOSThread()
	saved := C.curlsock_frame_enter(C.uintptr_t(h.id))
	defer func() {
		C.curlsock_frame_leave(saved)
		runtime.UnlockOSThread()
	}()
	f()
}

// currentFrame returns the frame of the curlsock call that is driving
// libcurl on this thread: non-nil only inside a libcurl callback, where the
// goroutine is locked to the thread.
func currentFrame() *frame {
	if id := uintptr(C.curlsock_frame_current()); id != 0 {
		return lookupFrame(id)
	}
	return nil
}

// recovered is what a callback's recovery saw. panicked tells a panic from a
// return even for panic(nil) under GODEBUG=panicnil=1, where recover gives
// nil. The caller records it (recordPanic): runtime.Goexit runs the same
// deferred recovery, which cannot stop it, and then the caller never resumes
// and nothing is recorded that a later call would raise.
type recovered struct {
	panicked bool
	value    any
}

// protect runs f, a user's callback, and recovers its panic. f's closure
// does not escape: protecting a callback allocates nothing.
func protect(f func()) (p recovered) {
	returned := false
	defer func() {
		if !returned {
			p = recovered{true, recover()}
		}
	}()
	f()
	returned = true
	return p
}

// protectCall is protect for the open-socket and sockopt callbacks, which
// run for every connection: it calls f directly, where protect's closure
// adds an indirect call (3–6 % of their dispatch, BENCHMARKS.md).
func protectCall[A, B, C, R any](f func(A, B, C) (R, error), a A, b B, c C) (r R, p recovered, err error) {
	returned := false
	defer func() {
		if !returned {
			p = recovered{true, recover()}
		}
	}()
	r, err = f(a, b, c)
	returned = true
	return r, p, err
}

// recordPanic stores a recovered panic where the curlsock call that drove
// libcurl will raise it again, and makes the rest of that call's callbacks
// fail in C. When libcurl was driven behind curlsock's back (go-curl's own
// multi) there is no such call: the panic goes to the handle that set the
// callback, whose next curlsock call raises it, and nothing is disabled, as
// nothing would ever enable it again.
//
// An engine's shard frame serves many transfers at once (one HTTP/2
// connection carries many): there the panic goes to the owner's handle,
// whose transfer alone is poisoned and ended, and whose Do raises it.
func recordPanic(frameID uintptr, owner *frame, v any) {
	target := owner
	if frameID != 0 {
		f := lookupFrame(frameID)
		switch {
		case f != nil && f.perTransfer:
			if owner != nil && owner.easy != nil {
				f.poisonTransfer(owner.easy)
			}
		case f != nil:
			C.curlsock_frame_poison()
			target = f
		default:
			C.curlsock_frame_poison()
		}
	}
	if target == nil {
		fmt.Fprintf(os.Stderr, "curlsock: panic in a socket callback of a handle that no longer exists: %v\n%s", v, debug.Stack())
		return
	}
	target.keepPanic(v)
}

// poisonedHandles counts poisoned handles, so that the close callback looks
// for its owner's state only while there is one.
var poisonedHandles atomic.Int32

func (h *handleReg) poison() {
	if !h.poisoned.Swap(true) {
		poisonedHandles.Add(1)
	}
}

func (h *handleReg) unpoison() {
	if h.poisoned.Swap(false) {
		poisonedHandles.Add(-1)
	}
}

// poisonTransfer stops h's callbacks on the engine shard whose frame f is,
// which ends h's transfer after the round.
func (f *frame) poisonTransfer(h *handleReg) {
	h.poison()
	f.mu.Lock()
	f.poisoned = append(f.poisoned, h)
	f.mu.Unlock()
}

// keepPanic records v for h's next raise, unless a panic is already kept:
// the first one is raised.
func (h *frame) keepPanic(v any) {
	h.mu.Lock()
	if !h.panicked {
		h.panicked, h.panicVal = true, v
	}
	h.mu.Unlock()
}

// raise raises again a panic recovered in a callback.
func (h *frame) raise() {
	if p, v := h.takePanic(); p {
		panic(v)
	}
}

func (h *frame) takePanic() (bool, any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, v := h.panicked, h.panicVal
	h.panicked, h.panicVal = false, nil
	return p, v
}
