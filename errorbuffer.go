//go:build linux

package curl

/*
#include <string.h>
#include "callbacks.h"

static CURLcode curlsock_set_errorbuffer(CURL *h, char *buf) {
	return curl_easy_setopt(h, CURLOPT_ERRORBUFFER, buf);
}
*/
import "C"

import "fmt"

// errorBufferSize is CURL_ERROR_SIZE: libcurl writes up to that many bytes.
const errorBufferSize = C.CURL_ERROR_SIZE

// Every easy handle curlsock knows has a C buffer of its own set as
// CURLOPT_ERRORBUFFER: libcurl writes its detail text there ("Failed to
// connect to 127.0.0.1 port 18099 after 0 ms: Couldn't connect to server"),
// and curlsock copies it out once the transfer is over. The buffer is C
// memory, never a Go pointer, and outlives the handle: libcurl may write to
// it until curl_easy_cleanup returns, and a duplicate made behind curlsock's
// back after that (callbacks.c recycles buffers for this). A user's
// OPT_ERRORBUFFER []byte is filled from the copy.

// errorDetail is a handle's error buffer and what was copied out of it.
type errorDetail struct {
	buf  *C.char // libcurl's CURLOPT_ERRORBUFFER, C memory
	text string  // the last transfer's detail text
	user []byte  // the user's OPT_ERRORBUFFER, filled from text
}

// setErrorBuffer gives the handle its buffer, allocating it on first use.
// libcurl forgets it in curl_easy_reset, and curl_easy_duphandle copies the
// pointer verbatim (dupset in easy.c): both callers set it again.
func (e *CURL) setErrorBuffer() error {
	h := e.reg
	h.mu.Lock()
	if h.detail.buf == nil {
		h.detail.buf = C.curlsock_errbuf_get()
	}
	buf := h.detail.buf
	h.mu.Unlock()
	if buf == nil {
		return CurlError(C.CURLE_OUT_OF_MEMORY)
	}
	return curlErr(C.curlsock_set_errorbuffer(e.handle(), buf))
}

func (h *handleReg) hasErrorBuffer() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.detail.buf != nil
}

// startTransfer forgets the last transfer's errors and detail text: a new
// one begins.
func (h *handleReg) startTransfer() {
	h.mu.Lock()
	h.errs = nil
	h.detail.text = ""
	if h.detail.buf != nil {
		*h.detail.buf = 0
	}
	h.mu.Unlock()
}

// endTransfer copies libcurl's detail text out of the C buffer, and into the
// user's OPT_ERRORBUFFER if one is set. Called by the goroutine that drove the
// transfer, once libcurl returned.
func (h *handleReg) endTransfer() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.detail.buf == nil {
		return
	}
	h.detail.text = C.GoStringN(h.detail.buf, C.int(C.strnlen(h.detail.buf, errorBufferSize-1)))
	if b := h.detail.user; len(b) > 0 {
		n := copy(b[:len(b)-1], h.detail.text)
		b[n] = 0
	}
}

// freeErrorBuffer gives the buffer back for recycling (curlsock_errbuf_put
// says why it is never freed), once libcurl no longer has the handle.
func (h *handleReg) freeErrorBuffer() {
	h.mu.Lock()
	buf := h.detail.buf
	h.detail = errorDetail{text: h.detail.text}
	h.mu.Unlock()
	C.curlsock_errbuf_put(buf)
}

// setUserErrorBuffer takes OPT_ERRORBUFFER: a []byte that curlsock fills
// with the detail text after every transfer (NUL-terminated, truncated to
// fit), nil to stop. libcurl itself keeps writing to curlsock's own buffer.
func (e *CURL) setUserErrorBuffer(param any) error {
	var b []byte
	switch t := param.(type) {
	case nil:
	case []byte:
		if len(t) == 0 {
			return fmt.Errorf("%w: %s takes a non-empty []byte (libcurl writes up to %d bytes)", ErrOptionType, optionName(OPT_ERRORBUFFER), errorBufferSize)
		}
		b = t
	default:
		return optionTypeError(OPT_ERRORBUFFER, "a []byte", param)
	}
	h := e.reg
	h.mu.Lock()
	h.detail.user = b
	h.mu.Unlock()
	return nil
}

// ErrorText returns libcurl's detail message for the handle's last transfer
// (what CURLOPT_ERRORBUFFER receives), or "" if it gave none: the text curl
// prints, such as "Failed to connect to 127.0.0.1 port 18099 after 0 ms:
// Couldn't connect to server" where the CurlError says only "Couldn't connect
// to server". It is kept until the next transfer of the handle starts.
func (e *CURL) ErrorText() string {
	h := e.reg
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.detail.text
}
