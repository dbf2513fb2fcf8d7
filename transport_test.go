//go:build linux

package curl

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/curlsock/curlsock/sock"
	"github.com/google/go-cmp/cmp"
)

// newTestTransport returns a Transport on an engine of its own (one shard,
// so that every request shares it), closed with the test.
func newTestTransport(t *testing.T, tr *Transport) *Transport {
	t.Helper()
	if tr == nil {
		tr = &Transport{}
	}
	if tr.Engine == nil {
		tr.Engine = NewEngine(WithShards(1))
	}
	if _, later := testsWithTransports.LoadOrStore(t, true); !later {
		// A request that outlived its test (a response without a body
		// while the upload goes on) frees its handle when it ends: wait
		// for it, so that it is not counted in the next test. Cleanups run
		// last first: this one once every Transport of the test is closed.
		handles := Registrations().Handles
		t.Cleanup(func() {
			testsWithTransports.Delete(t)
			waitUntil(t, "the Transports' handles to be freed", func() bool { return Registrations().Handles <= handles })
		})
	}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		tr.Engine.Close()
	})
	return tr
}

// testsWithTransports: the tests that made a Transport with newTestTransport.
var testsWithTransports sync.Map

// seen is a request as a server saw it.
type seen struct {
	Method, URI, Host string
	Header            http.Header
	ContentLength     int64
	TransferEncoding  []string
	Body              string
}

// echoServer records each request it gets.
func echoServer(t *testing.T) (*httptest.Server, <-chan seen) {
	ch := make(chan seen, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			b = []byte("error: " + err.Error())
		}
		ch <- seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), r.ContentLength, r.TransferEncoding, string(b)}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

// TestTransportSendsWhatNetHTTPSends sends each request through net/http's
// Transport and through curl.Transport: the server must see the same.
func TestTransportSendsWhatNetHTTPSends(t *testing.T) {
	noLeaks(t)
	srv, got := echoServer(t)
	ours := &http.Client{Transport: newTestTransport(t, nil)}
	theirs := &http.Client{Transport: &http.Transport{}}
	defer theirs.CloseIdleConnections()
	type body func() io.Reader
	fixed := func(s string) body { return func() io.Reader { return strings.NewReader(s) } }
	unknown := func(s string) body { return func() io.Reader { return io.NopCloser(strings.NewReader(s)) } }
	big := strings.Repeat("0123456789abcdef", 1<<17) // 2 MiB: 7.88 and 8.x add Expect to it
	cases := []struct {
		name, method, path string
		body               body
		header             http.Header
		setup              func(r *http.Request)
	}{
		{name: "get", method: "GET", path: "/a?b=c&d=%20e"},
		{name: "dot-segments", method: "GET", path: "/a/../b/./c"},
		{name: "empty query", method: "GET", path: "/q?"},
		{name: "get with empty body of unknown length", method: "GET", path: "/g", body: unknown("")},
		{name: "delete with a body of unknown length", method: "DELETE", path: "/g", body: unknown("gone")},
		{name: "head", method: "HEAD", path: "/h"},
		{name: "delete", method: "DELETE", path: "/d"},
		{name: "options", method: "OPTIONS", path: "/o"},
		{name: "custom method", method: "PROPFIND", path: "/p"},
		{name: "post form", method: "POST", path: "/p", body: fixed("a=b&c=d")},
		{name: "post empty", method: "POST", path: "/p"},
		{name: "put empty", method: "PUT", path: "/p"},
		{name: "put 6 bytes", method: "PUT", path: "/p", body: fixed("abcdef")},
		{name: "patch", method: "PATCH", path: "/p", body: fixed(`{"a":1}`), header: http.Header{"Content-Type": {"application/json"}}},
		{name: "post unknown length", method: "POST", path: "/p", body: unknown("streamed")},
		{name: "post 2 MiB", method: "POST", path: "/p", body: fixed(big)},
		{name: "post 2 MiB unknown length", method: "POST", path: "/p", body: unknown(big)},
		{name: "multi-valued", method: "GET", path: "/", header: http.Header{"X-Multi": {"a", "b", "c"}, "X-One": {"1"}}},
		{name: "empty value", method: "GET", path: "/", header: http.Header{"X-Empty": {""}}},
		{name: "accept set", method: "GET", path: "/", header: http.Header{"Accept": {"text/plain"}}},
		{name: "user agent set", method: "GET", path: "/", header: http.Header{"User-Agent": {"mine/1.0"}}},
		{name: "user agent empty", method: "GET", path: "/", header: http.Header{"User-Agent": {""}}},
		{name: "accept-encoding set", method: "GET", path: "/", header: http.Header{"Accept-Encoding": {"br"}}},
		{name: "range", method: "GET", path: "/", header: http.Header{"Range": {"bytes=0-1"}}},
		{name: "expect set", method: "PUT", path: "/p", body: fixed("x"), header: http.Header{"Expect": {"100-continue"}}},
		{name: "host override", method: "GET", path: "/", setup: func(r *http.Request) { r.Host = "example.test" }},
		{name: "basic auth in URL", method: "GET", path: "/", setup: func(r *http.Request) { r.URL.User = url.UserPassword("u", "p:w") }},
		{name: "basic auth header", method: "GET", path: "/", setup: func(r *http.Request) { r.SetBasicAuth("user", "pass") }},
		{name: "close", method: "GET", path: "/", setup: func(r *http.Request) { r.Close = true }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want, have seen
			for i, client := range []*http.Client{theirs, ours} {
				var b io.Reader
				if c.body != nil {
					b = c.body()
				}
				req, err := http.NewRequest(c.method, srv.URL+c.path, b)
				must(t, err)
				for k, vv := range c.header {
					req.Header[k] = vv
				}
				if c.setup != nil {
					c.setup(req)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("transport %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				s := <-got
				if i == 0 {
					want = s
				} else {
					have = s
				}
			}
			if d := cmp.Diff(want, have); d != "" {
				t.Errorf("the server saw (-net/http +curl.Transport):\n%s", d)
			}
		})
	}
}

func TestTransportResponse(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/multi":
			w.Header()["X-Multi"] = []string{"a", "b"}
			w.Header().Set("Connection", "close")
			io.WriteString(w, "multi")
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum, X-Late")
			io.WriteString(w, "part one;")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part two")
			w.Header().Set("X-Sum", "17")
			w.Header().Set("X-Late", "yes")
			w.Header().Set(http.TrailerPrefix+"X-Unannounced", "too")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/empty":
			w.Header().Set("Content-Length", "0")
		case "/early-hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, "tea")
		}
	}))
	defer srv.Close()
	ours := &http.Client{Transport: newTestTransport(t, nil)}
	theirs := &http.Client{Transport: &http.Transport{}}
	defer theirs.CloseIdleConnections()
	type result struct {
		Status, Proto               string
		StatusCode, Major, Minor    int
		Header, Trailer             http.Header
		ContentLength               int64
		TransferEncoding            []string
		Close, Uncompressed, NoBody bool
		Body                        string
		SameRequest                 bool
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/multi"}, {"GET", "/chunked"}, {"GET", "/204"}, {"GET", "/304"},
		{"GET", "/empty"}, {"HEAD", "/multi"}, {"HEAD", "/chunked"}, {"GET", "/early-hints"},
	} {
		t.Run(c.method+c.path, func(t *testing.T) {
			var rs [2]result
			for i, client := range []*http.Client{theirs, ours} {
				req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
				resp, err := client.Do(req)
				must(t, err)
				b, err := io.ReadAll(resp.Body)
				must(t, err)
				resp.Body.Close()
				resp.Header.Del("Date")
				rs[i] = result{resp.Status, resp.Proto, resp.StatusCode, resp.ProtoMajor, resp.ProtoMinor,
					resp.Header, resp.Trailer, resp.ContentLength, resp.TransferEncoding, resp.Close,
					resp.Uncompressed, resp.Body == http.NoBody, string(b), resp.Request == req}
			}
			if d := cmp.Diff(rs[0], rs[1]); d != "" {
				t.Errorf("response (-net/http +curl.Transport):\n%s", d)
			}
		})
	}
}

// TestTransportGzip: gzip is asked for and decoded exactly when net/http
// does it.
func TestTransportGzip(t *testing.T) {
	noLeaks(t)
	const text = "compressible compressible compressible"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Asked", r.Header.Get("Accept-Encoding"))
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			io.WriteString(w, text)
			return
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, text)
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		w.Write(b.Bytes())
	}))
	defer srv.Close()
	tr := newTestTransport(t, nil)
	get := func(h http.Header) (*http.Response, string) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := tr.RoundTrip(req)
		must(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		must(t, err)
		return resp, string(b)
	}
	resp, body := get(nil)
	if body != text || !resp.Uncompressed || resp.ContentLength != -1 || resp.Header.Get("Content-Encoding") != "" ||
		resp.Header.Get("Content-Length") != "" || resp.Header.Get("X-Asked") != "gzip" {
		t.Errorf("transparent gzip: body %q, Uncompressed %v, ContentLength %d, header %v", body, resp.Uncompressed, resp.ContentLength, resp.Header)
	}
	resp, body = get(http.Header{"Accept-Encoding": {"gzip"}})
	if resp.Uncompressed || resp.Header.Get("Content-Encoding") != "gzip" || body == text {
		t.Errorf("asked for by the request: must stay compressed; got Uncompressed %v, header %v", resp.Uncompressed, resp.Header)
	}
	resp, body = get(http.Header{"Range": {"bytes=0-"}})
	if resp.Header.Get("X-Asked") != "" || body != text {
		t.Errorf("with Range, gzip must not be asked for: asked %q", resp.Header.Get("X-Asked"))
	}
	tr = newTestTransport(t, &Transport{DisableCompression: true})
	if resp, _ = get(nil); resp.Header.Get("X-Asked") != "" {
		t.Errorf("DisableCompression: asked %q", resp.Header.Get("X-Asked"))
	}
}

// TestTransportReusesConnections: sequential requests to one origin use
// one connection, whichever pooled handle runs them.
func TestTransportReusesConnections(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	client := &http.Client{Transport: newTestTransport(t, nil)}
	for range 10 {
		resp, err := client.Get(srv.url("/"))
		must(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := srv.Conns(); n != 1 {
		t.Errorf("10 requests used %d connections, want 1", n)
	}
	noReuse := &http.Client{Transport: newTestTransport(t, &Transport{DisableKeepAlives: true})}
	for range 3 {
		resp, err := noReuse.Get(srv.url("/"))
		must(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := srv.Conns(); n != 4 {
		t.Errorf("DisableKeepAlives: %d connections for 3 more requests, want 3 more", n-1)
	}
}

// TestTransportCloseIdleConnections: the idle connections close, on the
// Transport's own engine at once, on a busy one once it is idle.
func TestTransportCloseIdleConnections(t *testing.T) {
	noLeaks(t)
	var mu sync.Mutex
	states := map[net.Conn]http.ConnState{}
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		states[c] = s
		mu.Unlock()
	}
	srv.Start()
	defer srv.Close()
	count := func(want http.ConnState) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range states {
			if s == want {
				n++
			}
		}
		return n
	}
	tr := newTestTransport(t, nil)
	client := &http.Client{Transport: tr}
	get := func(path string) {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/")
	waitUntil(t, "an idle connection", func() bool { return count(http.StateIdle) == 1 })
	tr.CloseIdleConnections()
	waitUntil(t, "the idle connection to close", func() bool { return count(http.StateClosed) == 1 })

	// A busy shard closes its idle connections once its transfer ends.
	done := make(chan struct{})
	go func() { get("/slow"); close(done) }()
	waitUntil(t, "a busy connection", func() bool { return count(http.StateActive) == 1 })
	get("/")
	waitUntil(t, "two connections", func() bool { return count(http.StateIdle) == 1 && count(http.StateActive) == 1 })
	tr.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	if n := count(http.StateClosed); n != 1 {
		t.Errorf("closed while a transfer ran: %d connections, want still 1", n)
	}
	close(release)
	<-done
	waitUntil(t, "both connections to close", func() bool { return count(http.StateClosed) == 3 })
	get("/") // a new multi serves on
}

// TestTransportStreamsResponse: RoundTrip returns at the headers, and the
// first bytes are readable while the server is still sending.
func TestTransportStreamsResponse(t *testing.T) {
	noLeaks(t)
	more := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-more
		io.WriteString(w, " second")
	}))
	defer srv.Close()
	defer close(more)
	resp, err := newTestTransport(t, nil).RoundTrip(mustRequest(t, "GET", srv.URL, nil))
	must(t, err)
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
		t.Fatalf("first bytes: %q, %v", buf, err)
	}
}

func mustRequest(t *testing.T, method, u string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	must(t, err)
	return req
}

// TestTransportBoundedResponse: a reader that is behind pauses the
// transfer; the server's writes stall instead of filling memory.
func TestTransportBoundedResponse(t *testing.T) {
	noLeaks(t)
	var written atomic.Int64
	stalled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 64<<10)
		for written.Load() < 256<<20 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
		close(stalled) // the client read it all: not bounded
	}))
	defer srv.Close()
	tr := newTestTransport(t, nil)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil))
	must(t, err)
	// Wait until the server's writes stop growing.
	last := int64(-1)
	for written.Load() != last {
		last = written.Load()
		select {
		case <-stalled:
			t.Fatal("the server wrote 256 MiB to a reader that read nothing")
		case <-time.After(200 * time.Millisecond):
		}
	}
	// The socket buffers hold a few MiB at most on loopback; the rest is
	// what the Transport took.
	if last > 32<<20 {
		t.Errorf("the server wrote %d MiB before the transfer paused", last>>20)
	}
	// Reading resumes the transfer.
	n, err := io.CopyN(io.Discard, resp.Body, 64<<20)
	if err != nil || n != 64<<20 {
		t.Errorf("read %d after resuming: %v", n, err)
	}
	resp.Body.Close()
}

// TestTransportBodyCloseStopsTransfer: closing a body before its end
// closes the connection and frees the handle for the next request.
func TestTransportBodyCloseStopsTransfer(t *testing.T) {
	noLeaks(t)
	gone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		for {
			if _, err := w.Write(make([]byte, 16<<10)); err != nil {
				close(gone)
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	tr := newTestTransport(t, nil)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL+"/endless", nil))
	must(t, err)
	if _, err := io.CopyN(io.Discard, resp.Body, 1<<20); err != nil {
		t.Fatal(err)
	}
	must(t, resp.Body.Close())
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept writing after Close")
	}
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, ErrBodyClosed) {
		t.Errorf("Read after Close: %v, want ErrBodyClosed", err)
	}
	tr.pool.mu.Lock()
	pooled := len(tr.pool.idle)
	tr.pool.mu.Unlock()
	if pooled != 1 {
		t.Errorf("%d handles pooled after Close, want 1", pooled)
	}
	resp, err = tr.RoundTrip(mustRequest(t, "GET", srv.URL+"/small", nil))
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "small" {
		t.Errorf("next request: %q", b)
	}
}

// TestTransportErrorAfterHeaders: a body cut short is a Read error, never
// EOF.
func TestTransportErrorAfterHeaders(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		io.WriteString(w, "only ten b")
		w.(http.Flusher).Flush()
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
	}))
	defer srv.Close()
	resp, err := newTestTransport(t, nil).RoundTrip(mustRequest(t, "GET", srv.URL, nil))
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "only ten b" {
		t.Errorf("got %q, %v; want the 10 bytes and io.ErrUnexpectedEOF", b, err)
	}
	var ce CurlError
	if !errors.As(err, &ce) || ce != CurlError(18) {
		t.Errorf("error %v should carry libcurl's CURLE_PARTIAL_FILE", err)
	}
}

// TestTransportContext: the request's context ends it at every stage with
// an error matching ctx.Err().
func TestTransportContext(t *testing.T) {
	noLeaks(t)
	unblock := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/body":
			io.WriteString(w, "start")
			w.(http.Flusher).Flush()
		case "/upload":
			io.ReadAll(r.Body)
		}
		select {
		case <-unblock:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(unblock)
	hole := blackHole(t, "tcp4", 0)
	tr := newTestTransport(t, nil)
	client := &http.Client{Transport: tr}
	cases := []struct {
		name, url string
		body      func() io.Reader
	}{
		{"connecting", "http://" + hole + "/", nil},
		{"waiting for headers", srv.URL + "/headers", nil},
		{"sending", srv.URL + "/upload", func() io.Reader { r, _ := io.Pipe(); return r }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.url == "http:///" {
				t.Skip("no black hole on this machine")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			var body io.Reader
			if c.body != nil {
				body = c.body()
			}
			req, _ := http.NewRequestWithContext(ctx, "POST", c.url, body)
			start := time.Now()
			_, err := client.Do(req)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want one matching context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
	t.Run("receiving", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/body", nil)
		resp, err := client.Do(req)
		must(t, err)
		defer resp.Body.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
			t.Errorf("Read after cancel: %v, want one matching context.Canceled", err)
		}
	})
}

// closeRecorder is a request body that records its Close.
type closeRecorder struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeRecorder) Close() error { c.closed.Add(1); return nil }

// TestTransportClosesRequestBody: on success, on a failed connection, on
// a refused request, on a canceled one.
func TestTransportClosesRequestBody(t *testing.T) {
	noLeaks(t)
	srv, got := echoServer(t)
	tr := newTestTransport(t, nil)
	try := func(name, u string, ctx context.Context, mutate func(*http.Request)) {
		body := &closeRecorder{Reader: strings.NewReader("body")}
		req, _ := http.NewRequestWithContext(ctx, "POST", u, body)
		if mutate != nil {
			mutate(req)
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			<-got
		}
		for deadline := time.Now().Add(5 * time.Second); body.closed.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := body.closed.Load(); n != 1 {
			t.Errorf("%s (err %v): body closed %d times, want 1", name, err, n)
		}
	}
	try("success", srv.URL, context.Background(), nil)
	try("connection refused", fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t)), context.Background(), nil)
	try("bad header", srv.URL, context.Background(), func(r *http.Request) { r.Header.Set("X-Bad", "a\r\nInjected: 1") })
	try("bad scheme", "ftp://127.0.0.1/", context.Background(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	try("canceled", srv.URL, ctx, nil)
}

// TestTransportRefusesInjection: nothing in a request can add a header
// line or a request line of its own.
func TestTransportRefusesInjection(t *testing.T) {
	noLeaks(t)
	srv, _ := echoServer(t)
	tr := newTestTransport(t, nil)
	for name, mutate := range map[string]func(*http.Request){
		"value CRLF":  func(r *http.Request) { r.Header.Set("X-A", "a\r\nX-B: b") },
		"value LF":    func(r *http.Request) { r.Header.Set("X-A", "a\nX-B: b") },
		"value NUL":   func(r *http.Request) { r.Header.Set("X-A", "a\x00") },
		"name colon":  func(r *http.Request) { r.Header["X-A: b\r\nX"] = []string{"c"} },
		"name space":  func(r *http.Request) { r.Header["X A"] = []string{"c"} },
		"method":      func(r *http.Request) { r.Method = "GET / HTTP/1.1\r\nX:" },
		"host CRLF":   func(r *http.Request) { r.Host = "a\r\nX-B: b" },
		"no host":     func(r *http.Request) { r.URL.Host = "" },
		"nil URL":     func(r *http.Request) { r.URL = nil },
		"file scheme": func(r *http.Request) { r.URL.Scheme = "file" },
	} {
		req := mustRequest(t, "GET", srv.URL, nil)
		mutate(req)
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: sent", name)
		}
	}
}

// slowReader hands out its text a piece at a time, after a pause each.
type slowReader struct {
	pieces []string
	pause  time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.pieces) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p, s.pieces[0])
	s.pieces[0] = s.pieces[0][n:]
	if s.pieces[0] == "" {
		s.pieces = s.pieces[1:]
	}
	return n, nil
}

// TestTransportStreamsUpload: a request body slower than the network
// streams without stalling the other transfers of its shard, from an
// io.Pipe and from a reader, of known and unknown length.
func TestTransportStreamsUpload(t *testing.T) {
	noLeaks(t)
	srv, got := echoServer(t)
	tr := newTestTransport(t, nil)
	client := &http.Client{Transport: tr}
	pr, pw := io.Pipe()
	uploaded := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("PUT", srv.URL+"/pipe", pr)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		uploaded <- err
	}()
	pw.Write([]byte("first;"))
	// While the pipe's writer waits, another request on the same shard
	// completes.
	resp, err := client.Get(srv.URL + "/other")
	must(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if s := <-got; s.URI != "/other" {
		t.Fatalf("first to arrive: %s", s.URI)
	}
	pw.Write([]byte("second;"))
	pw.Write([]byte(strings.Repeat("x", 300<<10)))
	pw.Close()
	must(t, <-uploaded)
	s := <-got
	if want := "first;second;" + strings.Repeat("x", 300<<10); s.Body != want || s.TransferEncoding[0] != "chunked" {
		t.Errorf("pipe upload: %d bytes, %v", len(s.Body), s.TransferEncoding)
	}

	text := strings.Repeat("0123456789", 20000)
	var pieces []string
	for i := 0; i < len(text); i += 50000 {
		pieces = append(pieces, text[i:min(i+50000, len(text))])
	}
	req := mustRequest(t, "POST", srv.URL+"/known", &slowReader{pieces: pieces, pause: 10 * time.Millisecond})
	req.ContentLength = int64(len(text))
	resp, err = client.Do(req)
	must(t, err)
	resp.Body.Close()
	if s := <-got; s.Body != text || s.ContentLength != int64(len(text)) {
		t.Errorf("known-length upload: %d of %d bytes, Content-Length %d", len(s.Body), len(text), s.ContentLength)
	}
}

// failingReader fails after some bytes.
type failingReader struct{ n int }

var errReaderBroke = errors.New("reader broke")

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errReaderBroke
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestTransportRequestBodyError(t *testing.T) {
	noLeaks(t)
	srv, _ := echoServer(t)
	req := mustRequest(t, "POST", srv.URL, io.NopCloser(&failingReader{n: 100 << 10}))
	_, err := newTestTransport(t, nil).RoundTrip(req)
	if !errors.Is(err, errReaderBroke) {
		t.Errorf("error %v, want one matching the body's", err)
	}
}

// TestTransportContentLengthMismatch: a body shorter or longer than its
// ContentLength fails the request, as with net/http, on HTTP/1.1 and 2.
func TestTransportContentLengthMismatch(t *testing.T) {
	noLeaks(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure, ca := tlsServer(t, h)
	tr := newTestTransport(t, &Transport{CAFile: ca})
	for _, u := range []string{plain.URL, secure.URL} {
		for _, c := range []struct {
			body     string
			declared int64
		}{{"short", 10}, {"longer than declared", 6}} {
			req := mustRequest(t, "POST", u, io.NopCloser(strings.NewReader(c.body)))
			req.ContentLength = c.declared
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := tr.RoundTrip(req.WithContext(ctx))
			cancel()
			want := fmt.Sprintf("http: ContentLength=%d with Body length %d", c.declared, len(c.body))
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s, %q declared %d: no error", u, c.body, c.declared)
			} else if !strings.Contains(err.Error(), want) {
				t.Errorf("%s, %q declared %d: %v, want %q", u, c.body, c.declared, err, want)
			}
		}
	}
}

// TestTransportRewindsBody: a kept connection that the server closed while
// the request was on its way makes libcurl send the request again on a new
// one; the body starts over from GetBody.
func TestTransportRewindsBody(t *testing.T) {
	noLeaks(t)
	bodies := make(chan string, 4)
	u := killsSecondRequest(t, bodies)
	tr := newTestTransport(t, nil)
	for i, text := range []string{"one", strings.Repeat("two", 40000)} {
		req := mustRequest(t, "POST", u, strings.NewReader(text))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if b := <-bodies; b != text {
			t.Errorf("request %d: the server got %d bytes, want %d", i, len(b), len(text))
		}
	}
	// Without GetBody, a consumed body cannot start over: an error, not a
	// truncated request.
	req := mustRequest(t, "POST", u, io.NopCloser(strings.NewReader(strings.Repeat("three", 40000))))
	req.ContentLength = 200000
	if resp, err := tr.RoundTrip(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if b := <-bodies; len(b) != 200000 {
			t.Errorf("without GetBody: the server got %d bytes", len(b))
		}
	}
}

// TestTransportRedirectsAndCookies: http.Client follows redirects and
// keeps cookies; libcurl does neither on its own.
func TestTransportRedirectsAndCookies(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			http.SetCookie(w, &http.Cookie{Name: "k", Value: "v"})
			http.Redirect(w, r, "/hop", http.StatusFound)
		case "/hop":
			http.Redirect(w, r, "/end", http.StatusTemporaryRedirect)
		case "/end":
			c, _ := r.Cookie("k")
			fmt.Fprintf(w, "%s %v", r.Method, c)
		}
	}))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	var hops []string
	client := &http.Client{Transport: newTestTransport(t, nil), Jar: jar,
		CheckRedirect: func(r *http.Request, via []*http.Request) error { hops = append(hops, r.URL.Path); return nil }}
	resp, err := client.Get(srv.URL + "/set")
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "GET k=v" || !cmp.Equal(hops, []string{"/hop", "/end"}) {
		t.Errorf("got %q after %v", b, hops)
	}
	// Not followed by the Transport itself.
	resp, err = client.Transport.RoundTrip(mustRequest(t, "GET", srv.URL+"/hop", nil))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Errorf("RoundTrip: %d, want the 307 itself", resp.StatusCode)
	}
}

// tlsServer starts an HTTPS server with HTTP/2 and writes its certificate
// to a CA file.
func tlsServer(t *testing.T, h http.Handler, configure ...func(*http.Server)) (*httptest.Server, string) {
	srv := httptest.NewUnstartedServer(h)
	for _, f := range configure {
		f(srv.Config)
	}
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	return srv, ca
}

// TestTransportRequestTrailers: a body of unknown length carries
// req.Trailer as net/http sends it, the values the body's reader set at its
// end included; over TLS the request keeps to HTTP/1.1, where libcurl sends
// trailers; a key net/http refuses is refused. libcurl 7.x sends none.
func TestTransportRequestTrailers(t *testing.T) {
	noLeaks(t)
	type got struct {
		proto, announced, body string
		te                     []string
		trailer                http.Header
	}
	seenc := make(chan got, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seenc <- got{r.Proto, r.Header.Get("Trailer"), string(b), r.TransferEncoding, r.Trailer}
	})
	plain := httptest.NewServer(h)
	defer plain.Close()
	secure, ca := tlsServer(t, h)
	ours := newTestTransport(t, &Transport{CAFile: ca})
	theirs := secure.Client().Transport.(*http.Transport)
	defer theirs.CloseIdleConnections()
	send := func(rt http.RoundTripper, u, sum string) got {
		t.Helper()
		req := mustRequest(t, "POST", u, nil)
		req.Trailer = http.Header{"X-Sum": nil, "X-Static": {"a", "b"}}
		// Set at the end, once RoundTrip has checked the trailer.
		req.Body = io.NopCloser(&atEOF{Reader: strings.NewReader("chunked body"), f: func() { req.Trailer.Set("X-Sum", sum) }})
		resp, err := rt.RoundTrip(req)
		must(t, err)
		resp.Body.Close()
		return <-seenc
	}
	// Over HTTP/1.1 a line break set late becomes a space (HTTP/2 refuses it).
	for u, sum := range map[string]string{plain.URL: "4\r\nX-Injected: 2", secure.URL: "42"} {
		want, have := send(theirs, u, sum), send(ours, u, sum)
		if !requestTrailersSafe {
			// libcurl 7.x: not sent (see requestTrailersSafe).
			if have.body != want.body || len(have.trailer) != 0 || have.announced != "" {
				t.Errorf("%s, libcurl %s: the server saw %+v", u, versionString(), have)
			}
			continue
		}
		if have.proto != "HTTP/1.1" {
			t.Errorf("%s: sent over %s, want HTTP/1.1", u, have.proto)
		}
		want.proto, have.proto = "", ""
		if u == secure.URL {
			// net/http's HTTP/2 has no Transfer-Encoding, nor a Trailer
			// header left in r.Header.
			want.te, want.announced = have.te, have.announced
		}
		if diff := cmp.Diff(want, have, cmp.AllowUnexported(got{})); diff != "" {
			t.Errorf("%s: the server saw (-net/http +curl.Transport):\n%s", u, diff)
		}
	}

	for _, trailer := range []http.Header{{"Content-Length": {"1"}}, {"X-A": {"a\r\nX-Injected: b"}}, {"X A": {"a"}}} {
		body := &closeRecorder{Reader: strings.NewReader("x")}
		req := mustRequest(t, "POST", plain.URL, nil)
		req.Body, req.Trailer = body, trailer
		_, want := theirs.RoundTrip(req.Clone(context.Background()))
		if _, err := ours.RoundTrip(req); err == nil || want == nil {
			t.Errorf("trailer %q: %v, net/http %v", trailer, err, want)
		}
		if body.closed.Load() == 0 {
			t.Errorf("trailer %q: the refused request's body not closed", trailer)
		}
	}
}

// atEOF calls f when its reader reaches EOF.
type atEOF struct {
	io.Reader
	f func()
}

func (a *atEOF) Read(p []byte) (int, error) {
	n, err := a.Reader.Read(p)
	if err == io.EOF && a.f != nil {
		a.f()
		a.f = nil
	}
	return n, err
}

// TestTransportHTTP2: HTTP/2 over TLS when the server offers it, one
// connection for concurrent requests, trailers, and resp.TLS with the
// server's certificate on new and reused connections.
func TestTransportHTTP2(t *testing.T) {
	noLeaks(t)
	var conns atomic.Int32
	srv, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		fmt.Fprintf(w, "%s %s", r.Proto, r.Header.Get("User-Agent"))
		if r.URL.Path != "/length" {
			w.(http.Flusher).Flush() // no Content-Length
		}
		w.Header().Set("X-Sum", "42")
	}), func(c *http.Server) {
		c.ErrorLog = log.New(io.Discard, "", 0) // the untrusting client's handshake
		c.ConnState = func(c net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
	})
	tr := newTestTransport(t, &Transport{CAFile: ca})
	client := &http.Client{Transport: tr}
	for i := range 3 {
		resp, err := client.Get(srv.URL + "/")
		must(t, err)
		b, err := io.ReadAll(resp.Body)
		must(t, err)
		resp.Body.Close()
		if resp.Proto != "HTTP/2.0" || resp.ProtoMajor != 2 || string(b) != "HTTP/2.0 Go-http-client/1.1" {
			t.Errorf("request %d: %s, body %q", i, resp.Proto, b)
		}
		if resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("request %d: trailer %v", i, resp.Trailer)
		}
		st := resp.TLS
		if st == nil || len(st.PeerCertificates) == 0 || !st.PeerCertificates[0].Equal(srv.Certificate()) ||
			st.NegotiatedProtocol != "h2" || !st.HandshakeComplete {
			t.Errorf("request %d: resp.TLS %+v", i, st)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests, want 1", n)
	}
	// libcurl 7.88 drops the trailers of an HTTP/2 response whose body
	// had a Content-Length (it ends the stream at the body's end); 8.x
	// delivers them.
	resp, err := client.Get(srv.URL + "/length")
	must(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want := "42"
	if versionNum < 0x080000 {
		want = ""
	}
	if got := resp.Trailer.Get("X-Sum"); got != want {
		t.Errorf("trailer after a Content-Length body: %q, want %q on libcurl %s", got, want, versionString())
	}
	// A Transport that does not trust the server fails verification.
	_, err = (&http.Client{Transport: newTestTransport(t, nil)}).Get(srv.URL)
	if !errors.Is(err, CurlError(60)) { // CURLE_PEER_FAILED_VERIFICATION
		t.Errorf("untrusted server: %v", err)
	}
	insecure := newTestTransport(t, &Transport{InsecureSkipVerify: true})
	resp, err = (&http.Client{Transport: insecure}).Get(srv.URL)
	must(t, err)
	resp.Body.Close()
}

// TestTransportPeerCertificatesPerConnection: a pooled handle that ran a
// transfer to one server reports the right server's certificate on a
// reused connection to another.
func TestTransportPeerCertificatesPerConnection(t *testing.T) {
	noLeaks(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	a, _ := tlsServer(t, h)
	b, _ := tlsServer(t, h)
	tr := newTestTransport(t, &Transport{InsecureSkipVerify: true})
	for i, u := range []string{a.URL, b.URL, a.URL, b.URL} {
		resp, err := tr.RoundTrip(mustRequest(t, "GET", u, nil))
		must(t, err)
		resp.Body.Close()
		want := a.Certificate()
		if i%2 == 1 {
			want = b.Certificate()
		}
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !resp.TLS.PeerCertificates[0].Equal(want) {
			t.Errorf("request %d: wrong or no peer certificate", i)
		}
	}
	// New connections: libcurl resumes the TLS session, and a resumed
	// session has no chain in OpenSSL; the one seen at the full handshake
	// is reported.
	fresh := newTestTransport(t, &Transport{InsecureSkipVerify: true, DisableKeepAlives: true})
	resumed := false
	for i := range 3 {
		resp, err := fresh.RoundTrip(mustRequest(t, "GET", a.URL, nil))
		must(t, err)
		resp.Body.Close()
		st := resp.TLS
		if st == nil || len(st.PeerCertificates) == 0 || !st.PeerCertificates[0].Equal(a.Certificate()) {
			t.Errorf("new connection %d (resumed %v): wrong or no peer certificate", i, st != nil && st.DidResume)
		} else if st.Version != tls.VersionTLS13 || st.CipherSuite == 0 || st.ServerName != "" {
			t.Errorf("resp.TLS: version %x, cipher %x, server name %q", st.Version, st.CipherSuite, st.ServerName)
		}
		resumed = resumed || st != nil && st.DidResume
	}
	// libcurl 8.x resumes TLS 1.3 sessions here; 7.88 makes full handshakes.
	if resumed != (versionNum >= 0x080000) {
		t.Errorf("libcurl %s: resumed %v", versionString(), resumed)
	}
}

// TestTransportTLSFromLibcurlsLibssl: resp.TLS comes from the OpenSSL
// functions of the libssl libcurl is linked with, also when the process
// loaded other definitions of them first (here a preloaded library).
func TestTransportTLSFromLibcurlsLibssl(t *testing.T) {
	if os.Getenv("CURLSOCK_TLS_CHILD") != "" {
		var cipher atomic.Uint32
		srv, _ := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cipher.Store(uint32(r.TLS.CipherSuite))
		}))
		tr := newTestTransport(t, &Transport{InsecureSkipVerify: true})
		resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil))
		must(t, err)
		resp.Body.Close()
		if st := resp.TLS; st == nil || uint32(st.CipherSuite) != cipher.Load() || st.ServerName != "" {
			t.Fatalf("resp.TLS %+v, want cipher suite %#x and no server name", st, cipher.Load())
		}
		return
	}
	noLeaks(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "other.c")
	must(t, os.WriteFile(src, []byte(`
unsigned short SSL_CIPHER_get_protocol_id(const void *c) { return 0x7f7f; }
const char *SSL_get_servername(const void *s, int type) { return "other.invalid"; }
`), 0o600))
	lib := filepath.Join(dir, "libother.so")
	if out, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTransportTLSFromLibcurlsLibssl$")
	// ASan wants its runtime first in the library list.
	cmd.Env = append(os.Environ(), "CURLSOCK_TLS_CHILD=1", "LD_PRELOAD="+lib,
		"ASAN_OPTIONS=verify_asan_link_order=0:"+os.Getenv("ASAN_OPTIONS"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("with another SSL_CIPHER_get_protocol_id loaded first (%v):\n%s", err, firstLines(string(out), 12))
	}
}

// TestTransportGuard: the Sockets toolkit reaches every request; a refusal
// matches the guard's error.
func TestTransportGuard(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	denied := newTestTransport(t, &Transport{Sockets: &Sockets{Guard: sock.NewGuard()}})
	_, err := (&http.Client{Transport: denied}).Get(srv.url("/"))
	if !errors.Is(err, sock.ErrProhibitedIP) {
		t.Errorf("guarded request to loopback: %v, want sock.ErrProhibitedIP", err)
	}
	trace := sock.NewTrace(nil)
	allowed := newTestTransport(t, &Transport{Sockets: &Sockets{Guard: loopbackGuard(), Trace: trace}})
	resp, err := (&http.Client{Transport: allowed}).Get(srv.url("/"))
	must(t, err)
	resp.Body.Close()
	if len(trace.Events()) == 0 {
		t.Error("the trace saw nothing")
	}
	errHook := errors.New("hook says no")
	hooked := newTestTransport(t, &Transport{Sockets: &Sockets{Control: []func(string, string, syscall.RawConn) error{
		func(string, string, syscall.RawConn) error { return errHook },
	}}})
	if _, err := hooked.RoundTrip(mustRequest(t, "GET", srv.url("/"), nil)); !errors.Is(err, errHook) {
		t.Errorf("a Control hook's refusal: %v, want the hook's error", err)
	}
	bad := newTestTransport(t, &Transport{Sockets: &Sockets{Protocols: []string{"gopher-nothing"}}})
	if _, err := bad.RoundTrip(mustRequest(t, "GET", srv.url("/"), nil)); err == nil {
		t.Error("a Sockets that cannot be installed must fail the request")
	}
}

// TestTransportProxy: Proxy chooses the proxy; the environment's is
// ignored unless Proxy says so.
func TestTransportProxy(t *testing.T) {
	noLeaks(t)
	origin, got := echoServer(t)
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		if !r.URL.IsAbs() {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		resp, err := http.DefaultTransport.RoundTrip(r.Clone(context.Background()))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("no_proxy", "")
	t.Setenv("NO_PROXY", "")

	get := func(tr *Transport) {
		t.Helper()
		resp, err := tr.RoundTrip(mustRequest(t, "GET", origin.URL+"/x", nil))
		must(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		<-got
	}
	get(newTestTransport(t, nil))
	if n := proxied.Load(); n != 0 {
		t.Errorf("no Proxy: the environment's proxy was used")
	}
	get(newTestTransport(t, &Transport{Proxy: http.ProxyURL(pu)}))
	if n := proxied.Load(); n != 1 {
		t.Errorf("Proxy set: %d proxied requests, want 1", n)
	}
}

// TestTransportProxyConnect: an https request through a proxy goes in a
// CONNECT tunnel; the proxy's own response is not the request's.
func TestTransportProxyConnect(t *testing.T) {
	noLeaks(t)
	origin, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "through the tunnel")
	}))
	var tunnels atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		tunnels.Add(1)
		w.Header().Set("X-Proxy", "tunnel")
		tunnel(w, r)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	tr := newTestTransport(t, &Transport{CAFile: ca, Proxy: http.ProxyURL(pu)})
	resp, err := tr.RoundTrip(mustRequest(t, "GET", origin.URL+"/", nil))
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "through the tunnel" || resp.Header.Get("X-Proxy") != "" || tunnels.Load() != 1 {
		t.Errorf("got %q, header %v, %d tunnels", b, resp.Header, tunnels.Load())
	}
}

// tunnel answers a CONNECT with 200 and joins the client to r.Host.
func tunnel(w http.ResponseWriter, r *http.Request) {
	up, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer up.Close()
	w.WriteHeader(http.StatusOK)
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	// Plain copies: a TCP-to-TCP io.Copy splices through pipes that Go
	// keeps in a pool, which the fd check would count.
	go io.Copy(struct{ io.Writer }{up}, struct{ io.Reader }{rw})
	io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{up})
}

// TestTransportProxyCredentialsNotShared: a tunnel opened through an
// authenticating proxy with good credentials does not carry a later request
// with none or wrong ones, from another Transport on the same engine or from
// the same Transport (libcurl 8.14.1 reused it: it does not compare proxy
// credentials when it matches connections).
func TestTransportProxyCredentialsNotShared(t *testing.T) {
	noLeaks(t)
	origin, ca := tlsServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret")
	}))
	const auth = "Basic dXNlcjpzZWNyZXQ=" // user:secret
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Header.Get("Proxy-Authorization") != auth {
			w.Header().Set("Proxy-Authenticate", `Basic realm="p"`)
			http.Error(w, "no", http.StatusProxyAuthRequired)
			return
		}
		tunnel(w, r)
	}))
	defer proxy.Close()
	withUser := func(u *url.Userinfo) *url.URL {
		pu, _ := url.Parse(proxy.URL)
		pu.User = u
		return pu
	}
	good, wrong, none := withUser(url.UserPassword("user", "secret")), withUser(url.UserPassword("user", "WRONG")), withUser(nil)
	eng := NewEngine(WithShards(1))
	var trs []*Transport
	defer func() {
		for _, tr := range trs {
			tr.CloseIdleConnections()
		}
		eng.Close()
	}()
	transport := func(proxy func(*http.Request) (*url.URL, error)) *Transport {
		tr := &Transport{Engine: eng, CAFile: ca, Proxy: proxy}
		trs = append(trs, tr)
		return tr
	}
	goodTr := transport(http.ProxyURL(good))
	var n atomic.Int32
	switching := transport(func(*http.Request) (*url.URL, error) {
		if n.Add(1) == 1 {
			return good, nil
		}
		return wrong, nil
	})
	get := func(tr http.RoundTripper) (string, error) {
		resp, err := (&http.Client{Transport: tr}).Get(origin.URL)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for i, c := range []struct {
		name string
		tr   http.RoundTripper
		ok   bool
	}{
		{"good credentials", goodTr, true},
		{"again", goodTr, true},
		{"another Transport without credentials", transport(http.ProxyURL(none)), false},
		{"another Transport with wrong credentials", transport(http.ProxyURL(wrong)), false},
		{"a Proxy func's good credentials", switching, true},
		{"then its wrong ones", switching, false},
	} {
		body, err := get(c.tr)
		if c.ok != (err == nil && body == "secret") {
			t.Errorf("request %d, %s: %q, %v", i, c.name, body, err)
		}
	}
}

// TestTransportMalformedResponseHeaders: what net/http refuses in a
// response's header is refused (differing Content-Length values, by the
// first of which libcurl would frame the body; a bare CR in a line); equal
// Content-Length values are kept once, as net/http keeps them.
func TestTransportMalformedResponseHeaders(t *testing.T) {
	noLeaks(t)
	tr := newTestTransport(t, nil)
	for _, c := range []struct {
		name, head string
		ok         bool
	}{
		{"differing Content-Length", "Content-Length: 2\r\nContent-Length: 3\r\n", false},
		{"bare CR", "X-A: a\rInjected: 1\r\nContent-Length: 3\r\n", false},
		{"equal Content-Length", "Content-Length: 3\r\nContent-Length: 3\r\n", true},
	} {
		u := rawServer(t, func(conn net.Conn, req *http.Request, raw string) {
			io.WriteString(conn, "HTTP/1.1 200 OK\r\n"+c.head+"\r\nokk")
		})
		theirs, want := (&http.Transport{}).RoundTrip(mustRequest(t, "GET", u, nil))
		if want == nil {
			io.Copy(io.Discard, theirs.Body)
			theirs.Body.Close()
		}
		ours, err := tr.RoundTrip(mustRequest(t, "GET", u, nil))
		if (err == nil) != c.ok || (want == nil) != c.ok {
			t.Errorf("%s: %v, net/http %v", c.name, err, want)
		}
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(ours.Body)
		ours.Body.Close()
		if string(b) != "okk" || ours.ContentLength != 3 || len(ours.Header["Content-Length"]) != 1 {
			t.Errorf("%s: body %q, ContentLength %d, header %q", c.name, b, ours.ContentLength, ours.Header["Content-Length"])
		}
	}
}

// TestTransportErrorDetail: a failed request says what libcurl says (the
// address that refused, the proxy's answer to CONNECT), and still matches
// libcurl's code with errors.Is.
func TestTransportErrorDetail(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	refused := "http://" + ln.Addr().String() + "/"
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusProxyAuthRequired)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	for _, c := range []struct {
		name, url string
		tr        *Transport
		code      CurlError
		detail    string
	}{
		{"refused", refused, newTestTransport(t, nil), 7, "port " + port},
		{"CONNECT refused", "https://127.0.0.1:1/", newTestTransport(t, &Transport{Proxy: http.ProxyURL(pu)}), 56, "407"},
	} {
		_, err := c.tr.RoundTrip(mustRequest(t, "GET", c.url, nil))
		if !errors.Is(err, c.code) || err == nil || !strings.Contains(err.Error(), c.detail) {
			t.Errorf("%s: %v, want code %d and %q in the text", c.name, err, int(c.code), c.detail)
		}
	}
}

// TestTransportLargeResponseHeader: libcurl takes at most 100 KB of
// response header (CURL_MAX_HTTP_HEADER); net/http takes 1 MB. A 90 KB one
// comes through, a 200 KB one fails the request (7.88 says "Out of memory",
// 8.x CURLE_TOO_LARGE).
func TestTransportLargeResponseHeader(t *testing.T) {
	noLeaks(t)
	tr := newTestTransport(t, nil)
	for _, c := range []struct {
		size int
		ok   bool
	}{{90 << 10, true}, {200 << 10, false}} {
		u := rawServer(t, func(conn net.Conn, req *http.Request, raw string) {
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("b", c.size)+"\r\nContent-Length: 2\r\n\r\nok")
		})
		resp, err := tr.RoundTrip(mustRequest(t, "GET", u, nil))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if (err == nil) != c.ok || err == nil && len(resp.Header.Get("X-Big")) != c.size {
			t.Errorf("a %d KiB header: %v", c.size>>10, err)
		}
	}
}

// TestTransportConcurrent: many requests at once through one Transport.
func TestTransportConcurrent(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256([]byte(r.URL.Path))
		w.Write(bytes.Repeat(sum[:], 1+len(r.URL.Path)*64))
	}))
	defer srv.Close()
	client := &http.Client{Transport: newTestTransport(t, &Transport{Engine: NewEngine(WithShards(2))})}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 8 {
				path := fmt.Sprintf("/%d/%d", g, i)
				resp, err := client.Get(srv.URL + path)
				if err != nil {
					t.Error(err)
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				sum := sha256.Sum256([]byte(path))
				if err != nil || !bytes.Equal(b, bytes.Repeat(sum[:], 1+len(path)*64)) {
					t.Errorf("%s: %d bytes, %v", path, len(b), err)
				}
			}
		})
	}
	wg.Wait()
}

// TestTransportDefaultEngine: a Transport without an Engine runs on curl.Do's.
func TestTransportDefaultEngine(t *testing.T) {
	noLeaks(t)
	srv, got := echoServer(t)
	tr := &Transport{}
	t.Cleanup(func() { tr.CloseIdleConnections(); closeDefaultEngine() })
	resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil))
	must(t, err)
	resp.Body.Close()
	<-got
}

// TestPauseFromAnotherGoroutine: Pause on a handle in Do is run by the
// shard.
func TestPauseFromAnotherGoroutine(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(4<<20))
		w.Write(make([]byte, 64<<10))
		w.(http.Flusher).Flush()
		<-release // the transfer is still running when the test pauses it
		w.Write(make([]byte, 4<<20-64<<10))
	}))
	defer srv.Close()
	eng := NewEngine(WithShards(1))
	defer eng.Close()
	e := EasyInit()
	defer e.Cleanup()
	var got atomic.Int64
	first := make(chan struct{})
	must(t, e.Setopt(OPT_URL, srv.URL))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		if got.Add(int64(len(b))) == int64(len(b)) {
			close(first)
		}
		return true
	}))
	done := make(chan error, 1)
	go func() { done <- eng.Do(context.Background(), e) }()
	<-first
	must(t, e.Pause(PAUSE_RECV))
	close(release)
	time.Sleep(100 * time.Millisecond)
	// libcurl may deliver what it had read before the pause.
	if n := got.Load(); n > 128<<10 {
		t.Errorf("paused, yet %d bytes arrived", n)
	}
	must(t, e.Pause(PAUSE_CONT))
	must(t, <-done)
	if got.Load() != 4<<20 {
		t.Errorf("got %d bytes", got.Load())
	}
}

// TestTransportCloseIdleConnectionsLateHandle: a request still running at
// CloseIdleConnections frees its handle when it ends, instead of keeping it
// in the pool; a new request makes the pool keep handles again.
func TestTransportCloseIdleConnectionsLateHandle(t *testing.T) {
	noLeaks(t)
	u := rawServer(t, func(c net.Conn, req *http.Request, raw string) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
		io.Copy(io.Discard, req.Body)
	})
	tr := newTestTransport(t, nil)
	before := Registrations().Handles
	pooled := func() int {
		p := tr.handles()
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.idle)
	}
	// The response comes before the request body: RoundTrip returns while
	// the upload goes on.
	pr, pw := io.Pipe()
	body := &closeRecorder{Reader: pr}
	resp, err := tr.RoundTrip(mustRequest(t, "POST", u, body))
	must(t, err)
	resp.Body.Close()
	if n := Registrations().Handles; n != before+1 || body.closed.Load() != 0 {
		t.Fatalf("after RoundTrip: %d handles (want %d), body closed %d times (want still 0)",
			n, before+1, body.closed.Load())
	}
	tr.CloseIdleConnections()
	io.WriteString(pw, "the rest")
	pw.Close()
	waitUntil(t, "the running request's handle to be freed", func() bool { return Registrations().Handles == before })
	if n := pooled(); n != 0 {
		t.Errorf("%d handles pooled after CloseIdleConnections", n)
	}

	resp, err = tr.RoundTrip(mustRequest(t, "GET", u, nil))
	must(t, err)
	resp.Body.Close()
	if n := pooled(); n != 1 {
		t.Errorf("%d handles pooled after a new request, want 1", n)
	}
}

// TestTransportDroppedFreesHandles: a Transport dropped without
// CloseIdleConnections does not keep its pooled handles forever.
func TestTransportDroppedFreesHandles(t *testing.T) {
	noLeaks(t)
	srv, got := echoServer(t)
	eng := NewEngine(WithShards(1))
	defer eng.Close()
	before := Registrations().Handles
	func() {
		tr := &Transport{Engine: eng}
		resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil))
		must(t, err)
		resp.Body.Close()
		<-got
	}()
	if Registrations().Handles != before+1 {
		t.Fatalf("handles: %d, want %d pooled", Registrations().Handles, before+1)
	}
	for deadline := time.Now().Add(10 * time.Second); Registrations().Handles != before; {
		if time.Now().After(deadline) {
			t.Fatalf("the dropped Transport's handle is still registered")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTransportCallbackPanic: a panic in a toolkit callback is raised again
// in the goroutine of the request, and its handle is not reused.
func TestTransportCallbackPanic(t *testing.T) {
	noLeaks(t)
	srv, got := echoServer(t)
	var fail atomic.Bool
	fail.Store(true)
	tr := newTestTransport(t, &Transport{Sockets: &Sockets{Control: []func(string, string, syscall.RawConn) error{
		func(string, string, syscall.RawConn) error {
			if fail.Load() {
				panic("control hook")
			}
			return nil
		},
	}}})
	v, panicked := capturedPanic(func() { tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil)) })
	if !panicked || v != "control hook" {
		t.Fatalf("RoundTrip: panicked %v with %v", panicked, v)
	}
	fail.Store(false)
	resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil))
	must(t, err)
	resp.Body.Close()
	<-got
}

// TestTransportEngineClosed: closing the engine ends the requests in flight,
// the ones waiting for headers and the ones being read, and refuses more.
func TestTransportEngineClosed(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			io.WriteString(w, "some")
			w.(http.Flusher).Flush()
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	eng := NewEngine(WithShards(1))
	tr := &Transport{Engine: eng}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL+"/body", nil))
	must(t, err)
	waiting := make(chan error, 1)
	go func() {
		_, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL+"/headers", nil))
		waiting <- err
	}()
	time.Sleep(50 * time.Millisecond)
	must(t, eng.Close())
	if err := <-waiting; !errors.Is(err, ErrEngineClosed) {
		t.Errorf("waiting for headers: %v, want ErrEngineClosed", err)
	}
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, ErrEngineClosed) {
		t.Errorf("reading: %v, want ErrEngineClosed", err)
	}
	resp.Body.Close()
	if _, err := tr.RoundTrip(mustRequest(t, "GET", srv.URL, nil)); !errors.Is(err, ErrEngineClosed) {
		t.Errorf("after Close: %v, want ErrEngineClosed", err)
	}
}

// TestTransportTimeouts: ConnectTimeout bounds connecting; IdleConnTimeout
// retires a kept connection.
func TestTransportTimeouts(t *testing.T) {
	noLeaks(t)
	if hole := blackHole(t, "tcp4", 0); hole != "" {
		tr := newTestTransport(t, &Transport{ConnectTimeout: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+hole+"/", nil)
		if _, err := tr.RoundTrip(req); !errors.Is(err, CurlError(E_OPERATION_TIMEDOUT)) {
			t.Errorf("connecting to a black hole: %v, want CURLE_OPERATION_TIMEDOUT", err)
		}
	}
	srv := newServer(t, "tcp4")
	tr := newTestTransport(t, &Transport{IdleConnTimeout: time.Second})
	for i := range 2 {
		if i == 1 {
			time.Sleep(2100 * time.Millisecond) // libcurl counts whole seconds
		}
		resp, err := tr.RoundTrip(mustRequest(t, "GET", srv.url("/"), nil))
		must(t, err)
		resp.Body.Close()
	}
	if n := srv.Conns(); n != 2 {
		t.Errorf("IdleConnTimeout: %d connections, want 2", n)
	}
}

// TestTransportCloseDuringRead: Close from another goroutine ends a Read
// that waits for the server, with ErrBodyClosed, never EOF.
func TestTransportCloseDuringRead(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	resp, err := newTestTransport(t, nil).RoundTrip(mustRequest(t, "GET", srv.URL, nil))
	must(t, err)
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		read <- err
	}()
	time.Sleep(20 * time.Millisecond) // the Read waits
	must(t, resp.Body.Close())
	if err := <-read; !errors.Is(err, ErrBodyClosed) {
		t.Errorf("Read during Close: %v, want ErrBodyClosed", err)
	}
}
