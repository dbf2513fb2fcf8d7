//go:build linux

package curl

/*
#include <stdint.h>
#include <curl/curl.h>

// curl_easy_getinfo is variadic: the C compiler cannot convert its third
// argument, so each helper passes a pointer to exactly the C type libcurl
// writes for that kind of info. The helpers return the value in a struct
// instead of writing through a pointer from Go, so that no Go pointer is
// ever handed to C.

typedef struct { CURLcode rc; char *v; } curlsock_info_ptr;
typedef struct { CURLcode rc; long v; } curlsock_info_long;
typedef struct { CURLcode rc; double v; } curlsock_info_double;
typedef struct { CURLcode rc; curl_off_t v; } curlsock_info_off;
typedef struct { CURLcode rc; int bad; curl_socket_t v; } curlsock_info_socket;
typedef struct { CURLcode rc; struct curl_slist *v; } curlsock_info_slist;
typedef struct { CURLcode rc; struct curl_certinfo *v; } curlsock_info_certs;
typedef struct { CURLcode rc; int backend; uintptr_t internals; } curlsock_info_tls;

// CURLINFO_STRING infos.
static curlsock_info_ptr curlsock_getinfo_ptr(CURL *h, CURLINFO info) {
	curlsock_info_ptr r = {CURLE_OK, NULL};
	r.rc = curl_easy_getinfo(h, info, &r.v);
	return r;
}

static curlsock_info_long curlsock_getinfo_long(CURL *h, CURLINFO info) {
	curlsock_info_long r = {CURLE_OK, 0};
	r.rc = curl_easy_getinfo(h, info, &r.v);
	return r;
}

static curlsock_info_double curlsock_getinfo_double(CURL *h, CURLINFO info) {
	curlsock_info_double r = {CURLE_OK, 0};
	r.rc = curl_easy_getinfo(h, info, &r.v);
	return r;
}

static curlsock_info_off curlsock_getinfo_off_t(CURL *h, CURLINFO info) {
	curlsock_info_off r = {CURLE_OK, 0};
	r.rc = curl_easy_getinfo(h, info, &r.v);
	return r;
}

// curl_socket_t is an int on POSIX but an unsigned SOCKET on Windows, where
// CURL_SOCKET_BAD is not -1: the comparison is made here, in C's type.
static curlsock_info_socket curlsock_getinfo_socket(CURL *h, CURLINFO info) {
	curlsock_info_socket r = {CURLE_OK, 0, CURL_SOCKET_BAD};
	r.rc = curl_easy_getinfo(h, info, &r.v);
	r.bad = r.v == CURL_SOCKET_BAD;
	return r;
}

// Only for the infos whose list the caller owns (see slistInfos).
static curlsock_info_slist curlsock_getinfo_slist(CURL *h, CURLINFO info) {
	curlsock_info_slist r = {CURLE_OK, NULL};
	r.rc = curl_easy_getinfo(h, info, &r.v);
	return r;
}

static curlsock_info_certs curlsock_getinfo_certinfo(CURL *h, CURLINFO info) {
	curlsock_info_certs r = {CURLE_OK, NULL};
	r.rc = curl_easy_getinfo(h, info, &r.v);
	return r;
}

// The struct libcurl points to lives in the easy handle and is rewritten by
// the next call: it is copied out here, and the backend's pointer leaves C
// as an integer.
static curlsock_info_tls curlsock_getinfo_tls(CURL *h, CURLINFO info) {
	struct curl_tlssessioninfo *tsi = NULL;
	curlsock_info_tls r = {CURLE_OK, 0, 0};
	r.rc = curl_easy_getinfo(h, info, &tsi);
	if(r.rc == CURLE_OK && tsi) {
		r.backend = (int)tsi->backend;
		r.internals = (uintptr_t)tsi->internals;
	}
	return r;
}

static struct curl_slist *curlsock_certinfo_at(struct curl_certinfo *ci, int i) {
	return ci->certinfo[i];
}
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// ErrInfoType: Getinfo was asked for an info whose C type curlsock does not
// know, so it cannot tell what libcurl would write, nor how to free it. An
// info of a known type that this libcurl lacks is libcurl's own error
// instead, a CurlError (E_UNKNOWN_OPTION).
var ErrInfoType = errors.New("curlsock: unsupported info type")

// CertInfo is INFO_CERTINFO's value: for each certificate of the server's
// chain, as libcurl saw it during the last transfer (set OPT_CERTINFO to 1
// first), its fields as "Name:value" lines, e.g. "Subject:O=Acme Co".
type CertInfo [][]string

// TLSSessionInfo is the value of INFO_TLS_SSL_PTR and INFO_TLS_SESSION
// (struct curl_tlssessioninfo).
type TLSSessionInfo struct {
	// Backend is the TLS library (curl_sslbackend): 1 for OpenSSL, see
	// CURLSSLBACKEND_* in curl.h.
	Backend int
	// Internals is the backend's own object for the connection, 0 when the
	// handle has none: with OpenSSL an SSL* for INFO_TLS_SSL_PTR and an
	// SSL_CTX* for INFO_TLS_SESSION. It is an address, not a Go pointer:
	// hand it to C code that knows the backend. It is non-zero only while a
	// transfer runs, read from its write, header or progress callback:
	// after Perform (with OPT_CONNECT_ONLY too) libcurl has detached the
	// connection from the handle, and may free the object with it.
	Internals uintptr
}

// slistInfos are the PTR infos whose value is a struct curl_slist that
// libcurl allocates for the caller, who frees it. The table is explicit
// because CURLINFO_SLIST and CURLINFO_PTR are the same type bits: the
// other PTR infos point to other structs that libcurl owns.
var slistInfos = map[CurlInfo]bool{
	INFO_SSL_ENGINES: true,
	INFO_COOKIELIST:  true,
}

// Getinfo reads information from the handle (curl_easy_getinfo). It shadows
// go-curl's, which panics on INFO_OFF_T and INFO_SOCKET infos and reads every
// PTR info as a list. The value's type follows the info's:
//
//	STRING infos                 string ("" when libcurl has none)
//	LONG infos                   int
//	DOUBLE infos                 float64
//	OFF_T infos (INFO_*_T)       int64
//	INFO_ACTIVESOCKET            int, -1 when there is no socket
//	INFO_SSL_ENGINES, INFO_COOKIELIST  []string
//	INFO_CERTINFO                CertInfo
//	INFO_TLS_SSL_PTR, INFO_TLS_SESSION  TLSSessionInfo
//	INFO_PRIVATE                 the Go value set with OPT_PRIVATE (nil if none)
//
// string, int and float64 are go-curl's types, so its callers' type
// assertions keep working. When libcurl fails (E_UNKNOWN_OPTION for an info
// it lacks), the error is a CurlError and the value is the zero value of the
// info's type, -1 for a socket. Any other info is an error wrapping
// ErrInfoType, with a nil value. After Cleanup it returns ErrHandleClosed.
//
// Getinfo may be called from the handle's write, header or progress
// callbacks. Unlike Setopt it does not raise a panic left by a socket
// callback: it drives no callbacks itself, and raising there could unwind
// through libcurl's frames when called from a callback.
func (e *CURL) Getinfo(info CurlInfo) (ret interface{}, err error) {
	if e.reg.isCleaned() {
		return nil, ErrHandleClosed
	}
	if err := e.reg.busy(); err != nil {
		return nil, err
	}
	p := e.handle()
	ci := C.CURLINFO(info)

	// OPT_PRIVATE stays a Go value in the registration (libcurl would have
	// to hold a Go pointer); CURLINFO_PRIVATE gives it back.
	if info == INFO_PRIVATE {
		e.reg.mu.Lock()
		defer e.reg.mu.Unlock()
		return e.reg.opts.private, nil
	}

	switch info & INFO_TYPEMASK {
	case INFO_STRING:
		r := C.curlsock_getinfo_ptr(p, ci)
		// The string belongs to libcurl: copy it, never free it.
		return C.GoString(r.v), codeErr(r.rc)
	case INFO_LONG:
		r := C.curlsock_getinfo_long(p, ci)
		return int(r.v), codeErr(r.rc)
	case INFO_DOUBLE:
		r := C.curlsock_getinfo_double(p, ci)
		return float64(r.v), codeErr(r.rc)
	case INFO_OFF_T:
		r := C.curlsock_getinfo_off_t(p, ci)
		return int64(r.v), codeErr(r.rc)
	case INFO_SOCKET:
		r := C.curlsock_getinfo_socket(p, ci)
		if r.rc != C.CURLE_OK || r.bad != 0 {
			return -1, codeErr(r.rc)
		}
		return int(r.v), nil
	case INFO_PTR:
		switch {
		case slistInfos[info]:
			return getinfoSlist(p, ci)
		case info == INFO_CERTINFO:
			return getinfoCertInfo(p, ci)
		case info == INFO_TLS_SSL_PTR, info == INFO_TLS_SESSION:
			r := C.curlsock_getinfo_tls(p, ci)
			return TLSSessionInfo{Backend: int(r.backend), Internals: uintptr(r.internals)}, codeErr(r.rc)
		}
		// An unknown PTR info points to a struct of unknown layout and
		// ownership: reading it as a list could crash, and not freeing it
		// could leak.
		return nil, fmt.Errorf("%w: Getinfo(%#x): pointer info curlsock does not know", ErrInfoType, uint32(info))
	}
	return nil, fmt.Errorf("%w: Getinfo(%#x): type bits %#x", ErrInfoType, uint32(info), uint32(info&INFO_TYPEMASK))
}

// getinfoSlist copies a list that libcurl allocated for the caller, then
// frees it: go-curl leaks these.
func getinfoSlist(p unsafe.Pointer, ci C.CURLINFO) ([]string, error) {
	r := C.curlsock_getinfo_slist(p, ci)
	// Non-nil even when empty, as go-curl returns.
	list := []string{}
	for n := r.v; n != nil; n = n.next {
		list = append(list, C.GoString(n.data))
	}
	// Freed whatever the code: a list libcurl handed over is ours.
	C.curl_slist_free_all(r.v)
	return list, codeErr(r.rc)
}

// getinfoCertInfo copies the handle's certificate info. libcurl owns the
// struct and its lists (it frees them with the next transfer or Cleanup):
// nothing is freed here.
func getinfoCertInfo(p unsafe.Pointer, ci C.CURLINFO) (CertInfo, error) {
	r := C.curlsock_getinfo_certinfo(p, ci)
	certs := CertInfo{}
	if r.rc != C.CURLE_OK || r.v == nil {
		return certs, codeErr(r.rc)
	}
	n := int(r.v.num_of_certs)
	for i := range n {
		lines := []string{}
		for l := C.curlsock_certinfo_at(r.v, C.int(i)); l != nil; l = l.next {
			lines = append(lines, C.GoString(l.data))
		}
		certs = append(certs, lines)
	}
	return certs, nil
}

// codeErr is go-curl's convention: nil for CURLE_OK, else a CurlError.
func codeErr(rc C.CURLcode) error {
	if rc == C.CURLE_OK {
		return nil
	}
	return CurlError(rc)
}
