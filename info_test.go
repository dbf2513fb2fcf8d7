//go:build linux

package curl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// infoBody is what the info tests' server sends, with a Content-Length.
const infoBody = "0123456789abcdefghijklmnopqrstuvwxyz"

// infoServer answers every request with infoBody and a cookie.
func infoServer(t *testing.T, network string) *testServer {
	t.Helper()
	return newServerHandler(t, network, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "flavor", Value: "oatmeal", Path: "/"})
		w.Header().Set("Content-Length", fmt.Sprint(len(infoBody)))
		fmt.Fprint(w, infoBody)
	}))
}

// getinfo calls Getinfo and fails the test unless it succeeds with a T.
func getinfo[T any](t *testing.T, e *CURL, info CurlInfo) T {
	t.Helper()
	v, err := e.Getinfo(info)
	if err != nil {
		t.Fatalf("Getinfo(%#x): %v", uint32(info), err)
	}
	x, ok := v.(T)
	if !ok {
		var want T
		t.Fatalf("Getinfo(%#x) = %T %v, want a %T", uint32(info), v, v, want)
	}
	return x
}

// Infos added in libcurl 8.x (curl.h), absent from the 7.88.1 constants.
const (
	infoConnID        = INFO_OFF_T + 64 // CURLINFO_CONN_ID, 8.2.0
	infoUsedProxy     = INFO_LONG + 66  // CURLINFO_USED_PROXY, 8.7.0
	infoQueueTimeT    = INFO_OFF_T + 65 // CURLINFO_QUEUE_TIME_T, 8.6.0
	errUnknownInfo    = E_UNKNOWN_OPTION
	sslBackendOpenSSL = 1 // CURLSSLBACKEND_OPENSSL
)

// One plain HTTP transfer, read back through every info type it fills.
func TestGetinfoTypes(t *testing.T) {
	noLeaks(t)
	srv := infoServer(t, "tcp4")
	e, body := newEasy(t)
	url := srv.url("/info")
	must(t, e.Setopt(OPT_URL, url))
	must(t, e.Setopt(OPT_COOKIEFILE, "")) // "": the cookie engine, no file
	must(t, e.Perform())
	if body.String() != infoBody {
		t.Fatalf("body %q, want %q", body, infoBody)
	}

	if got := getinfo[int](t, e, INFO_RESPONSE_CODE); got != 200 {
		t.Errorf("RESPONSE_CODE %d, want 200", got)
	}
	if got := getinfo[string](t, e, INFO_EFFECTIVE_URL); got != url {
		t.Errorf("EFFECTIVE_URL %q, want %q", got, url)
	}
	if got := getinfo[float64](t, e, INFO_TOTAL_TIME); got <= 0 {
		t.Errorf("TOTAL_TIME %v, want > 0", got)
	}
	for _, info := range []CurlInfo{INFO_SIZE_DOWNLOAD_T, INFO_CONTENT_LENGTH_DOWNLOAD_T} {
		if got := getinfo[int64](t, e, info); got != int64(len(infoBody)) {
			t.Errorf("Getinfo(%#x) = %d, want the body's length %d", uint32(info), got, len(infoBody))
		}
	}
	// A NULL string: no redirect was offered.
	if got := getinfo[string](t, e, INFO_REDIRECT_URL); got != "" {
		t.Errorf("REDIRECT_URL %q, want \"\"", got)
	}
	// OPT_PRIVATE is any Go value, given back as it was set.
	if got, _ := e.Getinfo(INFO_PRIVATE); got != nil {
		t.Errorf("PRIVATE %v before it was set, want nil", got)
	}
	type tag struct{ n int }
	must(t, e.Setopt(OPT_PRIVATE, &tag{7}))
	if got := getinfo[*tag](t, e, INFO_PRIVATE); got == nil || got.n != 7 {
		t.Errorf("PRIVATE %v, want &tag{7}", got)
	}
	cookies := getinfo[[]string](t, e, INFO_COOKIELIST)
	if len(cookies) != 1 || !strings.HasSuffix(cookies[0], "\tflavor\toatmeal") {
		t.Errorf("COOKIELIST %q, want the flavor=oatmeal cookie", cookies)
	}
	// Usually empty with OpenSSL 3; the point is that it is a list, freed.
	engines := getinfo[[]string](t, e, INFO_SSL_ENGINES)
	t.Logf("SSL_ENGINES %q", engines)

	// go-curl's types, for the infos it can read: callers' type assertions
	// keep working.
	for _, info := range []CurlInfo{INFO_RESPONSE_CODE, INFO_EFFECTIVE_URL, INFO_TOTAL_TIME, INFO_CONTENT_TYPE} {
		ours, err1 := e.Getinfo(info)
		theirs, err2 := e.CURL.Getinfo(info)
		if err1 != nil || err2 != nil || fmt.Sprintf("%T", ours) != fmt.Sprintf("%T", theirs) {
			t.Errorf("Getinfo(%#x) = %T %v, %v; go-curl's %T %v, %v", uint32(info), ours, ours, err1, theirs, theirs, err2)
		}
		if _, isFloat := ours.(float64); !isFloat && ours != theirs {
			t.Errorf("Getinfo(%#x) = %v, go-curl's %v", uint32(info), ours, theirs)
		}
	}
}

// An info of a known type that this libcurl lacks is libcurl's own error;
// 8.x's are read with the right type.
func TestGetinfoNewerInfos(t *testing.T) {
	noLeaks(t)
	srv := infoServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	for _, tc := range []struct {
		info  CurlInfo
		since uint
		zero  any
	}{
		{infoConnID, 0x080200, int64(0)},
		{infoQueueTimeT, 0x080600, int64(0)},
		{infoUsedProxy, 0x080700, 0},
	} {
		v, err := e.Getinfo(tc.info)
		if fmt.Sprintf("%T", v) != fmt.Sprintf("%T", tc.zero) {
			t.Errorf("Getinfo(%#x) = %T, want a %T", uint32(tc.info), v, tc.zero)
		}
		if versionNum >= tc.since {
			if err != nil {
				t.Errorf("Getinfo(%#x) on %s: %v", uint32(tc.info), versionString(), err)
			}
			continue
		}
		if ce, ok := err.(CurlError); !ok || ce != errUnknownInfo || v != tc.zero {
			t.Errorf("Getinfo(%#x) on %s = %v, %v; want %v, E_UNKNOWN_OPTION", uint32(tc.info), versionString(), v, err, tc.zero)
		}
	}
	if versionNum >= 0x080200 {
		if id := getinfo[int64](t, e, infoConnID); id < 0 {
			t.Errorf("CONN_ID %d after a transfer", id)
		}
	}
}

// CONNECT_ONLY leaves the connection's socket with the handle.
// TestConnectOnlyNeedsPerform: Do and PerformContext refuse a handle with
// OPT_CONNECT_ONLY (the connection would close as the handle leaves their
// multi, and Send and Recv would fail after a nil result); turned off again,
// the handle runs.
func TestConnectOnlyNeedsPerform(t *testing.T) {
	noLeaks(t)
	srv := infoServer(t, "tcp4")
	eng := NewEngine(WithShards(1))
	defer eng.Close()
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	for _, on := range []any{1, true, int64(2)} {
		must(t, e.Setopt(OPT_CONNECT_ONLY, on))
		if err := eng.Do(context.Background(), e); !errors.Is(err, ErrConnectOnly) {
			t.Errorf("Do with OPT_CONNECT_ONLY %v: %v, want ErrConnectOnly", on, err)
		}
		if err := e.PerformContext(context.Background()); !errors.Is(err, ErrConnectOnly) {
			t.Errorf("PerformContext with OPT_CONNECT_ONLY %v: %v, want ErrConnectOnly", on, err)
		}
	}
	must(t, e.Setopt(OPT_CONNECT_ONLY, 0))
	must(t, eng.Do(context.Background(), e))
}

func TestGetinfoActiveSocket(t *testing.T) {
	noLeaks(t)
	srv := infoServer(t, "tcp4")
	e, _ := newEasy(t)
	if got := getinfo[int](t, e, INFO_ACTIVESOCKET); got != -1 {
		t.Errorf("ACTIVESOCKET %d before any transfer, want -1 (CURL_SOCKET_BAD)", got)
	}
	must(t, e.Setopt(OPT_CONNECT_ONLY, 1))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	fd := getinfo[int](t, e, INFO_ACTIVESOCKET)
	if fd < 0 {
		t.Fatalf("ACTIVESOCKET %d after a CONNECT_ONLY Perform", fd)
	}
	if last := getinfo[int](t, e, INFO_LASTSOCKET); last != fd {
		t.Errorf("LASTSOCKET %d, ACTIVESOCKET %d", last, fd)
	}
	peer, err := unix.Getpeername(fd)
	if err != nil {
		t.Fatalf("getpeername(%d): %v", fd, err)
	}
	if got, want := inet4String(peer), srv.Addr; got != want {
		t.Errorf("ACTIVESOCKET %d is connected to %s, want the server %s", fd, got, want)
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname(%d): %v", fd, err)
	}
	// The server may see the connection after libcurl has returned.
	var conns []string
	for range 250 {
		srv.mu.Lock()
		conns = append([]string(nil), srv.conns...)
		srv.mu.Unlock()
		if len(conns) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(conns) != 1 || conns[0] != inet4String(local) {
		t.Errorf("ACTIVESOCKET %d is %s, the server accepted %v", fd, inet4String(local), conns)
	}
}

func inet4String(sa unix.Sockaddr) string {
	if in, ok := sa.(*unix.SockaddrInet4); ok {
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), uint16(in.Port)).String()
	}
	return fmt.Sprintf("%T", sa)
}

// The PTR infos that are not lists, over TLS.
func TestGetinfoTLS(t *testing.T) {
	noLeaks(t)
	srv := infoServer(t, "tls")
	e, _ := newEasy(t)
	// Before any transfer: the backend, no connection, no certificates.
	if got := getinfo[TLSSessionInfo](t, e, INFO_TLS_SSL_PTR); got != (TLSSessionInfo{Backend: sslBackendOpenSSL}) {
		t.Errorf("TLS_SSL_PTR %+v before any transfer, want OpenSSL's backend and no object", got)
	}
	if got := getinfo[CertInfo](t, e, INFO_CERTINFO); len(got) != 0 {
		t.Errorf("CERTINFO %q before any transfer", got)
	}
	// The TLS objects exist while the connection is the handle's: inside
	// the transfer's callbacks.
	var inside []TLSSessionInfo
	var insideErr error
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		for _, info := range []CurlInfo{INFO_TLS_SSL_PTR, INFO_TLS_SESSION} {
			v, err := e.Getinfo(info)
			if err != nil {
				insideErr = err
				return false
			}
			inside = append(inside, v.(TLSSessionInfo))
		}
		return true
	}))
	must(t, e.Setopt(OPT_CAINFO, writeCA(t, srv)))
	must(t, e.Setopt(OPT_CERTINFO, 1))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	if insideErr != nil {
		t.Fatalf("Getinfo in the write callback: %v", insideErr)
	}
	if len(inside) < 2 {
		t.Fatalf("write callback saw %v", inside)
	}
	ssl, ctx := inside[0], inside[1]
	if ssl.Backend != sslBackendOpenSSL || ssl.Internals == 0 {
		t.Errorf("TLS_SSL_PTR %+v, want OpenSSL's backend (1) and its SSL*", ssl)
	}
	// With OpenSSL the deprecated TLS_SESSION is meant to give the SSL_CTX*,
	// but a libcurl regression (fixed by curl PR #21290) gave the SSL*: only
	// its presence is checked.
	if ctx.Backend != sslBackendOpenSSL || ctx.Internals == 0 {
		t.Errorf("TLS_SESSION %+v, want OpenSSL's backend and a pointer", ctx)
	}
	// After Perform the connection is back in the cache, detached from the
	// handle: the backend, no object (even with CONNECT_ONLY).
	if after := getinfo[TLSSessionInfo](t, e, INFO_TLS_SSL_PTR); after != (TLSSessionInfo{Backend: sslBackendOpenSSL}) {
		t.Errorf("TLS_SSL_PTR after Perform %+v, want OpenSSL's backend and no object", after)
	}

	certs := getinfo[CertInfo](t, e, INFO_CERTINFO)
	if len(certs) == 0 {
		t.Fatal("CERTINFO is empty with OPT_CERTINFO set")
	}
	subject := ""
	for _, l := range certs[0] {
		if s, ok := strings.CutPrefix(l, "Subject:"); ok {
			subject = s
		}
	}
	// httptest's certificate is issued to "O=Acme Co".
	if !strings.Contains(subject, "Acme Co") {
		t.Errorf("CERTINFO[0] %q, want a Subject: line naming Acme Co", certs[0])
	}
	// libcurl owns the certificate info: reading it again gives the same.
	if again := getinfo[CertInfo](t, e, INFO_CERTINFO); fmt.Sprint(again) != fmt.Sprint(certs) {
		t.Errorf("CERTINFO changed between two reads")
	}
}

// Infos whose C type curlsock cannot know are errors, never a panic or a
// read through a pointer of unknown layout.
func TestGetinfoUnknown(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	for _, info := range []CurlInfo{
		INFO_PTR + 99,       // a PTR info of unknown layout and ownership
		INFO_SLIST + 200,    // the same type bits
		0x700000 + 1,        // type bits libcurl does not define
		INFO_TYPEMASK,       // every type bit
		INFO_TEXT,           // a curl_infotype (debug callback), not a CURLINFO
		INFO_HEADER_IN,      // likewise
		CurlInfo(INFO_MASK), // no type bits at all
	} {
		v, err := e.Getinfo(info)
		if !errors.Is(err, ErrInfoType) || v != nil {
			t.Errorf("Getinfo(%#x) = %v, %v; want nil, ErrInfoType", uint32(info), v, err)
		}
	}
	// Known types with an id libcurl lacks: libcurl's error, typed zero
	// values.
	for _, tc := range []struct {
		info CurlInfo
		zero any
	}{
		{INFO_STRING + 999, ""},
		{INFO_LONG + 999, 0},
		{INFO_DOUBLE + 999, 0.0},
		{INFO_OFF_T + 999, int64(0)},
		{INFO_SOCKET + 999, -1},
	} {
		v, err := e.Getinfo(tc.info)
		if ce, ok := err.(CurlError); !ok || ce != errUnknownInfo || v != tc.zero {
			t.Errorf("Getinfo(%#x) = %T %v, %v; want %T %v, E_UNKNOWN_OPTION", uint32(tc.info), v, v, err, tc.zero, tc.zero)
		}
	}
}

func TestGetinfoAfterCleanup(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	e.Cleanup()
	for _, info := range []CurlInfo{INFO_RESPONSE_CODE, INFO_EFFECTIVE_URL, INFO_COOKIELIST, INFO_CERTINFO, INFO_PTR + 99} {
		if v, err := e.Getinfo(info); !errors.Is(err, ErrHandleClosed) || v != nil {
			t.Errorf("Getinfo(%#x) after Cleanup = %v, %v; want nil, ErrHandleClosed", uint32(info), v, err)
		}
	}
}
