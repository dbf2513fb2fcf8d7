package main

/*
#cgo pkg-config: libcurl
#cgo CFLAGS: -DCURL_DISABLE_DEPRECATION
#include <stdlib.h>
#include "cdriver.h"

typedef struct { unsigned long long calls, events; } bench_epc;
static bench_epc bench_epoll_counts_v(void) {
	bench_epc r;
	bench_epoll_counts(&r.calls, &r.events);
	return r;
}

*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// cDriver is the C driver (cdriver.c) behind the benchmark's runner
// interface: its conc handles live as long as it does.
type cDriver struct {
	connects int // new connections in the last run
	d        *C.cdrv
	bytes    *C.ulonglong
	curls    []*C.char
}

func newCDriver(urls []string, conc int, forbidReuse, kickEach bool) (*cDriver, error) {
	cd := &cDriver{bytes: (*C.ulonglong)(C.calloc(1, 8))}
	for _, u := range urls {
		cd.curls = append(cd.curls, C.CString(u))
	}
	fr := C.int(0)
	if forbidReuse {
		fr = 1
	}
	ke := C.int(0)
	if kickEach {
		ke = 1
	}
	cd.d = C.cdrv_new((**C.char)(unsafe.Pointer(&cd.curls[0])), C.int(len(urls)), C.int(conc), fr, ke, cd.bytes)
	if cd.d == nil {
		cd.free()
		return nil, errors.New("cdrv_new failed")
	}
	return cd, nil
}

// cgo checks: &cd.curls[0] is a Go pointer to C pointers, allowed as an
// argument (cdrv_new copies the strings' addresses into libcurl, which
// copies the strings).

// run runs total transfers on the calling goroutine's OS thread, locked to it.
func (cd *cDriver) run(total int, timeout time.Duration) (done, failed int, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var res C.cdrv_result
	C.cdrv_run(cd.d, C.longlong(total), C.int(timeout.Milliseconds()), &res)
	done, failed = int(res.done), int(res.failed)
	cd.connects = int(res.connects)
	switch {
	case res.error == -1:
		err = fmt.Errorf("the C driver: no progress for %v (%d of %d done)", timeout, done, total)
	case res.error != 0:
		err = fmt.Errorf("the C driver: epoll_wait: errno %d", int(res.error))
	case failed > 0:
		err = fmt.Errorf("the C driver: %d of %d transfers failed, the first with %s", failed, done, codeText(int(res.first_error)))
	}
	return done, failed, err
}

func (cd *cDriver) bodyBytes() uint64 { return uint64(*cd.bytes) }
func (cd *cDriver) resetBytes()       { *cd.bytes = 0 }

func (cd *cDriver) free() {
	if cd.d != nil {
		C.cdrv_free(cd.d)
		cd.d = nil
	}
	for _, s := range cd.curls {
		C.free(unsafe.Pointer(s))
	}
	cd.curls = nil
	C.free(unsafe.Pointer(cd.bytes))
}

func codeText(code int) string {
	if code >= 1000 {
		return fmt.Sprintf("HTTP status %d", code-1000)
	}
	return fmt.Sprintf("CURLcode %d (%s)", code, C.GoString(C.curl_easy_strerror(C.CURLcode(code))))
}

// cCounter is a body counter in C memory, for bench_discard.
type cCounter struct{ p *C.ulonglong }

func newCCounter() cCounter    { return cCounter{(*C.ulonglong)(C.calloc(1, 8))} }
func (c cCounter) get() uint64 { return uint64(*c.p) }
func (c cCounter) reset()      { *c.p = 0 }
func (c cCounter) free()       { C.free(unsafe.Pointer(c.p)) }
func (c cCounter) set(h unsafe.Pointer) error {
	if rc := C.bench_set_discard(h, c.p); rc != C.CURLE_OK {
		return fmt.Errorf("curl_easy_setopt (write callback): %d", int(rc))
	}
	return nil
}

// epollCounts returns what the counting epoll_wait saw: calls that returned
// events, and the events.
func epollCounts() (calls, events uint64) {
	r := C.bench_epoll_counts_v() // by value: no Go pointer escapes to C
	return uint64(r.calls), uint64(r.events)
}

func libcurlVersion() string { return C.GoString(C.curl_version_info(C.CURLVERSION_NOW).version) }
