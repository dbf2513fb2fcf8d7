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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	stall := newStallServer(t, 0)
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
	const n = 1000
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

// stallServer accepts connections, reads requests and never answers,
// unless told to send a prefix first; it records when each connection ends.
type stallServer struct {
	ln       net.Listener
	prefix   string
	requests atomic.Int32
	mu       sync.Mutex
	closed   int
	changed  chan struct{}
}

func newStallServer(t *testing.T, _ int) *stallServer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	s := &stallServer{ln: ln, changed: make(chan struct{}, 1)}
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
