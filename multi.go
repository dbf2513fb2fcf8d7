//go:build linux

package curl

/*
#include <curl/curl.h>

static CURLMcode curlsock_multi_setopt_long(CURLM *m, CURLMoption opt, long v) {
	return curl_multi_setopt(m, opt, v);
}

// Returned by value: a Go variable whose address went to C would escape to
// the heap, an allocation per message.
typedef struct {
	CURLMsg *msg;
	int left;
} curlsock_info;

static curlsock_info curlsock_multi_info_read(CURLM *m) {
	curlsock_info in = {NULL, 0};
	in.msg = curl_multi_info_read(m, &in.left);
	return in;
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	gocurl "github.com/andelf/go-curl"
)

// CurlMultiError is go-curl's multi error type (a CURLMcode).
type CurlMultiError = gocurl.CurlMultiError

// CurlMultiMsg is go-curl's CURLMSG type.
type CurlMultiMsg = gocurl.CurlMultiMsg

// CURLM is a multi handle whose methods take curlsock's *CURL, so that
// go-curl's multi code compiles unchanged. Calls that drive libcurl (Perform,
// RemoveHandle, Cleanup) raise again any panic of a socket callback they ran.
type CURLM struct {
	handle unsafe.Pointer
	frame  *frame

	mu     sync.Mutex
	easies map[unsafe.Pointer]*CURL // added and not yet removed
}

// CURLMessage is a message from Info_read, as in go-curl, with Easy_handle
// curlsock's handle.
type CURLMessage struct {
	Msg         CurlMultiMsg
	Easy_handle *CURL
	Data        [unsafe.Sizeof(uintptr(0))]byte
}

// MultiInit creates a multi handle (curl_multi_init); nil if libcurl cannot.
func MultiInit() *CURLM {
	p := C.curl_multi_init()
	if p == nil {
		return nil
	}
	return &CURLM{handle: unsafe.Pointer(p), frame: newFrame(kindMulti), easies: map[unsafe.Pointer]*CURL{}}
}

func multiErr(rc C.CURLMcode) error {
	if rc == C.CURLM_OK {
		return nil
	}
	return CurlMultiError(rc)
}

func (m *CURLM) closed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.handle == nil
}

// Cleanup closes the multi handle (curl_multi_cleanup). Connections in its
// cache close through the close-socket callbacks they were made with, even
// those of easy handles already cleaned up.
func (m *CURLM) Cleanup() error {
	m.mu.Lock()
	p := m.handle
	m.handle = nil
	easies := m.easies
	m.easies = nil
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	var rc C.CURLMcode
	m.frame.drive(func() { rc = C.curl_multi_cleanup(p) })
	if rc != C.CURLM_OK {
		// libcurl refused (CURLM_RECURSIVE_API_CALL from inside one of the
		// multi's callbacks): the multi lives on, and so must its state.
		m.mu.Lock()
		m.handle, m.easies = p, easies
		m.mu.Unlock()
		m.frame.raise()
		return multiErr(rc)
	}
	for _, e := range easies {
		e.reg.setMulti(nil)
		e.reg.releaseRetired()
	}
	forgetFrame(m.frame)
	m.frame.raise()
	return nil
}

// Perform runs the transfers that are ready (curl_multi_perform) and returns
// how many are still running.
func (m *CURLM) Perform() (int, error) {
	if m.closed() {
		return 0, ErrHandleClosed
	}
	running := C.int(-1)
	var rc C.CURLMcode
	m.frame.drive(func() { rc = C.curl_multi_perform(m.handle, &running) })
	m.frame.raise()
	return int(running), multiErr(rc)
}

// AddHandle adds an easy handle (curl_multi_add_handle). Its callback errors
// from here on belong to this transfer: see CURLMessage.Result.
func (m *CURLM) AddHandle(e *CURL) error {
	if m.closed() {
		return ErrHandleClosed
	}
	if e == nil || e.reg.isCleaned() {
		return ErrHandleClosed
	}
	if err := e.reg.busy(); err != nil {
		return err
	}
	e.reg.raise()
	e.reg.startTransfer()
	if err := e.reg.refusal(); err != nil {
		return err
	}
	p := e.handle()
	// libcurl 8.x destroys the handle's own connection cache here (the one
	// its Performs filled), calling the close-socket callback: in a frame,
	// so that a callback's panic is raised by AddHandle and a Cleanup from
	// it waits until libcurl has returned.
	var rc C.CURLMcode
	m.frame.drive(func() { rc = C.curl_multi_add_handle(m.handle, p) })
	if rc == C.CURLM_OK && !e.reg.isCleaned() {
		m.mu.Lock()
		m.easies[p] = e
		m.mu.Unlock()
		e.reg.setMulti(m)
	}
	m.frame.raise()
	if rc == C.CURLM_OK && e.reg.isCleaned() {
		return ErrHandleClosed
	}
	return multiErr(rc)
}

// RemoveHandle removes an easy handle (curl_multi_remove_handle). libcurl may
// close its connection here.
func (m *CURLM) RemoveHandle(e *CURL) error {
	if m.closed() {
		return ErrHandleClosed
	}
	if e == nil {
		return ErrHandleClosed
	}
	p := e.handle()
	var rc C.CURLMcode
	m.frame.drive(func() { rc = C.curl_multi_remove_handle(m.handle, p) })
	if rc != C.CURLM_RECURSIVE_API_CALL {
		// Unless refused from inside a callback, the handle is out.
		if m.forget(p) {
			e.reg.endTransfer()
		}
		e.reg.setMulti(nil)
		e.reg.releaseRetired()
	}
	m.frame.raise()
	return multiErr(rc)
}

// forget drops an easy handle from the multi and reports whether it was in.
func (m *CURLM) forget(p unsafe.Pointer) bool {
	m.mu.Lock()
	_, in := m.easies[p]
	delete(m.easies, p)
	m.mu.Unlock()
	return in
}

// Timeout returns how long to wait before calling Perform, in milliseconds
// (curl_multi_timeout); -1 means no timeout is set.
func (m *CURLM) Timeout() (int, error) {
	if m.closed() {
		return -1, ErrHandleClosed
	}
	t := C.long(-1)
	err := multiErr(C.curl_multi_timeout(m.handle, &t))
	return int(t), err
}

// Wait waits up to timeoutMs milliseconds for activity on the transfers'
// sockets (curl_multi_wait) and returns how many sockets had some.
func (m *CURLM) Wait(timeoutMs int) (int, error) {
	if m.closed() {
		return 0, ErrHandleClosed
	}
	n := C.int(0)
	err := multiErr(C.curl_multi_wait(m.handle, nil, 0, C.int(timeoutMs), &n))
	return int(n), err
}

// Setopt sets a multi option (curl_multi_setopt). Numeric and boolean options
// are supported; callback and pointer options are refused with an error
// wrapping ErrOptionType.
func (m *CURLM) Setopt(opt int, param any) error {
	if m.closed() {
		return ErrHandleClosed
	}
	if opt >= C.CURLOPTTYPE_OBJECTPOINT {
		return fmt.Errorf("%w: %s takes a pointer or a callback, which curlsock does not support", ErrOptionType, multiOptionName(opt))
	}
	var v C.long
	switch t := param.(type) {
	case int:
		v = C.long(t)
	case int32:
		v = C.long(t)
	case int64:
		v = C.long(t)
	case bool:
		if t {
			v = 1
		}
	default:
		return fmt.Errorf("%w: %s takes an integer or a bool, not %T", ErrOptionType, multiOptionName(opt), param)
	}
	return multiErr(C.curlsock_multi_setopt_long(m.handle, C.CURLMoption(opt), v))
}

// multiOptionNames names libcurl 7.88's multi options (libcurl has no lookup
// for them as it has for easy options).
var multiOptionNames = map[int]string{
	C.CURLMOPT_SOCKETFUNCTION:              "CURLMOPT_SOCKETFUNCTION",
	C.CURLMOPT_SOCKETDATA:                  "CURLMOPT_SOCKETDATA",
	C.CURLMOPT_PIPELINING:                  "CURLMOPT_PIPELINING",
	C.CURLMOPT_TIMERFUNCTION:               "CURLMOPT_TIMERFUNCTION",
	C.CURLMOPT_TIMERDATA:                   "CURLMOPT_TIMERDATA",
	C.CURLMOPT_MAXCONNECTS:                 "CURLMOPT_MAXCONNECTS",
	C.CURLMOPT_MAX_HOST_CONNECTIONS:        "CURLMOPT_MAX_HOST_CONNECTIONS",
	C.CURLMOPT_MAX_PIPELINE_LENGTH:         "CURLMOPT_MAX_PIPELINE_LENGTH",
	C.CURLMOPT_CONTENT_LENGTH_PENALTY_SIZE: "CURLMOPT_CONTENT_LENGTH_PENALTY_SIZE",
	C.CURLMOPT_CHUNK_LENGTH_PENALTY_SIZE:   "CURLMOPT_CHUNK_LENGTH_PENALTY_SIZE",
	C.CURLMOPT_PIPELINING_SITE_BL:          "CURLMOPT_PIPELINING_SITE_BL",
	C.CURLMOPT_PIPELINING_SERVER_BL:        "CURLMOPT_PIPELINING_SERVER_BL",
	C.CURLMOPT_MAX_TOTAL_CONNECTIONS:       "CURLMOPT_MAX_TOTAL_CONNECTIONS",
	C.CURLMOPT_PUSHFUNCTION:                "CURLMOPT_PUSHFUNCTION",
	C.CURLMOPT_PUSHDATA:                    "CURLMOPT_PUSHDATA",
	C.CURLMOPT_MAX_CONCURRENT_STREAMS:      "CURLMOPT_MAX_CONCURRENT_STREAMS",
}

func multiOptionName(opt int) string {
	if n, ok := multiOptionNames[opt]; ok {
		return n
	}
	return fmt.Sprintf("multi option %d", opt)
}

// Fdset extracts the file descriptors to wait on (curl_multi_fdset).
func (m *CURLM) Fdset(rset, wset, eset *syscall.FdSet) (int, error) {
	if m.closed() {
		return -1, ErrHandleClosed
	}
	maxfd := C.int(-1)
	err := multiErr(C.curl_multi_fdset(m.handle, (*C.fd_set)(unsafe.Pointer(rset)),
		(*C.fd_set)(unsafe.Pointer(wset)), (*C.fd_set)(unsafe.Pointer(eset)), &maxfd))
	return int(maxfd), err
}

// Info_read returns the next message from the multi handle
// (curl_multi_info_read), or nil, and how many are left.
func (m *CURLM) Info_read() (*CURLMessage, int) {
	if m.closed() {
		return nil, 0
	}
	in := C.curlsock_multi_info_read(m.handle)
	msg, left := in.msg, in.left
	if msg == nil {
		return nil, int(left)
	}
	out := &CURLMessage{Msg: CurlMultiMsg(msg.msg)}
	copy(out.Data[:], unsafe.Slice((*byte)(unsafe.Pointer(&msg.data)), len(out.Data)))
	m.mu.Lock()
	out.Easy_handle = m.easies[unsafe.Pointer(msg.easy_handle)]
	m.mu.Unlock()
	if out.Msg == C.CURLMSG_DONE && out.Easy_handle != nil {
		out.Easy_handle.reg.endTransfer()
	}
	return out, int(left)
}

// Result is the outcome of the finished transfer the message reports
// (CURLMSG_DONE): nil on success, else what Perform would have returned for it:
// a CurlError, or an *Error with the transfer's callback errors.
func (msg *CURLMessage) Result() error {
	if msg.Msg != C.CURLMSG_DONE {
		return nil
	}
	code := CurlError(binary.NativeEndian.Uint32(msg.Data[:4]))
	if code == 0 {
		return nil
	}
	if msg.Easy_handle == nil {
		return code
	}
	return msg.Easy_handle.reg.result(code)
}
