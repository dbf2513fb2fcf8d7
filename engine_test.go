//go:build linux

package curl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// newEngine returns an engine closed at the end of the test.
func newEngine(t *testing.T, opts ...EngineOption) *Engine {
	t.Helper()
	eng := NewEngine(opts...)
	t.Cleanup(func() { eng.Close() })
	return eng
}

func TestEngineDo(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	eng := newEngine(t)
	e, body := newEasy(t)
	for i := range 3 {
		body.Reset()
		must(t, e.Setopt(OPT_URL, srv.url(fmt.Sprintf("/do/%d", i))))
		if err := eng.Do(context.Background(), e); err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
		if want := fmt.Sprintf("hello tcp4 /do/%d", i); !strings.Contains(body.String(), want) {
			t.Fatalf("Do %d: body %q, want %q", i, body.String(), want)
		}
		code, err := e.Getinfo(INFO_RESPONSE_CODE)
		if err != nil || code != 200 {
			t.Fatalf("Do %d: response code %v, %v", i, code, err)
		}
	}
	// The engine's connection cache: one connection for the three.
	if n := srv.Conns(); n != 1 {
		t.Errorf("server saw %d connections for 3 transfers to one origin, want 1", n)
	}
	// Out of the engine, the handle works with Perform, its options kept.
	body.Reset()
	must(t, e.Perform())
	if !strings.Contains(body.String(), "/do/2") {
		t.Errorf("Perform after Do: body %q", body.String())
	}
	e.Cleanup()
	must(t, eng.Close())
}

func TestEngineErrors(t *testing.T) {
	eng := newEngine(t)
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t))))
	err := eng.Do(context.Background(), e)
	if !errors.Is(err, CurlError(7)) {
		t.Fatalf("Do to a closed port = %v, want CurlError 7", err)
	}
	if e.ErrorText() == "" {
		t.Error("no detail text after a failed Do")
	}

	// A callback's error comes back as from Perform.
	srv := newServer(t, "tcp4")
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { return SOCKET_BAD, errors.New("no") }))
	err = eng.Do(context.Background(), e)
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Callbacks) == 0 {
		t.Fatalf("Do with a refusing open callback = %v, want an *Error with callback errors", err)
	}
}

func TestEngineContextDoneBefore(t *testing.T) {
	srv := newServer(t, "tcp4")
	eng := newEngine(t)
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := eng.Do(ctx, e); err != context.Canceled {
		t.Fatalf("Do with a done context = %v, want context.Canceled itself", err)
	}
	if err := e.PerformContext(ctx); err != context.Canceled {
		t.Fatalf("PerformContext with a done context = %v, want context.Canceled itself", err)
	}
	if n := srv.Conns(); n != 0 {
		t.Errorf("server saw %d connections from transfers that must not start", n)
	}
}

func TestEngineClosed(t *testing.T) {
	stall := newStallServer(t, "")
	eng := NewEngine(WithShards(2))
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, stall.url()))
	errc := make(chan error, 1)
	go func() { errc <- eng.Do(context.Background(), e) }()
	stall.waitRequests(t, 1)
	must(t, eng.Close())
	if err := <-errc; !errors.Is(err, ErrEngineClosed) {
		t.Fatalf("Do in flight when the engine closed = %v, want ErrEngineClosed", err)
	}
	if err := eng.Do(context.Background(), e); !errors.Is(err, ErrEngineClosed) {
		t.Fatalf("Do on a closed engine = %v, want ErrEngineClosed", err)
	}
	must(t, eng.Close()) // twice is harmless
}

// TestEngineConcurrent: many transfers at once, each body to its own
// callback, spread over shards.
func TestEngineConcurrent(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	eng := NewEngine(WithShards(3))
	const n = 2000
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			e := EasyInit()
			defer e.Cleanup()
			var body bytes.Buffer
			e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool { body.Write(b); return true })
			e.Setopt(OPT_TIMEOUT_MS, 20000)
			e.Setopt(OPT_URL, srv.url(fmt.Sprintf("/c/%d", i)))
			if err := eng.Do(context.Background(), e); err != nil {
				errs <- fmt.Errorf("transfer %d: %w", i, err)
				return
			}
			if want := fmt.Sprintf(" /c/%d", i); !strings.HasSuffix(body.String(), want) {
				errs <- fmt.Errorf("transfer %d: body %q, want suffix %q", i, body.String(), want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	must(t, eng.Close())
}

// stallServer accepts connections, reads requests and never answers but
// with its prefix (the start of a response, or nothing); it records when
// each connection ends.
type stallServer struct {
	ln       net.Listener
	prefix   string
	requests atomic.Int32
	mu       sync.Mutex
	closed   int
	changed  chan struct{}
}

func newStallServer(t *testing.T, prefix string) *stallServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	s := &stallServer{ln: ln, prefix: prefix, changed: make(chan struct{}, 1)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				if _, err := http.ReadRequest(r); err == nil {
					s.requests.Add(1)
					s.signal()
					if s.prefix != "" {
						io.WriteString(c, s.prefix)
					}
				}
				// Until the client closes (or the test ends).
				io.Copy(io.Discard, r)
				s.mu.Lock()
				s.closed++
				s.mu.Unlock()
				s.signal()
			})
		}
	})
	return s
}

func (s *stallServer) signal() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *stallServer) url() string { return "http://" + s.ln.Addr().String() + "/stall" }

func (s *stallServer) closedConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *stallServer) waitRequests(t *testing.T, n int) {
	t.Helper()
	s.waitFor(t, "requests", func() bool { return int(s.requests.Load()) >= n })
}

func (s *stallServer) waitClosed(t *testing.T, n int) {
	t.Helper()
	s.waitFor(t, "closed connections", func() bool { return s.closedConns() >= n })
}

func (s *stallServer) waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !ok() {
		select {
		case <-s.changed:
		case <-deadline:
			t.Fatalf("stall server: still waiting for %s", what)
		}
	}
}

// runner runs a transfer: Engine.Do or PerformContext.
type runner func(context.Context, *CURL) error

// doBoth runs the test body with Engine.Do and with PerformContext. Each
// call of mk(t) gives a runner of t's own: an engine closed at t's end.
func doBoth(t *testing.T, f func(t *testing.T, mk func(t *testing.T) runner)) {
	t.Run("Do", func(t *testing.T) {
		f(t, func(t *testing.T) runner { return newEngine(t, WithShards(1)).Do })
	})
	t.Run("PerformContext", func(t *testing.T) {
		f(t, func(*testing.T) runner {
			return func(ctx context.Context, e *CURL) error { return e.PerformContext(ctx) }
		})
	})
}

// cancelWhen runs e's transfer and cancels it once ready returns; it
// returns the transfer's error.
func cancelWhen(t *testing.T, run runner, e *CURL, ready func()) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, e) }()
	ready()
	cancel()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the transfer did not end after its context was canceled")
		return nil
	}
}

// TestEngineCancel cancels transfers at each stage: connecting, sending,
// waiting for the response, receiving it. Each ends with the context's
// error, its socket closed through the close callback, and, where the
// server holds the connection, the server sees it end.
func TestEngineCancel(t *testing.T) {
	doBoth(t, func(t *testing.T, mk func(*testing.T) runner) {
		t.Run("connecting", func(t *testing.T) {
			noLeaks(t)
			run := mk(t)
			addr := blackHole(t, "tcp4", 0)
			e, _ := newEasy(t)
			var rec recorder
			rec.install(t, e)
			must(t, e.Setopt(OPT_URL, "http://"+addr+"/"))
			err := cancelWhen(t, run, e, func() { waitUntil(t, "a socket opened", func() bool { return rec.count("open") > 0 }) })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled while connecting: %v, want context.Canceled", err)
			}
			// libcurl < 8.2 closes a socket that never connected with
			// close(), not the callback (PR #11439); noLeaks checks it is
			// closed either way.
			if o, c := rec.count("open"), rec.count("close"); o != c && !eagerIdentity {
				t.Errorf("%d sockets opened, %d closed through the close callback", o, c)
			}
			e.Cleanup()
		})
		t.Run("waiting", func(t *testing.T) {
			noLeaks(t)
			run := mk(t)
			stall := newStallServer(t, "")
			e, _ := newEasy(t)
			must(t, e.Setopt(OPT_URL, stall.url()))
			err := cancelWhen(t, run, e, func() { stall.waitRequests(t, 1) })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled while waiting for the response: %v", err)
			}
			stall.waitClosed(t, 1)
			e.Cleanup()
		})
		t.Run("receiving", func(t *testing.T) {
			noLeaks(t)
			run := mk(t)
			stall := newStallServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\npartial body")
			e, body := newEasy(t)
			must(t, e.Setopt(OPT_URL, stall.url()))
			var got atomic.Bool
			must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
				body.Write(b)
				got.Store(true)
				return true
			}))
			err := cancelWhen(t, run, e, func() { waitUntil(t, "part of the body", got.Load) })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled mid-body: %v", err)
			}
			if body.String() != "partial body" {
				t.Errorf("body %q", body.String())
			}
			stall.waitClosed(t, 1)
			e.Cleanup()
		})
		t.Run("sending", func(t *testing.T) {
			noLeaks(t)
			run := mk(t)
			// A server that accepts and never reads: the upload fills the
			// socket buffers and stays there.
			ln, err := net.Listen("tcp4", "127.0.0.1:0")
			must(t, err)
			accepted := make(chan net.Conn, 1)
			go func() {
				if c, err := ln.Accept(); err == nil {
					accepted <- c
				}
			}()
			t.Cleanup(func() {
				ln.Close()
				select {
				case c := <-accepted:
					c.Close()
				default:
				}
			})
			e, _ := newEasy(t)
			must(t, e.Setopt(OPT_URL, "http://"+ln.Addr().String()+"/upload"))
			must(t, e.Setopt(OPT_UPLOAD, 1))
			must(t, e.Setopt(OPT_INFILESIZE_LARGE, int64(1<<30)))
			var sent atomic.Int64
			chunk := bytes.Repeat([]byte("x"), 64<<10)
			must(t, e.Setopt(OPT_READFUNCTION, func(b []byte, _ any) int {
				n := copy(b, chunk)
				sent.Add(int64(n))
				return n
			}))
			var stuck atomic.Int64
			err = cancelWhen(t, run, e, func() {
				// Sending stalls once the buffers are full.
				waitUntil(t, "the upload to stall", func() bool {
					n := sent.Load()
					if n > 0 && n == stuck.Load() {
						return true
					}
					stuck.Store(n)
					time.Sleep(50 * time.Millisecond)
					return false
				})
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("canceled mid-upload: %v", err)
			}
			e.Cleanup()
		})
	})
}

// waitUntil polls ok for up to 10 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestPauseDuringPerformElsewhere: libcurl forbids curl_easy_pause from
// another thread than the one driving the transfer: Pause from another
// goroutine during Perform is ErrHandleBusy; from the transfer's own
// callback it pauses.
func TestPauseDuringPerformElsewhere(t *testing.T) {
	noLeaks(t)
	got, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(got)
		<-release
		io.WriteString(w, "late")
	}))
	defer srv.Close()
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.URL))
	done := make(chan error, 1)
	go func() { done <- e.Perform() }()
	<-got
	if err := e.Pause(PAUSE_ALL); !errors.Is(err, ErrHandleBusy) {
		t.Errorf("Pause from another goroutine during Perform = %v, want ErrHandleBusy", err)
	}
	close(release)
	must(t, <-done)
	if body.String() != "late" {
		t.Errorf("body %q", body)
	}
}

// TestPauseOnIdleHandleHoldsTransfers: while Pause runs curl_easy_pause on
// an idle handle, a Do, PerformContext or Perform starting on another
// goroutine waits for it: libcurl's calls on one handle must not overlap.
func TestPauseOnIdleHandleHoldsTransfers(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x") }))
	defer srv.Close()
	eng := newEngine(t)
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.URL))
	ctx := context.Background()
	for _, c := range []struct {
		name string
		run  func() error
	}{
		{"Do", func() error { return eng.Do(ctx, e) }},
		{"PerformContext", func() error { return e.PerformContext(ctx) }},
		{"Perform", e.Perform},
	} {
		// What Pause holds while its curl_easy_pause runs.
		_, release, err := e.reg.pauseClaim()
		must(t, err)
		done := make(chan error, 1)
		go func() { done <- c.run() }()
		select {
		case err := <-done:
			t.Errorf("%s ran during a Pause of the idle handle (%v)", c.name, err)
		case <-time.After(50 * time.Millisecond):
		}
		release()
		if err := <-done; err != nil {
			t.Errorf("%s after the Pause: %v", c.name, err)
		}
	}
	// On the idle handle: libcurl 7.88 says CURLE_BAD_FUNCTION_ARGUMENT
	// (no connection); nothing stays claimed.
	if err := e.Pause(PAUSE_CONT); errors.Is(err, ErrHandleBusy) {
		t.Errorf("Pause on the idle handle: %v", err)
	}
	must(t, eng.Do(ctx, e))
}

func TestEngineDeadline(t *testing.T) {
	stall := newStallServer(t, "")
	eng := newEngine(t)
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, stall.url()))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := eng.Do(ctx, e); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do past its deadline = %v, want context.DeadlineExceeded", err)
	}
	cause := errors.New("the caller gave up")
	ctx, cancelCause := context.WithCancelCause(context.Background())
	go func() { stall.waitRequests(t, 2); cancelCause(cause) }()
	err := eng.Do(ctx, e)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) {
		t.Fatalf("Do canceled with a cause = %v, want context.Canceled and the cause", err)
	}
}

// TestEngineBusy: while a handle is in Do, other goroutines' calls on it
// fail with ErrHandleBusy, and Cleanup stops the transfer.
func TestEngineBusy(t *testing.T) {
	noLeaks(t)
	stall := newStallServer(t, "")
	eng := newEngine(t)
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, stall.url()))
	errc := make(chan error, 1)
	go func() { errc <- eng.Do(context.Background(), e) }()
	stall.waitRequests(t, 1)
	calls := map[string]error{
		"Do":             eng.Do(context.Background(), e),
		"PerformContext": e.PerformContext(context.Background()),
		"Perform":        e.Perform(),
		"Setopt":         e.Setopt(OPT_URL, "http://127.0.0.1:1/"),
	}
	// Pause is the exception: the shard runs it (TestPauseFromAnotherGoroutine).
	must(t, e.Pause(PAUSE_ALL))
	_, calls["Getinfo"] = e.Getinfo(INFO_RESPONSE_CODE)
	m := MultiInit()
	calls["AddHandle"] = m.AddHandle(e)
	m.Cleanup()
	for name, err := range calls {
		if !errors.Is(err, ErrHandleBusy) {
			t.Errorf("%s during Do = %v, want ErrHandleBusy", name, err)
		}
	}
	if d := e.Duphandle(); d != nil {
		d.Cleanup()
		t.Error("Duphandle during Do returned a copy")
	}
	e.Cleanup()
	if err := <-errc; !errors.Is(err, ErrHandleClosed) {
		t.Fatalf("Do whose handle was cleaned up = %v, want ErrHandleClosed", err)
	}
	stall.waitClosed(t, 1)
	must(t, eng.Close())
}

// TestEngineCleanupInCallback: a callback that cleans up its own handle
// ends its transfer with ErrHandleClosed; others on the shard go on.
func TestEngineCleanupInCallback(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	doBoth(t, func(t *testing.T, mk func(*testing.T) runner) {
		run := mk(t)
		e := EasyInit()
		must(t, e.Setopt(OPT_URL, srv.url("/")))
		must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { e.Cleanup(); return true }))
		if err := run(context.Background(), e); !errors.Is(err, ErrHandleClosed) {
			t.Fatalf("transfer whose callback cleaned up its handle = %v, want ErrHandleClosed", err)
		}
		if err := e.Setopt(OPT_URL, srv.url("/")); !errors.Is(err, ErrHandleClosed) {
			t.Fatalf("Setopt after = %v", err)
		}
	})
}

// TestEngineCloseCallbackAfterCleanup: a connection cached in the engine
// closes through the close callback and data it was made with, after its
// handle is gone, when the engine closes.
func TestEngineCloseCallbackAfterCleanup(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	eng := NewEngine(WithShards(1))
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	var closed []any
	var mu sync.Mutex
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(data any, fd int) error {
		mu.Lock()
		closed = append(closed, data)
		mu.Unlock()
		return unix.Close(fd)
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "first"))
	must(t, eng.Do(context.Background(), e))
	e.Cleanup()
	if r := Registrations(); r.CloseCallbacks != 1 || r.Sockets != 1 {
		t.Fatalf("after Cleanup, with the connection cached: %+v", r)
	}
	must(t, eng.Close())
	mu.Lock()
	defer mu.Unlock()
	if len(closed) != 1 || closed[0] != "first" {
		t.Fatalf("close callback calls: %v, want one with the data it was made with", closed)
	}
}

// TestPerformContextKeepAlive: PerformContext's multi is the handle's own,
// kept across calls for keep-alive and freed by Cleanup.
func TestPerformContextKeepAlive(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/pc")))
	var rec recorder
	rec.install(t, e)
	for i := range 3 {
		body.Reset()
		if err := e.PerformContext(context.Background()); err != nil {
			t.Fatalf("PerformContext %d: %v", i, err)
		}
		if body.String() != "hello tcp4 /pc" {
			t.Fatalf("body %q", body.String())
		}
	}
	if n := srv.Conns(); n != 1 {
		t.Errorf("%d connections for 3 PerformContext calls, want 1", n)
	}
	if r := Registrations(); r.Shards != 1 {
		t.Errorf("no multi registered while the handle keeps its own: %+v", r)
	}
	e.Cleanup()
	if o, c := rec.count("open"), rec.count("close"); o != 1 || c != 1 {
		t.Errorf("opens %d, closes %d through the callbacks, want 1 and 1", o, c)
	}
}

// TestEngineHTTP2: concurrent transfers to one HTTP/2 origin share one
// connection (the engine sets PIPEWAIT), and a panic in one stream's
// callback fails that transfer only: the others on the connection complete
// and the connection stays.
func TestEngineHTTP2(t *testing.T) {
	if !hasFeature(VERSION_HTTP2) {
		t.Skip("libcurl built without HTTP/2")
	}
	noLeaks(t)
	gate := make(chan struct{})
	var conns atomic.Int32
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gate" {
			<-gate
		}
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}))
	hs.EnableHTTP2 = true
	hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	ca := writeCA(t, &testServer{Server: hs})
	eng := NewEngine(WithShards(1))

	start := func(path string, write func([]byte, any) bool) (*CURL, *bytes.Buffer, chan error) {
		e, body := newEasy(t)
		must(t, e.Setopt(OPT_URL, hs.URL+path))
		must(t, e.Setopt(OPT_CAINFO, ca))
		if write != nil {
			must(t, e.Setopt(OPT_WRITEFUNCTION, write))
		}
		errc := make(chan error, 1)
		go func() { errc <- eng.Do(context.Background(), e) }()
		return e, body, errc
	}
	type job struct {
		body *bytes.Buffer
		errc chan error
	}
	var gated []job
	for range 4 {
		_, body, errc := start("/gate", nil)
		gated = append(gated, job{body, errc})
	}
	// While the gated streams are open on the connection, one stream's
	// callback panics.
	waitUntil(t, "a connection", func() bool { return conns.Load() > 0 })
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, hs.URL+"/boom"))
	must(t, e.Setopt(OPT_CAINFO, ca))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { panic("stream boom") }))
	v, panicked := capturedPanic(func() { eng.Do(context.Background(), e) })
	if !panicked || v != "stream boom" {
		t.Fatalf("Do with a panicking write callback: panicked=%v value=%v", panicked, v)
	}
	// A canceled stream is reset; the connection stays for the others.
	ce, _ := newEasy(t)
	must(t, ce.Setopt(OPT_URL, hs.URL+"/gate"))
	must(t, ce.Setopt(OPT_CAINFO, ca))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := eng.Do(ctx, ce); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a canceled HTTP/2 stream: %v, want context.DeadlineExceeded", err)
	}
	close(gate)
	for i, j := range gated {
		if err := <-j.errc; err != nil || j.body.String() != "HTTP/2.0 /gate" {
			t.Errorf("gated transfer %d: %v, body %q", i, err, j.body.String())
		}
	}
	// The same connection serves the next transfer.
	_, body, errc := start("/after", nil)
	if err := <-errc; err != nil || body.String() != "HTTP/2.0 /after" {
		t.Errorf("transfer after the panic: %v, body %q", err, body.String())
	}
	// PIPEWAIT, set where libcurl keeps it safe, puts the first streams on
	// one connection; without it each may open its own before the first
	// knows it can multiplex.
	if n := conns.Load(); pipewaitSafe && n != 1 || n < 1 || n > 5 {
		t.Errorf("server saw %d connections (PIPEWAIT %v)", n, pipewaitSafe)
	}
	must(t, eng.Close())
}

// TestEngineSockets: the toolkit works under Do as under Perform: the
// rewrite takes the transfer to another server, the guard checks it, the
// trace sees the socket open, and close when the engine closes its cache.
func TestEngineSockets(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	from := fmt.Sprintf("127.0.0.1:%d", closedPort(t))
	rw, err := sock.ParseRewrite(from + "=" + srv.Addr)
	must(t, err)
	trace := sock.NewTrace(nil)
	eng := NewEngine(WithShards(1))
	e, body := newEasy(t)
	must(t, (&Sockets{Rewrite: rw, Guard: loopbackGuard(), Trace: trace}).Install(e))
	must(t, e.Setopt(OPT_URL, "http://"+from+"/rewritten"))
	must(t, eng.Do(context.Background(), e))
	if body.String() != "hello tcp4 /rewritten" {
		t.Fatalf("body %q: the rewrite did not take the transfer to the server", body.String())
	}
	// Denied: a guard without loopback refuses the same destination.
	d, _ := newEasy(t)
	must(t, (&Sockets{Guard: sock.NewGuard(), Trace: trace}).Install(d))
	must(t, d.Setopt(OPT_URL, srv.url("/denied")))
	if err := eng.Do(context.Background(), d); !errors.Is(err, sock.ErrProhibitedIP) {
		t.Fatalf("Do to a denied destination = %v, want ErrProhibitedIP", err)
	}
	e.Cleanup()
	d.Cleanup()
	must(t, eng.Close())
	if st := trace.Stats(); st.Opened != 1 || st.Closed != 1 || st.Refused != 1 {
		t.Errorf("trace: %+v, want one socket opened and closed, one refusal", st)
	}
}

// TestEngineCleartextConcurrent: on cleartext http, a transfer to an origin
// whose only connection is busy with an unanswered HTTP/1.1 request opens a
// connection of its own. With OPT_PIPEWAIT, which the engine sets only for
// https, libcurl 7.88 holds it until that response comes, to learn whether
// the connection can multiplex (this test then times out; 8.14.1 does not
// wait here).
func TestEngineCleartextConcurrent(t *testing.T) {
	noLeaks(t)
	gate := make(chan struct{})
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gate" {
			<-gate
		}
		fmt.Fprint(w, r.URL.Path)
	}))
	defer close(gate)
	eng := newEngine(t, WithShards(1))
	slow, _ := newEasy(t)
	must(t, slow.Setopt(OPT_URL, srv.url("/gate")))
	slowErr := make(chan error, 1)
	go func() { slowErr <- eng.Do(context.Background(), slow) }()
	waitUntil(t, "the gated request", func() bool { return srv.Hits() > 0 })
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/quick")))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := eng.Do(ctx, e); err != nil || body.String() != "/quick" {
		t.Fatalf("a transfer beside an unanswered one to the same origin: %v, body %q", err, body.String())
	}
	gate <- struct{}{}
	if err := <-slowErr; err != nil {
		t.Fatalf("the gated transfer: %v", err)
	}
}

// TestEngineResetMidBody: a server that resets the connection in the middle
// of the body fails the transfer with libcurl's receive error; nothing
// leaks, and the handle works again.
func TestEngineResetMidBody(t *testing.T) {
	doBoth(t, func(t *testing.T, mk func(*testing.T) runner) {
		noLeaks(t)
		run := mk(t)
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		must(t, err)
		t.Cleanup(func() { ln.Close() })
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			http.ReadRequest(bufio.NewReader(c))
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\npartial")
			time.Sleep(20 * time.Millisecond)
			c.(*net.TCPConn).SetLinger(0) // close with RST
			c.Close()
		}()
		e, body := newEasy(t)
		must(t, e.Setopt(OPT_URL, "http://"+ln.Addr().String()+"/"))
		err = run(context.Background(), e)
		if !errors.Is(err, CurlError(E_RECV_ERROR)) && !errors.Is(err, CurlError(E_PARTIAL_FILE)) {
			t.Fatalf("reset mid-body: %v, want a receive error", err)
		}
		if body.String() != "partial" {
			t.Errorf("body %q", body.String())
		}
		srv := newServer(t, "tcp4")
		must(t, e.Setopt(OPT_URL, srv.url("/again")))
		body.Reset()
		if err := run(context.Background(), e); err != nil || body.String() != "hello tcp4 /again" {
			t.Fatalf("the handle after the reset: %v, body %q", err, body.String())
		}
		e.Cleanup()
	})
}
