//go:build linux

package curl

// Tests from a review of curl.Transport. TestReviewFixed* each reproduced a
// defect the review found (its comment says what it was); they pass since
// the fix. TestReviewOK* check behaviour that was suspected and found
// correct.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// rawServer answers each connection's first request with handle.
func rawServer(t *testing.T, handle func(c net.Conn, req *http.Request, raw string)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				var raw strings.Builder
				br := bufio.NewReader(io.TeeReader(c, &raw))
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				handle(c, req, raw.String())
			}(c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// Was (libcurl 7.88.1): an HTTP/2
// response closed while the Transport has paused it (reader behind by more
// than 256 KiB), on a connection that other streams keep busy, leaves
// libcurl delivering that stream's remaining DATA to the easy handle, which
// the Transport has meanwhile Reset and handed to the next request. The next
// response's body then starts with the old response's bytes (silent
// cross-request data leak), or, when they fill the buffer, its RoundTrip
// never returns. The same with the request's context canceled instead of
// Close. Fails within a few hundred requests (usually far fewer).
func TestReviewFixedH2ClosedPausedStreamLeaksIntoNextResponse(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big": // 320 KiB of zeros
			chunk := make([]byte, 32<<10)
			for range 10 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/trickle":
			for range 2000 {
				if _, err := io.WriteString(w, "tick"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-time.After(5 * time.Millisecond):
				case <-r.Context().Done():
					return
				}
			}
		default:
			io.Copy(w, r.Body)
		}
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	tlsSrv, ca := tlsServer(t, h)
	tr := newTestTransport(t, &Transport{CAFile: ca})
	// Another stream keeps the HTTP/2 connection busy.
	bgCtx, stopBg := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() {
		defer close(bgDone)
		resp, err := tr.RoundTrip(mustRequest(t, "GET", tlsSrv.URL+"/trickle", nil).WithContext(bgCtx))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	defer func() { stopBg(); <-bgDone }()
	time.Sleep(100 * time.Millisecond)
	for i := range 400 {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", tlsSrv.URL+"/big", nil))
		must(t, err)
		resp.Body.Read(make([]byte, 1000))
		time.Sleep(20 * time.Millisecond) // the Transport pauses the stream
		resp.Body.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		resp, err = tr.RoundTrip(mustRequest(t, "POST", plain.URL+"/echo", strings.NewReader("hello")).WithContext(ctx))
		if err != nil {
			cancel()
			t.Fatalf("request %d after closing a paused HTTP/2 response: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if string(b) != "hello" || err != nil {
			t.Fatalf("request %d: body is %d bytes starting %q (want \"hello\"), err %v", i, len(b), b[:min(len(b), 8)], err)
		}
	}
}

// killsSecondRequest is a server whose first connection dies under its
// second request, so that libcurl retries on a new connection and rewinds
// the request body (the seek callback). The bodies it answers go to bodies,
// if not nil.
func killsSecondRequest(t *testing.T, bodies chan<- string) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for conn := 0; ; conn++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn, first bool) {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					b, _ := io.ReadAll(req.Body)
					if first && n == 1 {
						return // the kept connection dies under the second request
					}
					if bodies != nil {
						bodies <- string(b)
					}
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}(c, conn == 0)
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

// Was: req.GetBody runs inside libcurl's seek callback on the shard's
// goroutine, unprotected (transport_stream.go seek, callbacks.go
// curlsockGoSeek): a GetBody that panics kills the whole process (and one
// that blocks stalls every transfer of the shard). Run in a child process.
func TestReviewFixedGetBodyPanicCrashesProcess(t *testing.T) {
	if os.Getenv("CURLSOCK_REVIEW_CHILD") == "getbody" {
		u := killsSecondRequest(t, nil)
		eng := NewEngine(WithShards(1))
		tr := &Transport{Engine: eng}
		for range 2 {
			req := mustRequest(t, "POST", u, strings.NewReader(strings.Repeat("x", 100000)))
			req.GetBody = func() (io.ReadCloser, error) { panic("GetBody") }
			capturedPanic(func() {
				if resp, err := tr.RoundTrip(req); err == nil {
					resp.Body.Close()
				}
			})
		}
		tr.CloseIdleConnections()
		eng.Close()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReviewFixedGetBodyPanicCrashesProcess$")
	cmd.Env = append(os.Environ(), "CURLSOCK_REVIEW_CHILD=getbody")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("a panicking req.GetBody crashed the process (%v):\n%s", err, firstLines(string(out), 12))
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// Was: a panic in Transport.Setup (or Proxy) unwinds through prepare
// with the easy handle neither released nor cleaned up, and the request
// body not closed: every such request leaks a handle for good.
func TestReviewFixedSetupPanicLeaksHandle(t *testing.T) {
	srv, _ := echoServer(t)
	eng := NewEngine(WithShards(1))
	defer eng.Close()
	before := Registrations().Handles
	tr := &Transport{Engine: eng, Setup: func(*CURL) error { panic("setup") }}
	body := &closeRecorder{Reader: strings.NewReader("abc")}
	req := mustRequest(t, "POST", srv.URL, nil)
	req.Body, req.ContentLength = body, 3
	if _, panicked := capturedPanic(func() { tr.RoundTrip(req) }); !panicked {
		t.Fatal("no panic")
	}
	tr.CloseIdleConnections()
	if n := Registrations().Handles; n != before || body.closed.Load() == 0 {
		t.Errorf("after a panicking Setup: %d easy handles alive (want %d), request body closed %d times (want 1)",
			n, before, body.closed.Load())
	}
}

// Was: with an authentication method libcurl negotiates (Setup sets
// OPT_HTTPAUTH; the same with OPT_FOLLOWLOCATION), the header callback
// takes the 401 for the final response and everything after it for
// trailers: the caller gets status 401, the 200's body, and the 200's
// headers in resp.Trailer.
func TestReviewFixedAuthRoundMixesResponses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "denied")
			return
		}
		io.WriteString(w, "welcome")
	}))
	defer srv.Close()
	tr := newTestTransport(t, &Transport{Setup: func(e *CURL) error {
		if err := e.Setopt(OPT_HTTPAUTH, AUTH_ANY); err != nil {
			return err
		}
		return e.Setopt(OPT_USERPWD, "u:p")
	}})
	resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil))
	must(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	consistent := resp.StatusCode == 200 && string(b) == "welcome" ||
		resp.StatusCode == 401 && string(b) != "welcome" || err != nil
	if !consistent || len(resp.Trailer) > 0 {
		t.Errorf("status %d with body %q, trailer %v: the 401's headers with the 200's body", resp.StatusCode, b, resp.Trailer)
	}
}

// Was: a 101 Switching Protocols response is taken as a final response
// without a body, and RoundTrip then waits for the transfer to end, which a
// server that switched protocols never does: RoundTrip hangs (here until
// the context's deadline). net/http returns the 101; "not supported"
// should be a prompt error (e.g. nhooyr/coder websocket over http.Client).
func TestReviewFixed101Hangs(t *testing.T) {
	u := rawServer(t, func(c net.Conn, req *http.Request, raw string) {
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(io.Discard, c) // until the client gives up
	})
	tr := newTestTransport(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := mustRequest(t, "GET", u, nil).WithContext(ctx)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "foo")
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("RoundTrip on a 101 returned after %v: %v", d.Round(time.Millisecond), err)
	}
}

// Was: CURL.Pause from another goroutine can hang forever when the
// handle's PerformContext ends meanwhile: PerformContext's shard is driven
// only while PerformContext runs, so a cmdPause queued after its last round
// is never answered (until the next PerformContext), and Cleanup's
// shard.free drops it unanswered (shard.go free: s.stop's queue ignored).
func TestReviewFixedPauseHangsAfterPerformContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }))
	defer srv.Close()
	e := EasyInit()
	defer e.Cleanup()
	must(t, e.Setopt(OPT_URL, srv.URL))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	for i := range 3000 {
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if e.reg.activeElsewhere() != nil {
					e.Pause(PAUSE_CONT)
				}
			}
		}()
		must(t, e.PerformContext(context.Background()))
		close(stop)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("iteration %d: Pause did not return after PerformContext ended", i)
		}
	}
}

// Was (minor): net/http sets resp.Close for a close-delimited body
// (HTTP/1.1, neither Content-Length nor chunked); the Transport does not.
func TestReviewFixedCloseDelimitedResponseClose(t *testing.T) {
	u := rawServer(t, func(c net.Conn, req *http.Request, raw string) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nbody until close")
	})
	ours, err := newTestTransport(t, nil).RoundTrip(mustRequest(t, "GET", u, nil))
	must(t, err)
	io.ReadAll(ours.Body)
	ours.Body.Close()
	theirs, err := (&http.Transport{}).RoundTrip(mustRequest(t, "GET", u, nil))
	must(t, err)
	io.ReadAll(theirs.Body)
	theirs.Body.Close()
	if ours.Close != theirs.Close {
		t.Errorf("resp.Close: %v, net/http %v", ours.Close, theirs.Close)
	}
}

// Was (minor): a request with ContentLength > 0 and a nil Body is sent
// with Content-Length: 0; net/http refuses it.
func TestReviewFixedContentLengthWithNilBody(t *testing.T) {
	got := make(chan string, 1)
	u := rawServer(t, func(c net.Conn, req *http.Request, raw string) {
		got <- raw
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	req := mustRequest(t, "POST", u, nil)
	req.ContentLength = 5
	if resp, err := newTestTransport(t, nil).RoundTrip(req); err == nil {
		resp.Body.Close()
		t.Errorf("ContentLength=5 with a nil Body: sent %q; net/http refuses it", <-got)
	}
}

// Was (minor): a response without a body (Content-Length: 0, 204, 304)
// that arrives while the request body is still being sent holds RoundTrip
// until the whole upload is done (transport.go roundTrip: <-t.done for
// http.NoBody). A caller that streams the body after RoundTrip returns
// (an io.Pipe) deadlocks; net/http returns the response at once.
func TestReviewFixedEmptyResponseWaitsForUpload(t *testing.T) {
	u := rawServer(t, func(c net.Conn, req *http.Request, raw string) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		io.Copy(io.Discard, req.Body)
	})
	tr := newTestTransport(t, nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := tr.RoundTrip(mustRequest(t, "POST", u, pr).WithContext(ctx))
	if err == nil {
		resp.Body.Close()
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("RoundTrip returned after %v (%v); the empty response came at once", d.Round(time.Millisecond), err)
	}
}

// OK: a URL whose query or opaque part carries CR/LF or a space cannot
// reach the request line: libcurl refuses the URL before CURLOPT_REQUEST_TARGET
// (set verbatim for an empty query) matters.
func TestReviewOKURLInjectionRefused(t *testing.T) {
	got := make(chan string, 4)
	u := rawServer(t, func(c net.Conn, req *http.Request, raw string) {
		got <- raw
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	tr := newTestTransport(t, nil)
	for name, mutate := range map[string]func(*url.URL){
		"query ending in ?": func(u *url.URL) { u.RawQuery = "a HTTP/1.1\r\nX-Injected: yes\r\nX-Pad: ?" },
		"query":             func(u *url.URL) { u.RawQuery = "a HTTP/1.1\r\nX-Injected: yes\r\nX-Pad: " },
		"opaque":            func(u *url.URL) { u.Opaque = "/x HTTP/1.1\r\nX-Injected: yes\r\nX-Pad: ?" },
		"space":             func(u *url.URL) { u.RawQuery = "a b?" },
	} {
		req := mustRequest(t, "GET", u+"/p", nil)
		mutate(req.URL)
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: sent %q", name, <-got)
		}
	}
}

// OK: an unread HTTP/2 response does not stall another request on its
// connection, and is read to its end afterwards.
func TestReviewOKH2UnreadResponseDoesNotBlockOthers(t *testing.T) {
	srv, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			chunk := make([]byte, 64<<10)
			for range 1024 { // 64 MiB: more than any stream window
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		}
		io.WriteString(w, "small")
	}))
	tr := newTestTransport(t, &Transport{CAFile: ca})
	big, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL+"/big", nil))
	must(t, err)
	defer big.Body.Close()
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	small, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL+"/small", nil).WithContext(ctx))
	must(t, err)
	b, err := io.ReadAll(small.Body)
	small.Body.Close()
	if string(b) != "small" || err != nil || small.ProtoMajor != 2 {
		t.Fatalf("small: %s %q %v", small.Proto, b, err)
	}
	if n, err := io.Copy(io.Discard, big.Body); n != 64<<20 || err != nil {
		t.Errorf("big: %d bytes, %v", n, err)
	}
}

// OK: HTTP/2 drops connection-specific request headers as net/http's
// HTTP/2 does, instead of sending a malformed request.
func TestReviewOKH2ConnectionHeaders(t *testing.T) {
	srv, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection"} {
			if r.Header.Get(k) != "" {
				http.Error(w, k, http.StatusBadRequest)
				return
			}
		}
	}))
	tr := newTestTransport(t, &Transport{CAFile: ca})
	for name, mutate := range map[string]func(*http.Request){
		"req.Close":        func(r *http.Request) { r.Close = true },
		"Connection":       func(r *http.Request) { r.Header.Set("Connection", "keep-alive") },
		"Keep-Alive":       func(r *http.Request) { r.Header.Set("Keep-Alive", "timeout=5") },
		"Proxy-Connection": func(r *http.Request) { r.Header.Set("Proxy-Connection", "keep-alive") },
	} {
		req := mustRequest(t, "GET", srv.URL, nil)
		mutate(req)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Errorf("%s: %s %d", name, resp.Proto, resp.StatusCode)
		}
	}
}

// OK: interim responses (103) are skipped; a 417 to an explicit
// Expect: 100-continue is returned as net/http returns it.
func TestReviewOKInterimAnd417(t *testing.T) {
	u := rawServer(t, func(c net.Conn, req *http.Request, raw string) {
		io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok")
	})
	tr := newTestTransport(t, nil)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", u, nil))
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" || resp.Header.Get("Link") != "" || resp.Header.Get("X-A") != "1" {
		t.Errorf("after a 103: %d %v %q", resp.StatusCode, resp.Header, b)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Expect") != "" {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusExpectationFailed)
			return
		}
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	req := mustRequest(t, "PUT", srv.URL, strings.NewReader("hello"))
	req.Header.Set("Expect", "100-continue")
	resp, err = tr.RoundTrip(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusExpectationFailed {
		t.Errorf("Expect refused: %d", resp.StatusCode)
	}
}
