//go:build linux

package curl

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// refusedURL is a loopback URL nothing listens on, and its port.
func refusedURL(t *testing.T) (string, int) {
	port := closedPort(t)
	return fmt.Sprintf("http://127.0.0.1:%d/", port), port
}

func TestErrorText(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	u, port := refusedURL(t)
	must(t, e.Setopt(OPT_URL, u))
	err := e.Perform()
	// The drop-in contract: a plain failure is still a bare CurlError.
	if ce, ok := err.(CurlError); !ok || ce != CurlError(E_COULDNT_CONNECT) {
		t.Fatalf("Perform = %#v, want the bare CurlError E_COULDNT_CONNECT", err)
	}
	// libcurl's own words, as curl prints them: the port refused.
	text := e.ErrorText()
	if !strings.Contains(text, fmt.Sprintf("127.0.0.1 port %d", port)) {
		t.Errorf("ErrorText = %q, want libcurl's detail naming 127.0.0.1 port %d", text, port)
	}

	// A successful transfer starts afresh: no stale text.
	srv := newServer(t, "tcp4")
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	if text := e.ErrorText(); text != "" {
		t.Errorf("ErrorText after a success = %q, want \"\"", text)
	}
}

func TestErrorTextInError(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	u, port := refusedURL(t)
	must(t, e.Setopt(OPT_URL, u))
	sentinel := errors.New("not this one")
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { return SOCKET_BAD, sentinel }))
	err := e.Perform()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Perform = %v, want an *Error", err)
	}
	if ce.Detail == "" || ce.Detail != e.ErrorText() {
		t.Errorf("Error.Detail = %q, ErrorText = %q: want libcurl's detail in both", ce.Detail, e.ErrorText())
	}
	msg := err.Error()
	if !strings.Contains(msg, ce.Detail) || !strings.Contains(msg, "not this one") || !strings.Contains(msg, fmt.Sprint(port)) {
		t.Errorf("Error() = %q, want the detail and the callback's error", msg)
	}
	if !errors.Is(err, sentinel) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
		t.Errorf("errors.Is lost the code or the callback error: %v", err)
	}
}

// The user's OPT_ERRORBUFFER []byte is filled after each transfer, as
// libcurl fills a char buffer; it is accepted (go-curl refused it).
func TestUserErrorBuffer(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	u, port := refusedURL(t)
	must(t, e.Setopt(OPT_URL, u))
	buf := make([]byte, errorBufferSize)
	must(t, e.Setopt(OPT_ERRORBUFFER, buf))
	if err := e.Perform(); err == nil {
		t.Fatal("Perform succeeded against a closed port")
	}
	got, _, found := bytes.Cut(buf, []byte{0})
	if !found || string(got) != e.ErrorText() || !strings.Contains(string(got), fmt.Sprint(port)) {
		t.Errorf("user buffer = %q (terminated: %v), want %q", got, found, e.ErrorText())
	}

	// A small buffer gets a truncated, NUL-terminated text.
	small := bytes.Repeat([]byte{'x'}, 8)
	must(t, e.Setopt(OPT_ERRORBUFFER, small))
	e.Perform()
	if small[7] != 0 || string(small[:7]) != e.ErrorText()[:7] {
		t.Errorf("8-byte buffer = %q, want the text's first 7 bytes and a NUL", small)
	}

	for _, bad := range []any{"a string", []byte{}, 5} {
		if err := e.Setopt(OPT_ERRORBUFFER, bad); !errors.Is(err, ErrOptionType) || !strings.Contains(err.Error(), "CURLOPT_ERRORBUFFER") {
			t.Errorf("Setopt(OPT_ERRORBUFFER, %#v) = %v, want ErrOptionType naming CURLOPT_ERRORBUFFER", bad, err)
		}
	}
	must(t, e.Setopt(OPT_ERRORBUFFER, nil))
}

// libcurl copies the error buffer's pointer into a duplicate (dupset in
// easy.c) and forgets it in a reset: each handle keeps its own.
func TestErrorTextDuphandleReset(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	u1, p1 := refusedURL(t)
	must(t, e.Setopt(OPT_URL, u1))
	e.Perform()
	d := e.Duphandle()
	if d == nil {
		t.Fatal("Duphandle returned nil")
	}
	u2, p2 := refusedURL(t)
	must(t, d.Setopt(OPT_URL, u2))
	d.Perform()
	if !strings.Contains(e.ErrorText(), fmt.Sprint(p1)) || !strings.Contains(d.ErrorText(), fmt.Sprint(p2)) {
		t.Errorf("original %q (want port %d), duplicate %q (want port %d)", e.ErrorText(), p1, d.ErrorText(), p2)
	}
	// The duplicate outlives the original; its buffer is its own (ASan
	// would see a write into the freed one).
	e.Cleanup()
	d.Perform()
	if !strings.Contains(d.ErrorText(), fmt.Sprint(p2)) {
		t.Errorf("duplicate after the original's cleanup: %q", d.ErrorText())
	}
	d.Reset()
	must(t, d.Setopt(OPT_URL, u1))
	must(t, d.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	d.Perform()
	if !strings.Contains(d.ErrorText(), fmt.Sprint(p1)) {
		t.Errorf("after Reset: %q, want the detail naming port %d", d.ErrorText(), p1)
	}
	d.Cleanup()
}

func TestErrorTextMulti(t *testing.T) {
	noLeaks(t)
	m := MultiInit()
	defer m.Cleanup()
	e, _ := newEasy(t)
	u, port := refusedURL(t)
	must(t, e.Setopt(OPT_URL, u))
	must(t, m.AddHandle(e))
	msg := driveMulti(t, m)
	if err := msg.Result(); err != CurlError(E_COULDNT_CONNECT) {
		t.Errorf("Result = %#v, want the bare CurlError", err)
	}
	if !strings.Contains(e.ErrorText(), fmt.Sprint(port)) {
		t.Errorf("ErrorText after the multi transfer = %q", e.ErrorText())
	}
	must(t, m.RemoveHandle(e))
}

// driveMulti drives m until a transfer is done and returns its message.
func driveMulti(t *testing.T, m *CURLM) *CURLMessage {
	t.Helper()
	for range 1000 {
		if _, err := m.Perform(); err != nil {
			t.Fatal(err)
		}
		if msg, _ := m.Info_read(); msg != nil && msg.Msg == CURLMSG_DONE {
			return msg
		}
		m.Wait(10)
	}
	t.Fatal("the multi transfer did not finish")
	return nil
}

// Callback errors outlive Perform: they are the last transfer's until the
// next one starts.
func TestCallbackErrorsKeptAfterPerform(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	port := srv.Listener.Addr().(interface{ String() string }).String()
	port = port[strings.LastIndex(port, ":")+1:]
	must(t, e.Setopt(OPT_URL, "http://both.test:"+port+"/"))
	must(t, e.Setopt(OPT_RESOLVE, []string{"both.test:" + port + ":[::1],127.0.0.1"}))
	refusedV6 := errors.New("no IPv6 here")
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		if a.Addr.Addr().Is6() {
			return SOCKET_BAD, refusedV6
		}
		return OpenSocket(a)
	}))
	must(t, e.Perform())
	errs := e.CallbackErrors()
	if len(errs) != 1 || !errors.Is(errs[0], refusedV6) {
		t.Fatalf("CallbackErrors after a successful Perform = %v, want the refused IPv6 attempt", errs)
	}
	// The next transfer starts with none.
	must(t, e.Setopt(OPT_RESOLVE, nil))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	if errs := e.CallbackErrors(); len(errs) != 0 {
		t.Errorf("CallbackErrors of the next transfer = %v, want none", errs)
	}
}

// Errors name options as libcurl does today, aliases by their current name.
func TestOptionErrorNames(t *testing.T) {
	e, _ := newEasy(t)
	for _, c := range []struct {
		opt  int
		val  any
		want string
	}{
		{OPT_HTTPHEADER, 5, "CURLOPT_HTTPHEADER"},
		{OPT_SSLCERTPASSWD, 5, "CURLOPT_KEYPASSWD"}, // an alias
		{OPT_INFILESIZE_LARGE, "x", "CURLOPT_INFILESIZE_LARGE"},
		{OPT_URL, 5, "CURLOPT_URL"},
		{OPT_DEBUGFUNCTION, func() {}, "CURLOPT_DEBUGFUNCTION"},
		{OPT_OPENSOCKETFUNCTION, 5, "CURLOPT_OPENSOCKETFUNCTION"},
	} {
		err := e.Setopt(c.opt, c.val)
		if !errors.Is(err, ErrOptionType) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), fmt.Sprint(c.opt)) {
			t.Errorf("Setopt(%d, %T) = %v, want ErrOptionType naming %s, not the number", c.opt, c.val, err, c.want)
		}
	}
	m := MultiInit()
	defer m.Cleanup()
	if err := m.Setopt(MOPT_MAXCONNECTS, "x"); err == nil || !strings.Contains(err.Error(), "CURLMOPT_MAXCONNECTS") {
		t.Errorf("multi Setopt error = %v, want it to name CURLMOPT_MAXCONNECTS", err)
	}
}

// A handle duplicated with go-curl's own Duphandle, behind curlsock's back,
// keeps libcurl's pointer to its original's error buffer; once the original
// is cleaned up, the buffer is recycled, never freed (ASan, make test-asan,
// would report a write into freed memory).
func TestErrorBufferOutlivesGoCurlDuplicate(t *testing.T) {
	e := EasyInit()
	u, _ := refusedURL(t)
	must(t, e.Setopt(OPT_URL, u))
	raw := e.CURL.Duphandle()
	e.Cleanup()
	if err := raw.Perform(); err == nil {
		t.Error("the duplicate reached a closed port")
	}
	raw.Cleanup()
}

// curl_easy_reset forgets CURLOPT_ERRORBUFFER: so does Reset for the user's.
func TestUserErrorBufferReset(t *testing.T) {
	e, _ := newEasy(t)
	buf := make([]byte, errorBufferSize)
	must(t, e.Setopt(OPT_ERRORBUFFER, buf))
	e.Reset()
	u, _ := refusedURL(t)
	must(t, e.Setopt(OPT_URL, u))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	e.Perform()
	if e.ErrorText() == "" || buf[0] != 0 {
		t.Errorf("after Reset: ErrorText %q, user buffer %q: want the text kept from the buffer", e.ErrorText(), buf[:16])
	}
}
