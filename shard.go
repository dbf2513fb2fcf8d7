//go:build linux

package curl

/*
#include "callbacks.h"
#include "shard.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A shard is one libcurl multi driven through the multi socket API without
// blocking an OS thread. Its sockets, a timerfd for libcurl's timer and an
// eventfd for commands sit in a private level-triggered epoll set (shard.c),
// and that set sits in Go's netpoller: the goroutine that drives the shard
// parks in the netpoller like any network read, and a round of libcurl work
// runs when something is ready.
//
// One goroutine at a time drives a shard (libcurl-thread.md: one thread per
// multi and its easy handles): an Engine's shard goroutine, or PerformContext's
// caller for a handle's own shard. Other goroutines only send it commands.
type shard struct {
	c     *C.curlsock_shard
	file  *os.File // a duplicate of the epoll fd, in Go's netpoller
	rc    syscall.RawConn
	frame *frame // the frame of every call into the multi (frame.go)

	// Touched only by the goroutine that drives the shard.
	transfers map[uintptr]*transfer // by CURL *
	batch     []command             // the commands being run: batch[next:] are not yet
	next      int
	spare     []command
	closing   bool
	recycle   bool    // replace the multi once no transfer is in it
	wakes     []waker // to wake once the round is over

	mu       sync.Mutex
	queue    []command
	stopped  bool // takes no more commands
	lost     bool // stopped by abandon
	wakeSent atomic.Bool
}

// transfer is one Do or PerformContext: what the shard reports back to the
// goroutine waiting for it.
type transfer struct {
	e     *CURL
	ctx   context.Context
	shard *shard
	done  chan struct{} // closed once the handle is out of the multi

	// Written by the shard before done is closed.
	code C.CURLcode
	err  error // the transfer ended without libcurl's result: canceled, closed, lost
}

func (t *transfer) ended() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// A waker is woken by the shard once the round in which it asked is over:
// a callback's news for a goroutine (a Transport's reader) is told once a
// round, with the transfer's end if it came in the same round.
type waker interface{ wake() }

// wakeAfterRound queues w; only the goroutine driving the shard calls it.
func (s *shard) wakeAfterRound(w waker) { s.wakes = append(s.wakes, w) }

func (s *shard) flushWakes() {
	for i, w := range s.wakes {
		w.wake()
		s.wakes[i] = nil
	}
	s.wakes = s.wakes[:0]
}

// errShardLost: a command for a shard that abandon stopped.
var errShardLost = errors.New("curlsock: engine shard lost")

type commandKind int

const (
	cmdAdd commandKind = iota
	cmdCancel
	cmdClose
	cmdPause
	cmdRecycle
)

type command struct {
	kind  commandKind
	t     *transfer
	err   error      // why a cancel ends the transfer
	bits  int        // a pause's curl_easy_pause bitmask
	reply chan error // a pause's result, if someone waits for it
}

// newShard makes a shard whose connection cache keeps up to maxConnects
// idle connections (CURLMOPT_MAXCONNECTS: libcurl's default follows the
// number of handles in the multi, which is 0 between Do calls).
func newShard(kind regKind, maxConnects int) (*shard, error) {
	c, err := C.curlsock_shard_new(C.long(maxConnects))
	if c == nil {
		return nil, fmt.Errorf("curlsock: cannot create an engine shard: %w", err)
	}
	s := &shard{c: c, frame: newFrame(kind), transfers: map[uintptr]*transfer{}}
	s.frame.perTransfer = true
	if err := s.poll(); err != nil {
		C.curlsock_shard_free(c, 0)
		forgetFrame(s.frame)
		return nil, err
	}
	return s, nil
}

// poll registers a duplicate of the shard's epoll fd in Go's netpoller: the
// os.File closes what it holds, and the C side closes the original.
func (s *shard) poll() error {
	fd, err := unix.FcntlInt(uintptr(s.c.epfd), unix.F_DUPFD_CLOEXEC, 0)
	if err == nil {
		err = unix.SetNonblock(fd, true)
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return fmt.Errorf("curlsock: cannot create an engine shard: %w", err)
	}
	s.file = os.NewFile(uintptr(fd), "curlsock-shard")
	rc, err := s.file.SyscallConn()
	if err != nil {
		s.file.Close()
		return fmt.Errorf("curlsock: cannot create an engine shard: %w", err)
	}
	s.rc = rc
	return nil
}

// submit hands a command to the goroutine driving the shard.
func (s *shard) submit(c command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		if s.lost {
			return errShardLost
		}
		return ErrEngineClosed
	}
	s.queue = append(s.queue, c)
	// One write wakes the shard for every command queued before it drains
	// the queue (commands clears the flag first). Under s.mu: once stopped,
	// the shard's C side may be freed (stop).
	if !s.wakeSent.Swap(true) {
		C.curlsock_shard_wake(s.c)
	}
	return nil
}

// stop makes the shard take no more commands and returns those queued.
func (s *shard) stop(lost bool) []command {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped, s.lost = true, lost
	q := s.queue
	s.queue = nil
	return q
}

// run drives the shard until until reports true or the shard closes. f
// tests the real state every time (golang/go#70373): a round looks at the
// epoll set itself.
func (s *shard) run(until func() bool) {
	_ = s.rc.Read(func(uintptr) bool {
		for i := 1; s.round(); i++ {
			if i%64 == 0 {
				runtime.Gosched()
			}
		}
		return s.closing || until()
	})
}

// round runs libcurl on whatever is ready and reports whether another round
// should follow at once: the epoll set is level-triggered, the netpoller
// edge-triggered, so the shard parks only once a round found nothing.
func (s *shard) round() bool {
	C.curlsock_shard_round(s.c, C.uintptr_t(s.frame.id))
	r := &s.c.round
	for i := range int(r.ndone) {
		d := &r.done[i]
		if t := s.transfers[uintptr(unsafe.Pointer(d.easy))]; t != nil {
			delete(s.transfers, uintptr(unsafe.Pointer(d.easy)))
			t.code = d.code
			close(t.done)
		}
	}
	again := r.events > 0 || r.more != 0
	if r.mrc != C.CURLM_OK {
		// The multi must not be used again with these handles in it
		// (curl_multi_socket_action.md): every transfer fails.
		s.endAll(fmt.Errorf("curlsock: engine: %w", CurlMultiError(r.mrc)))
	}
	// Before the commands: a transfer that ended this round and is added
	// again must not be taken for the one whose callback panicked.
	if s.afterCallbacks() {
		again = true
	}
	if r.woken != 0 {
		s.commands()
		again = true
	}
	if s.closing {
		s.shutdown()
	} else if s.recycle && len(s.transfers) == 0 {
		s.renew()
		again = true
	}
	s.flushWakes()
	return again && !s.closing
}

func (s *shard) commands() {
	s.wakeSent.Store(false)
	s.mu.Lock()
	s.batch, s.next = s.queue, 0
	s.queue = s.spare[:0]
	s.mu.Unlock()
	// s.batch and s.next, not locals: if a callback ends this goroutine
	// (runtime.Goexit) during a start, abandon ends the commands not run.
	for s.next < len(s.batch) {
		c := s.batch[s.next]
		s.next++
		switch c.kind {
		case cmdAdd:
			s.start(c.t)
		case cmdCancel:
			s.cancel(c.t, c.err)
		case cmdClose:
			s.closing = true
		case cmdPause:
			s.pause(c)
		case cmdRecycle:
			// At once if idle, so that the adds queued after it get
			// the new multi.
			s.recycle = true
			if len(s.transfers) == 0 {
				s.renew()
			}
		}
	}
	clear(s.batch)
	s.spare, s.batch = s.batch[:0], nil
}

// start adds a transfer to the multi; libcurl starts it before this returns.
func (s *shard) start(t *transfer) {
	switch {
	case s.closing:
		s.end(t, ErrEngineClosed)
		return
	case t.ctx.Err() != nil:
		s.end(t, canceled(t.ctx))
		return
	case t.e.reg.isCleaned():
		// Cleanup's cancel came before this add.
		s.end(t, ErrHandleClosed)
		return
	}
	p := t.e.reg.ptr
	s.transfers[p] = t
	if rc := C.curlsock_shard_add(s.c, t.e.handle(), C.uintptr_t(s.frame.id)); rc != C.CURLM_OK {
		delete(s.transfers, p)
		s.end(t, CurlMultiError(rc))
	}
}

// cancel takes a transfer out of the multi, if it is still in it: libcurl
// closes its connection, or on HTTP/2 resets its stream.
func (s *shard) cancel(t *transfer, err error) {
	p := t.e.reg.ptr
	if s.transfers[p] != t {
		return // ended meanwhile
	}
	delete(s.transfers, p)
	C.curlsock_shard_remove(s.c, t.e.handle(), C.uintptr_t(s.frame.id))
	s.end(t, err)
}

// pause runs curl_easy_pause for a transfer still in the multi; resuming
// may deliver held data to its write callback at once. An error of
// curl_easy_pause is the transfer's (isahc #97): it ends with it. Except
// CURLE_BAD_FUNCTION_ARGUMENT, libcurl's answer for a transfer without a
// connection (not connected yet, or done and not yet collected): there is
// nothing to pause or resume, and the transfer goes on.
func (s *shard) pause(c command) {
	var err error
	p := c.t.e.reg.ptr
	if s.transfers[p] == c.t {
		rc := C.curlsock_shard_pause(s.c, c.t.e.handle(), C.int(c.bits), C.uintptr_t(s.frame.id))
		switch rc {
		case C.CURLE_OK:
		case C.CURLE_BAD_FUNCTION_ARGUMENT:
			err = CurlError(rc)
		default:
			err = CurlError(rc)
			s.cancel(c.t, err)
		}
	}
	if c.reply != nil {
		c.reply <- err
	}
}

// renew closes the idle connections of a multi with no transfers left by
// replacing the multi (curlsock_shard_recycle).
func (s *shard) renew() {
	s.recycle = false
	C.curlsock_shard_recycle(s.c, C.uintptr_t(s.frame.id))
	s.afterCallbacks()
}

func (s *shard) end(t *transfer, err error) {
	t.err = err
	close(t.done)
}

func (s *shard) endAll(err error) {
	for p, t := range s.transfers {
		delete(s.transfers, p)
		C.curlsock_shard_remove(s.c, t.e.handle(), C.uintptr_t(s.frame.id))
		s.end(t, err)
	}
}

// afterCallbacks acts on what callbacks asked for during the round: a
// transfer whose callback panicked ends (its Do raises the panic), and a
// handle cleaned up from a callback leaves the multi first.
func (s *shard) afterCallbacks() bool {
	f := s.frame
	f.mu.Lock()
	deferred, poisoned := f.deferred, f.poisoned
	f.deferred, f.poisoned = nil, nil
	f.mu.Unlock()
	for _, h := range poisoned {
		if t := s.transfers[h.ptr]; t != nil && h.poisoned.Load() {
			s.cancel(t, nil)
		} else {
			// A callback of a handle in no transfer here (closing a cached
			// connection): its panic waits for the handle's next call.
			h.unpoison()
		}
	}
	cleanupDeferred(deferred)
	return len(deferred) > 0 || len(poisoned) > 0
}

// cleanupDeferred frees handles cleaned up from callbacks of a shard while
// in no transfer (Cleanup leaves those in one to the goroutine waiting for
// it). No curlsock call waits to raise a panic of theirs: it is reported
// on stderr, as one whose handle no longer exists.
func cleanupDeferred(deferred []*CURL) {
	for _, e := range deferred {
		if e.cleanup() {
			if p, v := e.reg.takePanic(); p {
				recordPanic(0, nil, v)
			}
		}
	}
}

// shutdown ends every transfer and takes no more commands.
func (s *shard) shutdown() {
	s.endAll(ErrEngineClosed)
	for _, c := range s.stop(false) {
		s.refuse(c, ErrEngineClosed)
	}
}

// refuse answers a command the shard will not run.
func (s *shard) refuse(c command, err error) {
	switch {
	case c.kind == cmdAdd:
		s.end(c.t, err)
	case c.kind == cmdPause && c.reply != nil:
		c.reply <- err
	}
}

// free closes the multi, whose cached connections close through the
// close-socket callbacks they were made with, and the shard's descriptors.
// Only the goroutine that drove the shard calls it, once run returned.
func (s *shard) free() {
	s.stop(false)
	s.file.Close()
	C.curlsock_shard_free(s.c, C.uintptr_t(s.frame.id))
	s.forget()
}

// forget drops the shard's frame, after what its last callbacks asked for:
// a close callback that panicked leaves its panic for the next call on the
// handle that set it, which is in no transfer here; handles cleaned up from
// callbacks are freed.
func (s *shard) forget() {
	f := s.frame
	f.mu.Lock()
	deferred, poisoned := f.deferred, f.poisoned
	f.deferred, f.poisoned = nil, nil
	f.mu.Unlock()
	for _, h := range poisoned {
		h.unpoison()
	}
	cleanupDeferred(deferred)
	forgetFrame(f)
}

// abandon gives up a shard whose driving goroutine ended inside libcurl
// (runtime.Goexit in a callback, what t.Fatal does): the multi's state is
// that of a call that never returned, so it is neither used nor cleaned up,
// and what it holds leaks; its transfers end with ErrTransferLost. It runs
// on the ending goroutine, which is still on the thread whose frame record
// the round left set.
func (s *shard) abandon() {
	C.curlsock_shard_thread_reset()
	q := s.stop(true)
	for p, t := range s.transfers {
		delete(s.transfers, p)
		s.end(t, ErrTransferLost)
	}
	// The commands of the batch that was running, then those queued since.
	for _, c := range append(s.batch[min(s.next, len(s.batch)):], q...) {
		s.refuse(c, ErrTransferLost)
	}
	s.batch = nil
	s.file.Close()
	C.curlsock_shard_abandon(s.c)
	s.forget()
}

// canceled is the error of a transfer its context ended: it matches
// ctx.Err() with errors.Is, and the cause too when one was given.
func canceled(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("curlsock: transfer canceled: %w (%w)", err, cause)
	}
	return fmt.Errorf("curlsock: transfer canceled: %w", err)
}
