//go:build linux

package curl

/*
#include <stdio.h>
#include <stdlib.h>
#include <curl/curl.h>
#include "callbacks.h"

static int curlsock_option_type(CURLoption opt) {
	const struct curl_easyoption *o = curl_easy_option_by_id(opt);
	return o ? (int)o->type : -1;
}

// The option's current name without "CURLOPT_" (by id, libcurl skips
// aliases such as FILE for WRITEDATA), NULL if this libcurl lacks it.
static const char *curlsock_option_name(CURLoption opt) {
	const struct curl_easyoption *o = curl_easy_option_by_id(opt);
	return o ? o->name : NULL;
}

static CURLcode curlsock_setopt_off_t(CURL *h, CURLoption opt, curl_off_t v) {
	return curl_easy_setopt(h, opt, v);
}

// With CURL_BLOB_COPY libcurl copies the bytes before returning.
static CURLcode curlsock_setopt_blob(CURL *h, CURLoption opt, void *data, size_t len) {
	struct curl_blob b = {data, len, CURL_BLOB_COPY};
	return curl_easy_setopt(h, opt, data ? &b : NULL);
}

static struct curl_slist *curlsock_slist_append(struct curl_slist *l, char *s, int *ok) {
	struct curl_slist *n = curl_slist_append(l, s);
	*ok = n != NULL;
	return n ? n : l;
}
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"
)

// libcurl's option types (curl_easytype), as curl_easy_option_by_id reports
// them. They decide which Go values an option takes: unlike go-curl, which
// guesses from the option number's range and hands libcurl a Go pointer for
// anything it does not recognise, curlsock refuses what it cannot pass safely.
const (
	otLong     = C.CURLOT_LONG
	otValues   = C.CURLOT_VALUES
	otOffT     = C.CURLOT_OFF_T
	otObject   = C.CURLOT_OBJECT
	otString   = C.CURLOT_STRING
	otSlist    = C.CURLOT_SLIST
	otCbptr    = C.CURLOT_CBPTR
	otBlob     = C.CURLOT_BLOB
	otFunction = C.CURLOT_FUNCTION
)

// optionState is what a handle keeps for libcurl beyond the socket
// callbacks: the data callbacks and the C memory libcurl does not copy.
type optionState struct {
	write, header   func([]byte, any) bool
	read            func([]byte, any) int
	progress        func(float64, float64, float64, float64, any) bool
	writeData       any
	headerData      any
	readData        any
	progressData    any
	private         any
	slists          map[int]slistVal // lists libcurl references, by option
	postfields      *C.char          // libcurl does not copy CURLOPT_POSTFIELDS
	postfieldsValue string
	url             string   // OPT_URL as set, for an Engine's choice of shard
	connectOnly     bool     // OPT_CONNECT_ONLY on: Do and PerformContext refuse the handle
	sink            dataSink // a Transport's stream, in place of the data callbacks
}

// A dataSink takes a transfer's data callbacks in place of go-curl's (the
// Transport's streams): it sees libcurl's buffers without a copy, and
// answers as libcurl's callbacks do (CURL_WRITEFUNC_PAUSE, CURL_READFUNC_PAUSE,
// CURL_SEEKFUNC_*). It runs on the goroutine driving the transfer.
type dataSink interface {
	write(p []byte) uint
	header(p []byte) uint
	read(p []byte) uint
	seek(offset int64, origin int) int
	requestTrailer() []string // the lines of a chunked upload's trailer
}

type slistVal struct {
	c     *C.struct_curl_slist
	value []string
}

func optionTypeError(opt int, want string, param any) error {
	return fmt.Errorf("%w: %s takes %s, not %T", ErrOptionType, optionName(opt), want, param)
}

// optionName names an easy option as libcurl does today: CURLOPT_WRITEDATA
// for OPT_FILE, its alias. An option this libcurl does not know keeps its
// number.
func optionName(opt int) string {
	if n := C.curlsock_option_name(C.CURLoption(opt)); n != nil {
		return "CURLOPT_" + C.GoString(n)
	}
	return fmt.Sprintf("option %d", opt)
}

// gocurlSetopt passes an option to go-curl, turning its panics on values it
// cannot convert into errors.
func (e *CURL) gocurlSetopt(opt int, param any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %T: %v", ErrOptionType, optionName(opt), param, r)
		}
	}()
	return e.CURL.Setopt(opt, param)
}

func curlErr(rc C.CURLcode) error {
	if rc == C.CURLE_OK {
		return nil
	}
	return CurlError(rc)
}

// setSlist sets a list option. libcurl keeps the list's pointer, so the list
// lives until the option is replaced or the handle cleaned up; a duplicate
// gets its own copy.
func (e *CURL) setSlist(opt int, param any) error {
	var vals []string
	switch t := param.(type) {
	case nil:
	case []string:
		vals = t
	case []CurlString:
		for _, s := range t {
			vals = append(vals, C.GoString((*C.char)(unsafe.Pointer(s))))
		}
	default:
		return optionTypeError(opt, "[]string", param)
	}
	var list *C.struct_curl_slist
	for _, s := range vals {
		cs := C.CString(s)
		ok := C.int(0)
		list = C.curlsock_slist_append(list, cs, &ok)
		C.free(unsafe.Pointer(cs))
		if ok == 0 {
			C.curl_slist_free_all(list)
			return CurlError(C.CURLE_OUT_OF_MEMORY)
		}
	}
	if err := curlErr(C.curlsock_setopt_ptr(e.handle(), C.CURLoption(opt), unsafe.Pointer(list))); err != nil {
		C.curl_slist_free_all(list)
		return err
	}
	h := e.reg
	h.mu.Lock()
	old := h.opts.slists[opt]
	if list == nil {
		delete(h.opts.slists, opt)
	} else {
		if h.opts.slists == nil {
			h.opts.slists = map[int]slistVal{}
		}
		h.opts.slists[opt] = slistVal{c: list, value: append([]string(nil), vals...)}
	}
	h.mu.Unlock()
	// libcurl no longer refers to the old list once the new one is set.
	C.curl_slist_free_all(old.c)
	return nil
}

// setPostfields sets CURLOPT_POSTFIELDS, the one string libcurl does not
// copy: curlsock keeps the copy until it is replaced or the handle cleaned up.
func (e *CURL) setPostfields(param any) error {
	var s string
	var cs *C.char // the copy kept for libcurl, which does not copy it
	var p unsafe.Pointer
	switch t := param.(type) {
	case nil:
	case string:
		s = t
		cs = C.CString(t)
	case []byte:
		s = string(t)
		cs = C.CString(s)
	case CurlString:
		// The caller owns it: nothing to keep, nor for Duphandle to set again.
		p = unsafe.Pointer(t)
	default:
		return optionTypeError(OPT_POSTFIELDS, "a string", param)
	}
	if cs != nil {
		p = unsafe.Pointer(cs)
	}
	if err := curlErr(C.curlsock_setopt_ptr(e.handle(), C.CURLOPT_POSTFIELDS, p)); err != nil {
		C.free(unsafe.Pointer(cs))
		return err
	}
	h := e.reg
	h.mu.Lock()
	old := h.opts.postfields
	h.opts.postfields, h.opts.postfieldsValue = cs, s
	h.mu.Unlock()
	C.free(unsafe.Pointer(old))
	return nil
}

// freeOptions releases the C memory kept for libcurl, once it is done with
// the handle.
func (h *handleReg) freeOptions() {
	h.mu.Lock()
	slists, post := h.opts.slists, h.opts.postfields
	h.opts.slists, h.opts.postfields = nil, nil
	h.mu.Unlock()
	for _, l := range slists {
		C.curl_slist_free_all(l.c)
	}
	C.free(unsafe.Pointer(post))
}

// copyOptions gives a duplicate its own copies of what libcurl copied from
// the original by pointer (dupset in easy.c): lists and POSTFIELDS.
func (e *CURL) copyOptions(src *handleReg) error {
	src.mu.Lock()
	slists := map[int][]string{}
	for opt, l := range src.opts.slists {
		slists[opt] = l.value
	}
	hasPost, post := src.opts.postfields != nil, src.opts.postfieldsValue
	src.mu.Unlock()
	for opt, v := range slists {
		if err := e.setSlist(opt, v); err != nil {
			return err
		}
	}
	if hasPost {
		return e.setPostfields(post)
	}
	return nil
}

// setByType sets every other option: the few libcurl does not copy, or
// types as something else than what it takes, then by libcurl's own type.
func (e *CURL) setByType(opt int, param any) error {
	switch opt {
	case C.CURLOPT_SHARE:
		return e.setShare(param)
	case OPT_HTTPPOST:
		if _, ok := param.(*Form); !ok && param != nil {
			return optionTypeError(opt, "a *Form", param)
		}
		return e.gocurlSetopt(opt, param)
	case OPT_POSTFIELDS:
		return e.setPostfields(param)
	case OPT_ERRORBUFFER:
		return e.setUserErrorBuffer(param)
	case OPT_COPYPOSTFIELDS:
		return e.setCopyPostfields(param)
	}
	switch C.curlsock_option_type(C.CURLoption(opt)) {
	case otLong, otValues:
		return e.gocurlSetopt(opt, param)
	case otOffT:
		return e.setOffT(opt, param)
	case otString:
		return e.setStringOption(opt, param)
	case otSlist:
		return e.setSlist(opt, param)
	case otBlob:
		return e.setBlob(opt, param)
	case otObject, otCbptr, otFunction:
		if param == nil {
			return curlErr(C.curlsock_setopt_ptr(e.handle(), C.CURLoption(opt), nil))
		}
		return fmt.Errorf("%w: %s takes a C pointer or callback that curlsock does not support", ErrOptionType, optionName(opt))
	}
	// Not an option of this libcurl: let libcurl say so, with a value it
	// will not dereference.
	if opt < C.CURLOPTTYPE_OBJECTPOINT || opt >= C.CURLOPTTYPE_OFF_T && opt < C.CURLOPTTYPE_BLOB {
		return curlErr(C.curlsock_setopt_long(e.handle(), C.CURLoption(opt), 0))
	}
	return curlErr(C.curlsock_setopt_ptr(e.handle(), C.CURLoption(opt), nil))
}

// setCopyPostfields: libcurl types CURLOPT_COPYPOSTFIELDS as an object
// pointer, but copies the bytes (up to POSTFIELDSIZE if set first, else to
// the first NUL).
func (e *CURL) setCopyPostfields(param any) error {
	var b []byte
	switch t := param.(type) {
	case string:
		b = []byte(t)
	case []byte:
		b = t
	default:
		return optionTypeError(OPT_COPYPOSTFIELDS, "a string or []byte", param)
	}
	cb := C.CBytes(append(b[:len(b):len(b)], 0))
	defer C.free(cb)
	return curlErr(C.curlsock_setopt_ptr(e.handle(), C.CURLOPT_COPYPOSTFIELDS, cb))
}

// setOffT sets a curl_off_t option.
func (e *CURL) setOffT(opt int, param any) error {
	var v int64
	switch t := param.(type) {
	case nil: // resets, as go-curl passes it
	case int:
		v = int64(t)
	case int32:
		v = int64(t)
	case int64:
		v = t
	case uint64:
		if t > math.MaxInt64 {
			return fmt.Errorf("%w: %s: %d does not fit curl_off_t", ErrOptionType, optionName(opt), t)
		}
		v = int64(t)
	default:
		return optionTypeError(opt, "an integer", param)
	}
	return curlErr(C.curlsock_setopt_off_t(e.handle(), C.CURLoption(opt), C.curl_off_t(v)))
}

// setString sets a string option, or resets it to libcurl's default.
func (e *CURL) setString(opt C.CURLoption, v string, set bool) error {
	if !set {
		return curlErr(C.curlsock_setopt_ptr(e.handle(), opt, nil))
	}
	cs := C.CString(v)
	defer C.free(unsafe.Pointer(cs))
	return curlErr(C.curlsock_setopt_ptr(e.handle(), opt, unsafe.Pointer(cs)))
}

// setStringOption sets a string option. libcurl copies them (all but
// POSTFIELDS) since 7.17.0; go-curl kept every copy until Cleanup.
func (e *CURL) setStringOption(opt int, param any) error {
	switch t := param.(type) {
	case nil:
		return e.setString(C.CURLoption(opt), "", false)
	case string:
		return e.setString(C.CURLoption(opt), t, true)
	case CurlString:
		return curlErr(C.curlsock_setopt_ptr(e.handle(), C.CURLoption(opt), unsafe.Pointer(t)))
	}
	return optionTypeError(opt, "a string", param)
}

// setBlob sets a blob option; libcurl copies the bytes (CURL_BLOB_COPY).
func (e *CURL) setBlob(opt int, param any) error {
	var b []byte
	switch t := param.(type) {
	case nil:
		return curlErr(C.curlsock_setopt_blob(e.handle(), C.CURLoption(opt), nil, 0))
	case []byte:
		b = t
	case string:
		b = []byte(t)
	default:
		return optionTypeError(opt, "[]byte", param)
	}
	cb := C.CBytes(b)
	defer C.free(cb)
	return curlErr(C.curlsock_setopt_blob(e.handle(), C.CURLoption(opt), cb, C.size_t(len(b))))
}
