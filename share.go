//go:build linux

package curl

/*
#include <pthread.h>
#include <stdlib.h>
#include <curl/curl.h>

// One mutex per kind of shared data: libcurl locks them from whichever
// thread runs a transfer of a handle in the share. The lock functions never
// enter Go, so they cost what a pthread mutex costs.
typedef struct {
	pthread_mutex_t m[CURL_LOCK_DATA_LAST];
} curlsock_share_locks;

static pthread_mutex_t *curlsock_share_mutex(void *u, curl_lock_data d) {
	curlsock_share_locks *l = u;
	if ((int)d < 0 || d >= CURL_LOCK_DATA_LAST)
		d = CURL_LOCK_DATA_SHARE; // a kind newer than our headers
	return &l->m[d];
}

static void curlsock_share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *u) {
	(void)h;
	(void)a;
	pthread_mutex_lock(curlsock_share_mutex(u, d));
}

static void curlsock_share_unlock(CURL *h, curl_lock_data d, void *u) {
	(void)h;
	pthread_mutex_unlock(curlsock_share_mutex(u, d));
}

static CURLSH *curlsock_share_init(curlsock_share_locks **out) {
	curlsock_share_locks *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&l->m[i], NULL);
	CURLSH *sh = curl_share_init();
	if (!sh || curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, curlsock_share_lock) != CURLSHE_OK ||
	    curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, curlsock_share_unlock) != CURLSHE_OK ||
	    curl_share_setopt(sh, CURLSHOPT_USERDATA, l) != CURLSHE_OK) {
		if (sh)
			curl_share_cleanup(sh);
		free(l);
		return NULL;
	}
	*out = l;
	return sh;
}

static void curlsock_share_locks_free(curlsock_share_locks *l) {
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&l->m[i]);
	free(l);
}

static CURLSHcode curlsock_share_setopt_long(CURLSH *sh, CURLSHoption opt, long v) {
	return curl_share_setopt(sh, opt, v);
}

static CURLcode curlsock_easy_set_share(CURL *h, CURLSH *sh) {
	return curl_easy_setopt(h, CURLOPT_SHARE, sh);
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	gocurl "github.com/andelf/go-curl"
)

// CurlShareError is go-curl's share error type (a CURLSHcode).
type CurlShareError = gocurl.CurlShareError

// CURLSH is a share handle (curl_share_init). Unlike go-curl's, it can be
// attached to an easy handle: easy.Setopt(OPT_SHARE, sh). It installs its own
// lock callbacks, so handles on different goroutines can share DNS and the
// rest safely. Shared connections (LOCK_DATA_CONNECT), cookies and TLS
// sessions suit handles used one at a time, as libcurl documents: it does not
// support sharing them between concurrent transfers (libcurl 8.12–8.14
// crashes or hangs with concurrent transfers sharing cookies, curl #16838).
type CURLSH struct {
	mu     sync.Mutex
	handle unsafe.Pointer
	locks  *C.curlsock_share_locks // C memory
	frame  *frame
}

// ShareInit creates a share handle; nil if libcurl cannot.
func ShareInit() *CURLSH {
	var locks *C.curlsock_share_locks
	p := C.curlsock_share_init(&locks)
	if p == nil {
		return nil
	}
	return &CURLSH{handle: unsafe.Pointer(p), locks: locks, frame: newFrame(kindShare)}
}

func shareErr(rc C.CURLSHcode) error {
	if rc == C.CURLSHE_OK {
		return nil
	}
	return CurlShareError(rc)
}

func (sh *CURLSH) ptr() unsafe.Pointer {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.handle
}

// Setopt sets a share option: SHOPT_SHARE or SHOPT_UNSHARE with a LOCK_DATA_*
// value. The lock options belong to curlsock and are refused.
func (sh *CURLSH) Setopt(opt int, param any) error {
	p := sh.ptr()
	if p == nil {
		return ErrHandleClosed
	}
	if opt != C.CURLSHOPT_SHARE && opt != C.CURLSHOPT_UNSHARE {
		return fmt.Errorf("%w: %s is not supported (curlsock installs its own locks)", ErrOptionType, shareOptionName(opt))
	}
	v, ok := param.(int)
	if !ok {
		return fmt.Errorf("%w: %s takes a LOCK_DATA_* int, not %T", ErrOptionType, shareOptionName(opt), param)
	}
	return shareErr(C.curlsock_share_setopt_long(p, C.CURLSHoption(opt), C.long(v)))
}

func shareOptionName(opt int) string {
	switch opt {
	case C.CURLSHOPT_SHARE:
		return "CURLSHOPT_SHARE"
	case C.CURLSHOPT_UNSHARE:
		return "CURLSHOPT_UNSHARE"
	case C.CURLSHOPT_LOCKFUNC:
		return "CURLSHOPT_LOCKFUNC"
	case C.CURLSHOPT_UNLOCKFUNC:
		return "CURLSHOPT_UNLOCKFUNC"
	case C.CURLSHOPT_USERDATA:
		return "CURLSHOPT_USERDATA"
	}
	return fmt.Sprintf("share option %d", opt)
}

// Cleanup closes the share (curl_share_cleanup). It fails with
// SHE_IN_USE while an easy handle still uses it. Connections in a shared
// connection cache close through the close-socket callbacks they were made
// with.
func (sh *CURLSH) Cleanup() error {
	// Taken out while libcurl works on it (no lock is held across the
	// call), and put back if libcurl refuses.
	sh.mu.Lock()
	p, locks := sh.handle, sh.locks
	sh.handle = nil
	sh.mu.Unlock()
	if p == nil {
		return nil
	}
	var rc C.CURLSHcode
	sh.frame.drive(func() { rc = C.curl_share_cleanup(p) })
	if rc == C.CURLSHE_OK {
		C.curlsock_share_locks_free(locks)
		sh.mu.Lock()
		sh.locks = nil
		sh.mu.Unlock()
		forgetFrame(sh.frame)
	} else {
		sh.mu.Lock()
		sh.handle = p
		sh.mu.Unlock()
	}
	sh.frame.raise()
	return shareErr(rc)
}

// setShare attaches e to sh, or detaches it for nil.
func (e *CURL) setShare(param any) error {
	var p unsafe.Pointer
	switch sh := param.(type) {
	case nil:
	case *CURLSH:
		if sh != nil {
			if p = sh.ptr(); p == nil {
				return ErrHandleClosed
			}
		}
	case *gocurl.CURLSH:
		return fmt.Errorf("%w: CURLOPT_SHARE takes a curlsock *CURLSH: go-curl's hides its C handle", ErrOptionType)
	default:
		return fmt.Errorf("%w: CURLOPT_SHARE takes a *CURLSH, not %T", ErrOptionType, param)
	}
	if rc := C.curlsock_easy_set_share(e.handle(), p); rc != C.CURLE_OK {
		return CurlError(rc)
	}
	return nil
}
