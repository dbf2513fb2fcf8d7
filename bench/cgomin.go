package main

// Variant (bg): the smallest possible Go socket callbacks. C trampolines
// (bench_go_* in chelpers.go) call these exported Go functions, with no
// registry, no closures and no error handling: the difference between (bg)
// and (b) is what the Go runtime charges for entering Go from libcurl, and
// the difference between (c) and (bg) is what curlsock adds on top.
//
// The diagnostic variants bg+fstat and bg+book add, in the same callbacks,
// copies of the kinds of work curlsock's hot path does per transfer, to
// measure what each costs in place (cold caches, after libcurl and the
// kernel ran) rather than in a tight loop: mode bits arrive as clientp.

/*
#include <stdint.h>
#include <curl/curl.h>
*/
import "C"

import (
	"sync"

	"golang.org/x/sys/unix"
)

const (
	modeFstat = 1 << iota // fstat the new socket (curlsock's chargeFD)
	modeBook              // id lookups in sync.Maps, a mutex-guarded fd map, a pooled struct, defer/recover per call
)

// book imitates curlsock's per-transfer bookkeeping (registry.go and
// callbacks.go at the commit the results name): 4 sync.Map loads (open,
// sockopt, close ×2), 3 lock/unlock pairs around an fd → entry map (assign
// on open; access+delete, then release, on close), a sync.Pool Get/Put on
// open, and a deferred recover around each user callback.
var book = struct {
	ids  sync.Map
	mu   sync.Mutex
	fds  map[int]fdEntryCopy
	pool sync.Pool
}{fds: map[int]fdEntryCopy{}, pool: sync.Pool{New: func() any { return new([128]byte) }}}

type fdEntryCopy struct {
	owner    *int
	dev, ino uint64
}

var bookOwner = new(int)

func init() { book.ids.Store(uintptr(1), bookOwner) }

func lookupID() *int {
	v, _ := book.ids.Load(uintptr(1))
	return v.(*int)
}

func guarded(f func()) {
	defer func() {
		if r := recover(); r != nil {
			panic(r)
		}
	}()
	f()
}

//export benchGoOpen
func benchGoOpen(mode C.uintptr_t, family, socktype, protocol C.int) C.int {
	fd := -1
	open := func() {
		var err error
		if fd, err = unix.Socket(int(family), int(socktype), int(protocol)); err != nil {
			fd = -1
		}
	}
	if mode&modeBook == 0 {
		open()
	} else {
		owner := lookupID()
		buf := book.pool.Get().(*[128]byte)
		buf[0]++
		guarded(open)
		book.pool.Put(buf)
		if fd >= 0 {
			book.mu.Lock()
			book.fds[fd] = fdEntryCopy{owner: owner}
			*owner++
			book.mu.Unlock()
		}
	}
	if fd >= 0 && mode&modeFstat != 0 {
		var st unix.Stat_t
		unix.Fstat(fd, &st)
	}
	return C.int(fd)
}

//export benchGoSockopt
func benchGoSockopt(mode C.uintptr_t, fd C.int) C.int {
	if mode&modeBook != 0 {
		lookupID()
		guarded(func() {})
	}
	return C.CURL_SOCKOPT_OK
}

//export benchGoClose
func benchGoClose(mode C.uintptr_t, fd C.int) C.int {
	var err error
	if mode&modeBook == 0 {
		err = unix.Close(int(fd))
	} else {
		book.mu.Lock()
		e, ok := book.fds[int(fd)]
		if ok {
			delete(book.fds, int(fd))
		}
		book.mu.Unlock()
		lookupID()
		lookupID()
		guarded(func() { err = unix.Close(int(fd)) })
		if ok {
			book.mu.Lock()
			*e.owner--
			book.mu.Unlock()
		}
	}
	if err != nil {
		return 1
	}
	return 0
}
