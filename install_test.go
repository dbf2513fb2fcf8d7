//go:build linux

package curl

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// Tests of how a Sockets installation lives on a handle: it fails closed,
// composes with the handle's own callbacks and options, is replaced whole,
// and survives Reset and Duphandle (Sockets.Install's doc).

// expectRefused performs e and checks that it failed with want and that srv
// saw no connection.
func expectRefused(t *testing.T, e *CURL, srv *testServer, want ...error) error {
	t.Helper()
	before := srv.Conns()
	err := e.Perform()
	if err == nil {
		t.Fatalf("Perform succeeded, want a refusal")
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			t.Errorf("Perform = %v, want it to match %v", err, w)
		}
	}
	if n := srv.Conns() - before; n != 0 {
		t.Errorf("the server saw %d connections, want none", n)
	}
	return err
}

// A failed Install leaves the handle refusing every transfer, whatever
// failed, until an Install succeeds; Uninstall removes the refusal too.
// TestInstallBusy: the installation changes between transfers only. While
// the handle is in Do, PerformContext, Perform (another goroutine's) or a
// multi, Install and Uninstall return ErrHandleBusy and the transfer keeps
// its guard: a redirect it follows afterwards to a denied address is still
// refused.
func TestInstallBusy(t *testing.T) {
	noLeaks(t)
	release := make(chan struct{})
	got := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		<-release
		http.Redirect(w, r, "http://127.0.0.2:1/secret", http.StatusFound) // denied below
	}))
	defer srv.Close()
	guard := loopbackGuard()
	eng := newEngine(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		run  func(e *CURL) error
	}{
		{"Do", func(e *CURL) error { return eng.Do(ctx, e) }},
		{"PerformContext", func(e *CURL) error { return e.PerformContext(ctx) }},
		{"Perform", func(e *CURL) error { return e.Perform() }},
		{"multi", func(e *CURL) error {
			m := MultiInit()
			defer m.Cleanup()
			if err := m.AddHandle(e); err != nil {
				return err
			}
			defer m.RemoveHandle(e)
			for {
				running, err := m.Perform()
				if err != nil {
					return err
				}
				if msg, _ := m.Info_read(); msg != nil {
					return msg.Result()
				}
				if running == 0 {
					return errors.New("no message")
				}
				if _, err := m.Wait(100); err != nil {
					return err
				}
			}
		}},
	} {
		e, _ := newEasy(t)
		must(t, e.Setopt(OPT_URL, srv.URL))
		must(t, e.Setopt(OPT_FOLLOWLOCATION, true))
		must(t, (&Sockets{Guard: guard}).Install(e))
		done := make(chan error, 1)
		go func() { done <- c.run(e) }()
		<-got
		if err := e.Uninstall(); !errors.Is(err, ErrHandleBusy) {
			t.Errorf("%s: Uninstall during the transfer = %v, want ErrHandleBusy", c.name, err)
		}
		if err := (&Sockets{}).Install(e); !errors.Is(err, ErrHandleBusy) {
			t.Errorf("%s: Install during the transfer = %v, want ErrHandleBusy", c.name, err)
		}
		release <- struct{}{}
		if err := <-done; !errors.Is(err, sock.ErrProhibitedIP) {
			t.Errorf("%s: the redirect to a denied address: %v, want sock.ErrProhibitedIP", c.name, err)
		}
		must(t, e.Uninstall()) // between transfers
	}
}

func TestInstallFailsClosed(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	file := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(file, []byte("secret"), 0o600))
	dialer := &net.Dialer{}

	failures := []struct {
		name  string
		setup func(e *CURL)
		s     *Sockets
		want  error
	}{
		{"Dialer next to an open-socket callback", func(e *CURL) {
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) { return OpenSocket(a) }))
		}, &Sockets{Guard: sock.NewGuard(), Dialer: dialer}, ErrInstallConflict},
		{"a protocol libcurl does not know", nil, &Sockets{Guard: sock.NewGuard(), Protocols: []string{"http", "nosuch"}}, nil},
	}
	if alreadyConnectedBroken {
		// The defect as found: on 7.88 a Dialer cannot be installed, and the
		// handle fetched the denied address.
		failures = append(failures, struct {
			name  string
			setup func(e *CURL)
			s     *Sockets
			want  error
		}{"Dialer on libcurl 7.88", nil, &Sockets{Guard: sock.NewGuard(), Dialer: dialer}, ErrAlreadyConnectedUnsupported})
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			for _, before := range []string{"fresh", "after a good Install"} {
				e, body := newEasy(t)
				if f.setup != nil {
					f.setup(e)
				}
				if before != "fresh" {
					must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
				}
				err := f.s.Install(e)
				if err == nil || f.want != nil && !errors.Is(err, f.want) {
					t.Fatalf("%s: Install = %v, want an error matching %v", before, err, f.want)
				}
				must(t, e.Setopt(OPT_URL, srv.url("/")))
				refused := expectRefused(t, e, srv, ErrInstallFailed)
				if !errors.Is(refused, err) && !strings.Contains(refused.Error(), err.Error()) {
					t.Errorf("Perform = %v, want it to carry Install's error %v", refused, err)
				}
				// Nor a scheme without sockets, nor through a multi.
				must(t, e.Setopt(OPT_URL, "file://"+file))
				if err := e.Perform(); !errors.Is(err, ErrInstallFailed) || strings.Contains(body.String(), "secret") {
					t.Errorf("file:// = %v, body %q: want a refusal", err, body.String())
				}
				m := MultiInit()
				if err := m.AddHandle(e); !errors.Is(err, ErrInstallFailed) {
					t.Errorf("AddHandle = %v, want ErrInstallFailed", err)
				}
				must(t, m.Cleanup())

				// A later Install that succeeds takes over.
				must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, nil))
				must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
				must(t, e.Setopt(OPT_URL, srv.url("/ok")))
				must(t, e.Perform())
				if body.String() != "hello tcp4 /ok" {
					t.Errorf("after a good Install: body %q", body.String())
				}
				body.Reset()

				// Uninstall lifts a failed installation's refusal as well.
				if f.setup != nil {
					f.setup(e)
				}
				if f.s.Install(e) == nil {
					t.Fatal("the failing Install succeeded the second time")
				}
				must(t, e.Uninstall())
				must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, nil))
				must(t, e.Perform())
			}
		})
	}
}

// recorderCalls records the order in which callbacks ran.
type recorderCalls struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorderCalls) add(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorderCalls) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.calls, " ")
}

// The handle's own socket callbacks, set before or after Install, run
// inside the installation: the guard judges every destination before the
// open-socket callback runs.
func TestInstallComposesWithCallbacks(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	for _, order := range []string{"callbacks after Install", "callbacks before Install"} {
		t.Run(order, func(t *testing.T) {
			var rec recorderCalls
			setCallbacks := func(e *CURL) {
				must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
					rec.add("open")
					return OpenSocket(a)
				}))
				must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) {
					rec.add("sockopt")
					return SOCKOPT_OK, nil
				}))
				must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
					rec.add("close")
					return unix.Close(fd)
				}))
				must(t, e.Setopt(OPT_PREREQFUNCTION, func(any, string, string, int, int) error {
					rec.add("prereq")
					return nil
				}))
			}
			install := func(e *CURL, g *sock.Guard) {
				opt := sock.OptionFunc("test", func(int) error { rec.add("options"); return nil })
				tr := sock.NewTrace(nil)
				must(t, (&Sockets{Guard: g, Options: []sock.SocketOption{opt}, Trace: tr}).Install(e))
			}

			// Denied: the callbacks never see the destination.
			e, _ := newEasy(t)
			if order == "callbacks before Install" {
				setCallbacks(e)
				install(e, sock.NewGuard(sock.WithAnyPort()))
			} else {
				install(e, sock.NewGuard(sock.WithAnyPort()))
				setCallbacks(e)
			}
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			err := expectRefused(t, e, srv, sock.ErrProhibitedIP)
			if !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
				t.Errorf("Perform = %v, want E_COULDNT_CONNECT: refused before any socket", err)
			}
			if rec.String() != "" {
				t.Errorf("callbacks ran for a denied destination: %s", rec.String())
			}

			// Allowed: both run, in the documented order.
			e2, body := newEasy(t)
			if order == "callbacks before Install" {
				setCallbacks(e2)
				install(e2, loopbackGuard())
			} else {
				install(e2, loopbackGuard())
				setCallbacks(e2)
			}
			must(t, e2.Setopt(OPT_URL, srv.url("/both")))
			must(t, e2.Setopt(OPT_FORBID_REUSE, 1))
			must(t, e2.Perform())
			if body.String() != "hello tcp4 /both" {
				t.Fatalf("body %q", body.String())
			}
			if got, want := rec.String(), "open options sockopt prereq close"; got != want {
				t.Errorf("callbacks ran as %q, want %q", got, want)
			}
		})
	}
}

// An open-socket callback that moves the destination is judged again, where
// the socket will really connect.
func TestInstallRejudgesCallbackRewrite(t *testing.T) {
	noLeaks(t)
	allowed := newServer(t, "tcp4")
	denied := newServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, (&Sockets{Guard: sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")),
		sock.WithPorts(uint16(allowed.Listener.Addr().(*net.TCPAddr).Port)))}).Install(e))
	deniedAddr := netip.MustParseAddrPort(denied.Addr)
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		a.Addr = deniedAddr
		return OpenSocket(a)
	}))
	must(t, e.Setopt(OPT_URL, allowed.url("/")))
	expectRefused(t, e, denied, sock.ErrProhibitedPort)
	if allowed.Conns() != 0 {
		t.Errorf("the allowed server saw %d connections", allowed.Conns())
	}
}

// Protocol lists set with Setopt may narrow an installation's, never widen
// it; a list set before Install is narrowed to it.
func TestInstallProtocols(t *testing.T) {
	noLeaks(t)
	file := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(file, []byte("secret"), 0o600))
	srv := newServer(t, "tcp4")

	e, body := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	for _, c := range []struct {
		opt int
		val any
	}{
		{OPT_PROTOCOLS_STR, "all"},
		{OPT_PROTOCOLS_STR, "http,FILE"},
		{OPT_REDIR_PROTOCOLS_STR, "https,ftp"},
		{OPT_PROTOCOLS, PROTO_FILE},
		{OPT_REDIR_PROTOCOLS, PROTO_ALL},
	} {
		if err := e.Setopt(c.opt, c.val); !errors.Is(err, ErrInstallConflict) || !strings.Contains(err.Error(), optionName(c.opt)) {
			t.Errorf("Setopt(%s, %v) = %v, want ErrInstallConflict naming it", optionName(c.opt), c.val, err)
		}
	}
	must(t, e.Setopt(OPT_URL, "file://"+file))
	if err := e.Perform(); err != CurlError(E_UNSUPPORTED_PROTOCOL) || body.Len() != 0 {
		t.Fatalf("file:// after refused widenings = %v, body %q", err, body.String())
	}
	// Narrowing is fine: https only refuses http.
	must(t, e.Setopt(OPT_PROTOCOLS_STR, "HTTPS"))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	if err := e.Perform(); err != CurlError(E_UNSUPPORTED_PROTOCOL) {
		t.Fatalf("http after narrowing to https = %v", err)
	}
	must(t, e.Setopt(OPT_PROTOCOLS_STR, nil))
	must(t, e.Perform())

	// Set before Install: narrowed to the installation's list, and given
	// back when the installation goes.
	e2, body2 := newEasy(t)
	must(t, e2.Setopt(OPT_PROTOCOLS_STR, "file,http"))
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e2))
	must(t, e2.Setopt(OPT_URL, "file://"+file))
	if err := e2.Perform(); err != CurlError(E_UNSUPPORTED_PROTOCOL) {
		t.Fatalf("file:// with the user's file,http under a guard = %v", err)
	}
	must(t, e2.Uninstall())
	must(t, e2.Perform())
	if body2.String() != "secret" {
		t.Fatalf("file:// after Uninstall: body %q", body2.String())
	}
}

// A second Install replaces all of the first; an explicit proxy, set before
// or after Install, stays; only the environment's is turned off.
func TestInstallReplacesAndProxies(t *testing.T) {
	noLeaks(t)
	proxy := newServer(t, "tcp4") // answers proxied requests itself
	srv := newServer(t, "tcp4")
	t.Setenv("http_proxy", "http://"+proxy.Addr)

	// Guarded, then replaced by an empty installation: the environment's
	// proxy is honoured again, file:// is open again, and reused
	// connections are not checked.
	e, body := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	must(t, e.Setopt(OPT_URL, srv.url("/direct")))
	must(t, e.Perform())
	if proxy.Hits() != 0 {
		t.Fatalf("the guarded handle used the environment's proxy")
	}
	must(t, (&Sockets{}).Install(e))
	body.Reset()
	must(t, e.Setopt(OPT_URL, "http://10.0.0.1/via-env-proxy"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /via-env-proxy" || proxy.Hits() != 1 {
		t.Fatalf("after the empty Install: body %q, proxy hits %d: want the environment's proxy", body.String(), proxy.Hits())
	}
	file := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(file, []byte("open"), 0o600))
	body.Reset()
	must(t, e.Setopt(OPT_URL, "file://"+file))
	must(t, e.Perform())
	if body.String() != "open" {
		t.Fatalf("file:// after the empty Install: %q", body.String())
	}

	// An explicit proxy set before Install stays.
	for _, when := range []string{"before", "after"} {
		e2, body2 := newEasy(t)
		if when == "before" {
			must(t, e2.Setopt(OPT_PROXY, "http://"+proxy.Addr))
		}
		must(t, (&Sockets{Guard: loopbackGuard()}).Install(e2))
		if when == "after" {
			must(t, e2.Setopt(OPT_PROXY, "http://"+proxy.Addr))
		}
		must(t, e2.Setopt(OPT_URL, "http://10.0.0.1/explicit-"+when))
		must(t, e2.Perform())
		if body2.String() != "hello tcp4 /explicit-"+when {
			t.Errorf("explicit proxy set %s Install: body %q", when, body2.String())
		}
		// nil: no proxy, and still none from the environment.
		must(t, e2.Setopt(OPT_PROXY, nil))
		hits := proxy.Hits()
		must(t, e2.Setopt(OPT_URL, srv.url("/no-proxy")))
		must(t, e2.Perform())
		if proxy.Hits() != hits {
			t.Errorf("OPT_PROXY nil on a guarded handle used the environment's proxy")
		}
	}
}

// Reset keeps the installation; a duplicate gets one of its own.
func TestInstallResetDuphandle(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	var log bytes.Buffer
	tr := sock.NewTrace(&log)
	must(t, (&Sockets{Guard: sock.NewGuard(sock.WithAnyPort()), Trace: tr}).Install(e))
	must(t, e.Setopt(OPT_URL, srv.url("/")))

	d := e.Duphandle()
	if d == nil {
		t.Fatal("Duphandle returned nil")
	}
	defer d.Cleanup()
	e.Cleanup()
	// The duplicate outlives the original, guarded, and its events are its own.
	expectRefused(t, d, srv, sock.ErrProhibitedIP)
	for _, ev := range tr.Events() {
		if ev.Handle != d.reg.seq {
			t.Errorf("trace event %v names handle #%d, want the duplicate #%d", ev, ev.Handle, d.reg.seq)
		}
	}

	d.Reset()
	must(t, d.Setopt(OPT_URL, srv.url("/")))
	must(t, d.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	expectRefused(t, d, srv, sock.ErrProhibitedIP)
	must(t, d.Uninstall())
	must(t, d.Perform())
}

// Registrations counts the sockets charged to close-socket callbacks while
// libcurl holds them, and nothing once a callback was handed them: a
// callback that keeps its sockets leaks descriptors that only the process's
// own count shows (Registrations' doc).
func TestRegistrationsSockets(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	before := Registrations()
	var kept []int
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		kept = append(kept, fd)
		return nil
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	// The connection is cached: its socket is libcurl's, charged to the callback.
	if got := Registrations(); got.Sockets != before.Sockets+1 || got.CloseCallbacks != before.CloseCallbacks+1 {
		t.Errorf("with a cached connection: %+v, want one more socket and close callback than %+v", got, before)
	}
	e.Cleanup()
	if len(kept) != 1 {
		t.Fatalf("close callback ran %d times, want 1", len(kept))
	}
	if got := Registrations(); got != before {
		t.Errorf("after Cleanup: %+v, want %+v although the callback kept fd %d", got, before, kept[0])
	}
	var st unix.Stat_t
	if err := socketStat(kept[0], &st); err != nil {
		t.Errorf("the kept socket is not open: %v", err)
	}
	unix.Close(kept[0])
}

// With a Dialer the installation makes the sockets: an open-socket callback
// set afterwards is refused, not silently dropped.
func TestInstallDialerRefusesOpenCallback(t *testing.T) {
	if alreadyConnectedBroken {
		t.Skip("libcurl 7.88.0–7.88.1 cannot take dialed sockets (curl #10626): Install fails, TestInstallFailsClosed")
	}
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, body := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard(), Dialer: &net.Dialer{}}).Install(e))
	err := e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) { return OpenSocket(a) })
	if !errors.Is(err, ErrInstallConflict) {
		t.Fatalf("Setopt(OPT_OPENSOCKETFUNCTION) next to a Dialer = %v, want ErrInstallConflict", err)
	}
	must(t, e.Setopt(OPT_URL, srv.url("/dialed")))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /dialed" {
		t.Errorf("body %q", body.String())
	}
}

// A value libcurl refuses leaves the handle as it was.
func TestInstallGovernedRefusedValue(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_PROTOCOLS_STR, "https"))
	if err := e.Setopt(OPT_PROTOCOLS_STR, "http,nosuch"); err == nil {
		t.Fatal("libcurl took an unknown protocol")
	}
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	if err := e.Perform(); err != CurlError(E_UNSUPPORTED_PROTOCOL) {
		t.Errorf("http after a refused list = %v, want the earlier https-only list in force", err)
	}
	if err := e.Setopt(OPT_PROTOCOLS_STR, PROTO_HTTP); !errors.Is(err, ErrOptionType) {
		t.Errorf("a bitmask for CURLOPT_PROTOCOLS_STR = %v, want ErrOptionType", err)
	}
}

// An installation's protocol list that names nothing fails Install (closed),
// and "all" is no limit that user lists then narrow.
func TestInstallProtocolListEdges(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	for _, empty := range [][]string{{}, {""}, {",", " "}} {
		e, _ := newEasy(t)
		if err := (&Sockets{Guard: loopbackGuard(), Protocols: empty}).Install(e); err == nil {
			t.Fatalf("Install with Protocols %q succeeded", empty)
		}
		must(t, e.Setopt(OPT_URL, "gopher://"+srv.Addr+"/"))
		expectRefused(t, e, srv, ErrInstallFailed)
	}
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_PROTOCOLS_STR, "http"))
	must(t, (&Sockets{Guard: loopbackGuard(), Protocols: []string{"all"}}).Install(e))
	must(t, e.Setopt(OPT_URL, srv.url("/all")))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /all" {
		t.Fatalf("body %q", body.String())
	}
	must(t, e.Setopt(OPT_PROTOCOLS_STR, "https"))
	if err := e.Perform(); err != CurlError(E_UNSUPPORTED_PROTOCOL) {
		t.Errorf("http after narrowing \"all\" to https = %v", err)
	}
}
