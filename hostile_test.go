//go:build linux

package curl

// Hostile callbacks: callbacks that return garbage, panic with nil, block past
// the transfer's timeout, end their goroutine, or call libcurl again on the
// handle that is running them. Each must give a clear error or the documented
// behaviour, and never a crash, a deadlock, a hang or a leak. Cases that can
// kill or wedge the process run in a child process (TestHostileChild, started
// by runHostileChild) so that the suite survives them. The in-process cases
// that run one transfer run it under Perform, Engine.Do and PerformContext
// alike (hostileVia); engine_hostile_test.go has what only an engine has.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// hostileTimeoutMS is OPT_TIMEOUT_MS for hostile transfers; returnsWithin
// allows a little more before it calls a call hung.
const hostileTimeoutMS = 5000

// hostileServer answers every request with "ok", reading the request body
// first so that uploads (the read callback) are actually sent.
func hostileServer(t *testing.T) *testServer {
	t.Helper()
	return newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Hostile", "1")
		fmt.Fprint(w, "ok")
	}))
}

// hostileEasy is newEasy with a shorter transfer timeout.
func hostileEasy(t *testing.T) (*CURL, *bytes.Buffer) {
	t.Helper()
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_TIMEOUT_MS, hostileTimeoutMS))
	return e, body
}

// returnsWithin runs f, a call that drives libcurl, on a goroutine of its own
// and fails the test if it has not returned after d. It reports whether f
// returned (false also when f's goroutine ended without returning, as with
// runtime.Goexit).
func returnsWithin(t *testing.T, d time.Duration, what string, f func()) bool {
	t.Helper()
	ended := make(chan bool, 1)
	go func() {
		ok := false
		defer func() { ended <- ok }()
		f()
		ok = true
	}()
	select {
	case ok := <-ended:
		return ok
	case <-time.After(d):
		t.Fatalf("%s has not returned after %v: hung", what, d)
		return false
	}
}

// hostileVia runs f in the subtest name, as subtests "Perform", "Do" and
// "PerformContext" (see doBoth): one for each way to drive a transfer. f
// takes its runner with mk(t) after noLeaks(t). Under "Do" that is a
// one-shard engine of the subtest's own, closed at its end, so that its
// descriptors balance and no transfer reuses a connection that another case
// left in an engine's cache.
func hostileVia(t *testing.T, name string, f func(t *testing.T, mk func(*testing.T) runner)) {
	t.Run(name, func(t *testing.T) {
		t.Run("Perform", func(t *testing.T) {
			f(t, func(*testing.T) runner {
				return func(_ context.Context, e *CURL) error { return e.Perform() }
			})
		})
		doBoth(t, f)
	})
}

// The callbacks a hostile action can run in: the three socket callbacks and
// go-curl's data callbacks (plus prereq), all routed through curlsock.
var hostileKinds = []string{"open", "sockopt", "close", "write", "header", "read", "progress", "prereq"}

// installHostile sets on e (whose URL is a hostileServer's) every callback,
// each doing what libcurl would do, except that the callback named kind runs
// act on its first call first. act may panic, block, end the goroutine or
// call libcurl. The close callback is made to run during Perform
// (FORBID_REUSE), the read callback by an upload, the progress callback by
// NOPROGRESS=0. It returns the buffer the write callback fills.
func installHostile(t *testing.T, e *CURL, kind string, act func()) *bytes.Buffer {
	t.Helper()
	body := &bytes.Buffer{}
	var once sync.Once
	hit := func(k string) {
		if k == kind {
			once.Do(act)
		}
	}
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		hit("open")
		return OpenSocket(a)
	}))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) {
		hit("sockopt")
		return SOCKOPT_OK, nil
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		hit("close")
		return unix.Close(fd)
	}))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		hit("write")
		body.Write(b)
		return true
	}))
	must(t, e.Setopt(OPT_HEADERFUNCTION, func([]byte, any) bool {
		hit("header")
		return true
	}))
	if kind == "read" {
		payload := strings.NewReader("hostile upload")
		must(t, e.Setopt(OPT_UPLOAD, 1))
		must(t, e.Setopt(OPT_READFUNCTION, func(b []byte, _ any) int {
			hit("read")
			n, _ := payload.Read(b)
			return n
		}))
	}
	if kind == "progress" {
		must(t, e.Setopt(OPT_NOPROGRESS, false))
		must(t, e.Setopt(OPT_PROGRESSFUNCTION, func(_, _, _, _ float64, _ any) bool {
			hit("progress")
			return true
		}))
	}
	must(t, e.Setopt(OPT_PREREQFUNCTION, PrereqFunc(func(any, string, string, int, int) error {
		hit("prereq")
		return nil
	})))
	return body
}

// ---------------------------------------------------------------------------
// Garbage from the open-socket callback.

// highClosedFD returns a descriptor number that is not open and that the
// process will not reuse during the test (numbers are allocated lowest first).
func highClosedFD(t *testing.T) int {
	t.Helper()
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must(t, err)
	fd, err := unix.FcntlInt(uintptr(s), unix.F_DUPFD_CLOEXEC, 900)
	unix.Close(s)
	must(t, err)
	must(t, unix.Close(fd))
	return fd
}

func fdIsOpen(fd int) bool {
	_, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	return err == nil
}

// An open-socket callback that returns something that is not a socket of its
// own — a closed descriptor, a pipe, a number far past any open one, a
// negative number other than SOCKET_BAD — fails the attempt with
// ErrInvalidFD and E_COULDNT_CONNECT, whether or not a close-socket callback
// is set, and nobody closes what the callback returned: it was not a socket
// handed over (a pipe end belongs to its *os.File, a closed number may be
// someone else's by the time libcurl would close it).
func TestHostileOpenSocketFD(t *testing.T) {
	type fdCase struct {
		name string
		fd   func(t *testing.T) (fd int, after func(t *testing.T))
	}
	fixed := func(fd int) func(*testing.T) (int, func(*testing.T)) {
		return func(*testing.T) (int, func(*testing.T)) { return fd, nil }
	}
	cases := []fdCase{
		{"closed", func(t *testing.T) (int, func(*testing.T)) { return highClosedFD(t), nil }},
		{"pipe", func(t *testing.T) (int, func(*testing.T)) {
			r, w, err := os.Pipe()
			must(t, err)
			t.Cleanup(func() { r.Close(); w.Close() })
			// A duplicate, so that whoever closes it never closes r's own fd.
			d, err := unix.FcntlInt(r.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			must(t, err)
			return d, func(t *testing.T) {
				if !fdIsOpen(d) {
					t.Errorf("the pipe end %d handed to curlsock was closed behind its owner's back", d)
					return
				}
				unix.Close(d)
			}
		}},
		{"huge", fixed(1 << 20)},
		{"maxint32", fixed(math.MaxInt32)},
		{"maxint32+1", fixed(math.MaxInt32 + 1)},
		{"maxint64", fixed(math.MaxInt64)},
		{"-2", fixed(-2)},
		{"minint32", fixed(math.MinInt32)},
		{"minint64", fixed(math.MinInt64)},
	}
	for _, withClose := range []bool{false, true} {
		for _, tc := range cases {
			hostileVia(t, fmt.Sprintf("%s/closecb=%v", tc.name, withClose), func(t *testing.T, mk func(*testing.T) runner) {
				noLeaks(t)
				run := mk(t)
				srv := hostileServer(t)
				e, _ := hostileEasy(t)
				fd, after := tc.fd(t)
				must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { return fd, nil }))
				closes := 0
				if withClose {
					must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
						closes++
						return unix.Close(fd)
					}))
				}
				must(t, e.Setopt(OPT_URL, srv.url("/")))
				var err error
				returnsWithin(t, 2*hostileTimeoutMS*time.Millisecond, "the transfer", func() { err = run(context.Background(), e) })
				if !errors.Is(err, ErrInvalidFD) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
					t.Errorf("transfer = %v, want ErrInvalidFD and E_COULDNT_CONNECT", err)
				}
				if closes != 0 {
					t.Errorf("the close-socket callback ran %d times for a descriptor that was never a socket handed over", closes)
				}
				if srv.Conns() != 0 {
					t.Errorf("the server was reached")
				}
				if after != nil {
					after(t)
				}
			})
		}
	}
}

// A socket of the wrong family or type for the address (an AF_INET6 socket
// for an IPv4 address, AF_UNIX or AF_INET for the other families, a datagram
// socket for TCP) is the callback's own mistake: libcurl's connect fails
// (or, for UDP, the first send or receive), the transfer returns promptly with
// libcurl's error, and the socket is closed once, through the close-socket
// callback.
func TestHostileWrongFamily(t *testing.T) {
	for _, tc := range []struct {
		name     string
		network  string // server
		domain   int    // the socket the callback returns
		socktype int
		want     []CurlError // any of these
	}{
		{"inet6-for-inet", "tcp4", unix.AF_INET6, unix.SOCK_STREAM, []CurlError{E_COULDNT_CONNECT}},
		{"unix-for-inet", "tcp4", unix.AF_UNIX, unix.SOCK_STREAM, []CurlError{E_COULDNT_CONNECT}},
		{"inet-for-inet6", "tcp6", unix.AF_INET, unix.SOCK_STREAM, []CurlError{E_COULDNT_CONNECT}},
		{"inet-for-unix", "unix", unix.AF_INET, unix.SOCK_STREAM, []CurlError{E_COULDNT_CONNECT}},
		// connect() of a UDP socket succeeds; the request then meets an ICMP
		// port unreachable.
		{"udp-for-tcp", "tcp4", unix.AF_INET, unix.SOCK_DGRAM, []CurlError{E_SEND_ERROR, E_RECV_ERROR, E_GOT_NOTHING, E_COULDNT_CONNECT, E_OPERATION_TIMEDOUT}},
	} {
		hostileVia(t, tc.name, func(t *testing.T, mk func(*testing.T) runner) {
			noLeaks(t)
			run := mk(t)
			srv := newServer(t, tc.network)
			e, _ := hostileEasy(t)
			must(t, e.Setopt(OPT_TIMEOUT_MS, 2000))
			var rec recorder
			rec.install(t, e)
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, p SockType, a *Sockaddr) (int, error) {
				fd, err := unix.Socket(tc.domain, tc.socktype|unix.SOCK_CLOEXEC, 0)
				if err == nil {
					rec.add(event{Kind: "open", FD: fd, Purpose: p, Addr: a.String()})
				}
				return fd, err
			}))
			if tc.network == "unix" {
				must(t, e.Setopt(OPT_UNIX_SOCKET_PATH, srv.Addr))
				must(t, e.Setopt(OPT_URL, "http://localhost/"))
			} else {
				must(t, e.Setopt(OPT_URL, srv.url("/")))
			}
			var err error
			start := time.Now()
			returnsWithin(t, 10*time.Second, "the transfer", func() { err = run(context.Background(), e) })
			matched := false
			for _, c := range tc.want {
				matched = matched || errors.Is(err, c)
			}
			if !matched {
				t.Errorf("transfer = %v after %v, want one of %v", err, time.Since(start).Round(time.Millisecond), tc.want)
			}
			t.Logf("libcurl %s: transfer = %v after %v", versionString(), err, time.Since(start).Round(time.Millisecond))
			e.Cleanup()
			if o, c := rec.count("open"), rec.count("close"); o != 1 || c != 1 {
				t.Errorf("%d opens, %d closes through the callback; want 1 and 1", o, c)
			}
			if srv.Hits() != 0 {
				t.Errorf("the server answered a request")
			}
		})
	}
}

// Rewrites to destinations that cannot be written back into libcurl's
// curl_sockaddr fail the attempt before any connect, with ErrInvalidAddress,
// and the socket the callback opened is closed (noLeaks); the boundary
// cases just inside the limits are accepted and merely find nothing there.
func TestHostileRewrite(t *testing.T) {
	dir := shortTempDir(t)
	pad := func(n int) string {
		// A path of exactly n bytes inside dir.
		p := dir + "/"
		return p + strings.Repeat("x", n-len(p))
	}
	for _, tc := range []struct {
		name    string
		rewrite func(a *Sockaddr)
		invalid bool
	}{
		{"path-108", func(a *Sockaddr) { a.Addr, a.Path = netip.AddrPort{}, pad(108) }, true},
		{"path-4096", func(a *Sockaddr) { a.Addr, a.Path = netip.AddrPort{}, pad(4096) }, true},
		{"path-107", func(a *Sockaddr) { a.Addr, a.Path = netip.AddrPort{}, pad(107) }, false},
		{"abstract-108", func(a *Sockaddr) { a.Addr, a.Path = netip.AddrPort{}, "@"+strings.Repeat("a", 108) }, true},
		{"abstract-107", func(a *Sockaddr) {
			a.Addr, a.Path = netip.AddrPort{}, "@curlsock-hostile-"+strings.Repeat("a", 107-len("curlsock-hostile-"))
		}, false},
		{"path-nul", func(a *Sockaddr) { a.Addr, a.Path = netip.AddrPort{}, dir+"/a\x00b" }, true},
		{"addr-and-path", func(a *Sockaddr) { a.Path = dir + "/s" }, true},
		{"no-address", func(a *Sockaddr) { a.Addr = netip.AddrPort{} }, true},
		{"port-zero", func(a *Sockaddr) { a.Addr = netip.AddrPortFrom(a.Addr.Addr(), 0) }, true},
		{"unknown-zone", func(a *Sockaddr) {
			a.Addr = netip.AddrPortFrom(netip.MustParseAddr("::1").WithZone("curlsock-no-such-if"), a.Addr.Port())
		}, true},
		{"read-only-fields", func(a *Sockaddr) { a.Family, a.Socktype, a.Protocol = 12345, -1, 99 }, false},
	} {
		hostileVia(t, tc.name, func(t *testing.T, mk func(*testing.T) runner) {
			noLeaks(t)
			run := mk(t)
			srv := hostileServer(t)
			e, _ := hostileEasy(t)
			var rec recorder
			rec.install(t, e)
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				tc.rewrite(a)
				return fd, err
			}))
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			var err error
			returnsWithin(t, 2*hostileTimeoutMS*time.Millisecond, "the transfer", func() { err = run(context.Background(), e) })
			switch {
			case tc.invalid && (!errors.Is(err, sock.ErrInvalidAddress) || !errors.Is(err, CurlError(E_COULDNT_CONNECT))):
				t.Errorf("transfer = %v, want sock.ErrInvalidAddress and E_COULDNT_CONNECT", err)
			case !tc.invalid && errors.Is(err, sock.ErrInvalidAddress):
				t.Errorf("transfer = %v: a destination inside the limits was refused", err)
			case tc.name == "read-only-fields" && err != nil:
				t.Errorf("transfer = %v: changing the read-only fields must be ignored", err)
			}
			if tc.invalid && srv.Conns() != 0 {
				t.Errorf("the server was reached")
			}
		})
	}
}

// A sockopt result other than SOCKOPT_OK, SOCKOPT_ERROR and
// SOCKOPT_ALREADY_CONNECTED fails the attempt with ErrInvalidSockopt (libcurl
// reports E_ABORTED_BY_CALLBACK); the socket is closed once, through the
// close-socket callback.
func TestHostileSockoptCode(t *testing.T) {
	for _, code := range []int{3, 42, -1, math.MaxInt32, math.MinInt32, 1 << 40, math.MinInt64} {
		hostileVia(t, strconv.Itoa(code), func(t *testing.T, mk func(*testing.T) runner) {
			noLeaks(t)
			run := mk(t)
			srv := hostileServer(t)
			e, _ := hostileEasy(t)
			var rec recorder
			rec.install(t, e)
			must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) { return code, nil }))
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			var err error
			returnsWithin(t, 2*hostileTimeoutMS*time.Millisecond, "the transfer", func() { err = run(context.Background(), e) })
			if !errors.Is(err, ErrInvalidSockopt) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
				t.Errorf("transfer = %v, want ErrInvalidSockopt and E_ABORTED_BY_CALLBACK", err)
			}
			e.Cleanup()
			if o, c := rec.count("open"), rec.count("close"); o != 1 || c != 1 {
				t.Errorf("%d opens, %d closes; want 1 and 1", o, c)
			}
			if srv.Conns() != 0 {
				t.Errorf("the server was reached")
			}
		})
	}
}

// ---------------------------------------------------------------------------
// panic(nil)

// panic(nil) in any callback is raised again from Perform (Do,
// PerformContext) with the value recover gives for it since Go 1.21, a
// *runtime.PanicNilError; the rest of that transfer's callbacks do not run Go
// code, nothing leaks, and the handle
// works afterwards. (Under GODEBUG=panicnil=1 see TestHostilePanicNilGODEBUG.)
func TestHostilePanicNil(t *testing.T) {
	for _, kind := range hostileKinds {
		hostileVia(t, kind, func(t *testing.T, mk func(*testing.T) runner) {
			noLeaks(t)
			run := mk(t)
			srv := hostileServer(t)
			e, _ := hostileEasy(t)
			installHostile(t, e, kind, func() { panic(nil) })
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			var v any
			var panicked bool
			returnsWithin(t, 2*hostileTimeoutMS*time.Millisecond, "the transfer", func() {
				v, panicked = capturedPanic(func() { run(context.Background(), e) })
			})
			if !panicked {
				t.Fatalf("the transfer did not raise the callback's panic(nil)")
			}
			var pne *runtime.PanicNilError
			if err, ok := v.(error); !ok || !errors.As(err, &pne) {
				t.Fatalf("the transfer raised %#v (%T), want a *runtime.PanicNilError", v, v)
			}
			// The handle works again, with the same callbacks.
			must(t, run(context.Background(), e))
		})
	}
}

// ---------------------------------------------------------------------------
// Blocking past the transfer's timeout

// libcurl cannot interrupt a callback, but once a callback that blocked past
// OPT_TIMEOUT_MS returns, Perform (Do, PerformContext) gives up with
// E_OPERATION_TIMEDOUT instead of going on: it returns shortly after the
// callback does. (Under Do the blocking callback holds up its whole shard,
// as documented; each case has an engine of its own.)
func TestHostileBlockPastTimeout(t *testing.T) {
	const timeout, block = 200 * time.Millisecond, 700 * time.Millisecond
	for _, kind := range hostileKinds {
		hostileVia(t, kind, func(t *testing.T, mk func(*testing.T) runner) {
			noLeaks(t)
			run := mk(t)
			srv := hostileServer(t)
			e, _ := hostileEasy(t)
			installHostile(t, e, kind, func() { time.Sleep(block) })
			must(t, e.Setopt(OPT_TIMEOUT_MS, int(timeout/time.Millisecond)))
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			var err error
			start := time.Now()
			returnsWithin(t, block+5*time.Second, "the transfer", func() { err = run(context.Background(), e) })
			took := time.Since(start)
			if took < block {
				t.Fatalf("the transfer returned after %v, before the callback's %v block ended", took, block)
			}
			if took > block+2*time.Second {
				t.Errorf("the transfer returned %v after the callback did, want promptly", took-block)
			}
			switch kind {
			case "open", "sockopt", "read", "progress":
				// The transfer is not done when the callback returns.
				if !errors.Is(err, CurlError(E_OPERATION_TIMEDOUT)) {
					t.Errorf("transfer = %v after %v, want E_OPERATION_TIMEDOUT", err, took.Round(time.Millisecond))
				}
			default:
				// The callback blocked on the last step of the transfer (the
				// one-chunk body, its headers, the request about to go out on
				// a connection that is ready, the close after it): libcurl may
				// finish the transfer instead of timing it out. For prereq it
				// is a race with the server's answer: the transfer completes
				// only if libcurl reads the answer in the pass that sent the
				// request, and times out otherwise. On 7.88 under Do and
				// PerformContext it always times out: multi_socket_action
				// hands the event's bits (the connect's CURL_CSELECT_OUT) to
				// Curl_readwrite, which then does not try to read in that
				// pass (8.x ignores the bits and reads).
				if err != nil && !errors.Is(err, CurlError(E_OPERATION_TIMEDOUT)) {
					t.Errorf("transfer = %v, want nil or E_OPERATION_TIMEDOUT", err)
				}
			}
			t.Logf("libcurl %s: transfer = %v after %v", versionString(), err, took.Round(time.Millisecond))
		})
	}
}

// The same in a multi: the open-socket callback holds up the multi's Perform
// call, and its transfer then ends with E_OPERATION_TIMEDOUT while the other
// one finishes.
func TestHostileBlockPastTimeoutMulti(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	m := newMulti(t)
	slow, _ := hostileEasy(t)
	installHostile(t, slow, "open", func() { time.Sleep(700 * time.Millisecond) })
	must(t, slow.Setopt(OPT_TIMEOUT_MS, 200))
	must(t, slow.Setopt(OPT_URL, srv.url("/slow")))
	fast, _ := hostileEasy(t)
	must(t, fast.Setopt(OPT_URL, srv.url("/fast")))
	must(t, m.AddHandle(slow))
	must(t, m.AddHandle(fast))
	var msgs []*CURLMessage
	returnsWithin(t, 10*time.Second, "the multi", func() { msgs = runAll(t, m) })
	for _, msg := range msgs {
		err := msg.Result()
		switch msg.Easy_handle {
		case slow:
			if !errors.Is(err, CurlError(E_OPERATION_TIMEDOUT)) {
				t.Errorf("slow transfer: %v, want E_OPERATION_TIMEDOUT", err)
			}
		case fast:
			if err != nil {
				t.Errorf("fast transfer: %v", err)
			}
		}
		must(t, m.RemoveHandle(msg.Easy_handle))
	}
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
}

// ---------------------------------------------------------------------------
// Calling libcurl again from inside a callback

// Perform on the handle whose callback is running: libcurl refuses it
// (E_FAILED_INIT, "easy handle already used in multi handle", on 7.88 and
// 8.x; E_RECURSIVE_API_CALL where libcurl checks that first), the callback
// goes on, and the outer transfer completes normally.
func TestHostileReentrantPerform(t *testing.T) {
	for _, kind := range hostileKinds {
		t.Run(kind, func(t *testing.T) {
			noLeaks(t)
			srv := hostileServer(t)
			e, _ := hostileEasy(t)
			var inner error
			called := false
			body := installHostile(t, e, kind, func() { called, inner = true, e.Perform() })
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			var err error
			returnsWithin(t, 2*hostileTimeoutMS*time.Millisecond, "Perform", func() { err = e.Perform() })
			if !called {
				t.Fatalf("the %s callback never ran", kind)
			}
			if !errors.Is(inner, CurlError(E_FAILED_INIT)) && !errors.Is(inner, CurlError(E_RECURSIVE_API_CALL)) {
				t.Errorf("re-entrant Perform = %v, want E_FAILED_INIT or E_RECURSIVE_API_CALL", inner)
			}
			if err != nil || body.String() != "ok" {
				t.Errorf("outer Perform = %v, body %q; want nil and \"ok\"", err, body.String())
			}
			t.Logf("libcurl %s: re-entrant Perform = %v", versionString(), inner)
		})
	}
}

// A re-entrant Perform that libcurl refuses must leave the outer transfer's
// state alone: the callback errors collected so far are still reported when
// the outer transfer fails.
func TestHostileReentrantPerformKeepsErrors(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	e, _ := hostileEasy(t)
	errFirst, errSecond := errors.New("first address refused"), errors.New("second address refused")
	n := 0
	var inner error
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		n++
		if n == 1 {
			return SOCKET_BAD, errFirst
		}
		inner = e.Perform()
		return SOCKET_BAD, errSecond
	}))
	_, port, _ := net.SplitHostPort(srv.Addr)
	must(t, e.Setopt(OPT_RESOLVE, []string{"two.test:" + port + ":127.0.0.1,127.0.0.1"}))
	must(t, e.Setopt(OPT_URL, "http://two.test:"+port+"/"))
	err := e.Perform()
	if inner == nil {
		t.Fatalf("re-entrant Perform succeeded")
	}
	if !errors.Is(err, errFirst) || !errors.Is(err, errSecond) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
		t.Fatalf("Perform = %v, want both refusals and E_COULDNT_CONNECT: the re-entrant Perform (%v) wiped the outer transfer's errors", err, inner)
	}
}

// Another handle may run a whole transfer from inside a callback: frames
// nest, and a panic in the inner transfer's callback is raised from the
// inner Perform, not from the outer one.
func TestHostileNestedOtherHandle(t *testing.T) {
	hostileVia(t, "write", func(t *testing.T, mk func(*testing.T) runner) {
		noLeaks(t)
		run := mk(t)
		srv := hostileServer(t)
		outer, _ := hostileEasy(t)
		inner, innerBody := hostileEasy(t)
		must(t, inner.Setopt(OPT_URL, srv.url("/inner")))
		// A new connection for each transfer, so that the second one opens a socket.
		must(t, inner.Setopt(OPT_FORBID_REUSE, 1))
		var innerErr error
		var innerPanic any
		installHostile(t, outer, "write", func() {
			innerErr = inner.Perform()
			must(t, inner.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { panic("inner") }))
			innerPanic, _ = capturedPanic(func() { inner.Perform() })
		})
		must(t, outer.Setopt(OPT_URL, srv.url("/outer")))
		var err error
		returnsWithin(t, 2*hostileTimeoutMS*time.Millisecond, "the outer transfer", func() { err = run(context.Background(), outer) })
		if err != nil {
			t.Fatalf("outer transfer = %v", err)
		}
		if innerErr != nil || innerBody.String() != "ok" {
			t.Fatalf("inner Perform = %v, body %q", innerErr, innerBody.String())
		}
		if innerPanic != "inner" {
			t.Fatalf("inner Perform raised %#v, want \"inner\"", innerPanic)
		}
	})
}

// In a multi, a callback's Perform on its own handle, the multi's own Perform
// and RemoveHandle of the running transfer are all refused (E_FAILED_INIT,
// CURLM_RECURSIVE_API_CALL), and the transfer completes — still in the multi,
// as far as curlsock is concerned too: its message names the handle, which
// RemoveHandle then takes out.
func TestHostileReentrantMulti(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	m := newMulti(t)
	e, _ := hostileEasy(t)
	var easyErr, multiErr, removeErr error
	body := installHostile(t, e, "write", func() {
		easyErr = e.Perform()
		_, multiErr = m.Perform()
		removeErr = m.RemoveHandle(e)
	})
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, m.AddHandle(e))
	var msgs []*CURLMessage
	returnsWithin(t, 10*time.Second, "the multi", func() { msgs = runAll(t, m) })
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	if err := msgs[0].Result(); err != nil || body.String() != "ok" {
		t.Fatalf("transfer: %v, body %q", err, body.String())
	}
	if msgs[0].Easy_handle != e {
		t.Errorf("the message names %p, want the handle %p: the refused RemoveHandle made curlsock forget it", msgs[0].Easy_handle, e)
	}
	must(t, m.RemoveHandle(e))
	if !errors.Is(easyErr, CurlError(E_FAILED_INIT)) && !errors.Is(easyErr, CurlError(E_RECURSIVE_API_CALL)) {
		t.Errorf("easy Perform in a multi callback = %v", easyErr)
	}
	const recursive = CurlMultiError(8) // CURLM_RECURSIVE_API_CALL
	if !errors.Is(multiErr, recursive) {
		t.Errorf("multi Perform in a callback = %v, want CURLM_RECURSIVE_API_CALL", multiErr)
	}
	if !errors.Is(removeErr, recursive) {
		t.Errorf("RemoveHandle in a callback = %v, want CURLM_RECURSIVE_API_CALL", removeErr)
	}
}

// ---------------------------------------------------------------------------
// Cases run in a child process: they may crash or wedge it.

const hostileChildEnv = "CURLSOCK_HOSTILE_CHILD"

// hostileReport prints one key=value line for the parent.
func hostileReport(key string, v any) {
	fmt.Printf("HOSTILE-CHILD %s=%v\n", key, v)
}

// runHostileChild runs TestHostileChild with scenario in a fresh copy of the
// test binary and returns its output, its reports and its exit code (-1 when
// it was killed for hanging).
func runHostileChild(t *testing.T, scenario string, env ...string) (out string, reports map[string]string, code int) {
	t.Helper()
	if os.Getenv(hostileChildEnv) != "" {
		t.Skip("already in a child")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHostileChild$", "-test.count=1", "-test.v", "-test.timeout=80s")
	cmd.Env = append(os.Environ(), hostileChildEnv+"="+scenario)
	cmd.Env = append(cmd.Env, env...)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	out = string(b)
	code = 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		code = -1
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("running the child: %v", err)
	}
	reports = map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if kv, ok := strings.CutPrefix(line, "HOSTILE-CHILD "); ok {
			k, v, _ := strings.Cut(kv, "=")
			reports[k] = v
		}
	}
	return out, reports, code
}

// hostileChildFailure describes how a child died, for the parent's message.
func hostileChildFailure(out string, code int) string {
	if code == -1 {
		return "hung (killed after 90s)\n" + hostileTail(out, 40)
	}
	for _, sig := range []string{"SIGSEGV", "SIGABRT", "SIGBUS", "fatal error:", "ERROR: AddressSanitizer", "panic:"} {
		if i := strings.Index(out, sig); i >= 0 {
			return fmt.Sprintf("crashed (exit %d): %s", code, hostileFirstLines(out[i:], 12))
		}
	}
	return fmt.Sprintf("exit %d\n%s", code, hostileTail(out, 40))
}

func hostileTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func hostileFirstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// TestHostileChild is the child side of the subprocess tests; it does nothing
// unless CURLSOCK_HOSTILE_CHILD names a scenario, "ACTION/KIND".
func TestHostileChild(t *testing.T) {
	scenario := os.Getenv(hostileChildEnv)
	if scenario == "" {
		t.Skip("runs only in the child process of a hostile test")
	}
	action, kind, _ := strings.Cut(scenario, "/")
	hostileReport("libcurl", versionString())
	switch action {
	case "goexit":
		hostileChildGoexit(t, kind)
	case "cleanup":
		hostileChildCleanup(t, kind)
	case "multicleanup":
		hostileChildMultiCleanup(t)
	case "panicnil":
		hostileChildPanicNil(t, kind)
	case "enginegoexit":
		hostileChildEngineGoexit(t, kind)
	default:
		t.Fatalf("unknown scenario %q", scenario)
	}
	hostileReport("done", true)
}

// hostileChildGoexit: runtime.Goexit (what t.FailNow, t.Fatal and t.SkipNow
// call) in a callback. It cannot be recovered: it ends the goroutine that
// called Perform, inside libcurl. The child reports what survives, then
// exits at once, leaving out the suite's leak checks: what libcurl held for
// the abandoned call is leaked by design.
func hostileChildGoexit(t *testing.T, kind string) {
	srv := hostileServer(t)
	before := openFDs()
	e := EasyInit()
	must(t, e.Setopt(OPT_NOSIGNAL, 1))
	must(t, e.Setopt(OPT_TIMEOUT_MS, hostileTimeoutMS))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	multi := strings.HasPrefix(kind, "multi-")
	installHostile(t, e, strings.TrimPrefix(kind, "multi-"), runtime.Goexit)
	// Goexit abandons libcurl's C frames without returning from them. Under
	// AddressSanitizer their stack redzones then stay poisoned, and the next
	// C call that reuses that thread's stack is reported as an overflow: keep
	// the thread locked, so that it ends with the goroutine.
	lock := func() {}
	if asanBuild() {
		lock = runtime.LockOSThread
	}
	var m *CURLM
	var returned bool
	if multi {
		m = MultiInit()
		must(t, m.AddHandle(e))
		returned = returnsWithin(t, 20*time.Second, "the multi", func() {
			lock()
			for range 1000 {
				if n, err := m.Perform(); err != nil || n == 0 {
					return
				}
				m.Wait(10)
			}
		})
	} else {
		returned = returnsWithin(t, 20*time.Second, "Perform", func() {
			lock()
			e.Perform()
		})
	}
	hostileReport("returned", returned)
	var again error
	returnsWithin(t, 20*time.Second, "a second Perform", func() {
		if multi {
			_, again = m.Perform()
		} else {
			again = e.Perform()
		}
	})
	hostileReport("again", again)
	returnsWithin(t, 20*time.Second, "Cleanup", func() {
		if multi {
			hostileReport("remove", m.RemoveHandle(e))
		}
		e.Cleanup()
		if multi {
			hostileReport("multi-cleanup", m.Cleanup())
		}
	})
	hostileReport("cleanup", "returned")
	f := EasyInit()
	must(t, f.Setopt(OPT_NOSIGNAL, 1))
	must(t, f.Setopt(OPT_TIMEOUT_MS, hostileTimeoutMS))
	must(t, f.Setopt(OPT_URL, srv.url("/")))
	must(t, f.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	var fresh error
	returnsWithin(t, 20*time.Second, "a fresh handle's Perform", func() { fresh = f.Perform() })
	f.Cleanup()
	hostileReport("fresh", fresh)
	hostileReport("registrations", fmt.Sprintf("%+v", Registrations()))
	leaked := 0
	time.Sleep(50 * time.Millisecond)
	for fd, target := range openFDs() {
		if _, ok := before[fd]; !ok && target != "" && !strings.HasPrefix(target, "/proc/") {
			leaked++
		}
	}
	hostileReport("leaked-fds", leaked)
	if t.Failed() {
		syscall.Exit(1)
	}
	// Not os.Exit: the testing package refuses os.Exit(0) inside a test, and
	// this skips LeakSanitizer's exit check as well as TestMain's.
	syscall.Exit(0)
}

// asanBuild reports whether the binary runs under AddressSanitizer (go test
// -asan links libasan).
func asanBuild() bool {
	maps, _ := os.ReadFile("/proc/self/maps")
	return bytes.Contains(maps, []byte("libasan"))
}

// hostileChildCleanup: Cleanup of the handle from inside its own callback.
// The handle must be closed for the caller at once, libcurl must finish with
// it first, and nothing may leak.
func hostileChildCleanup(t *testing.T, kind string) {
	noLeaks(t)
	srv := hostileServer(t)
	e, _ := hostileEasy(t)
	multi := strings.HasPrefix(kind, "multi-")
	installHostile(t, e, strings.TrimPrefix(kind, "multi-"), e.Cleanup)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	if multi {
		m := newMulti(t)
		must(t, m.AddHandle(e))
		returnsWithin(t, 20*time.Second, "the multi", func() {
			for range 1000 {
				n, err := m.Perform()
				if err != nil || n == 0 {
					hostileReport("multi-perform", err)
					return
				}
				m.Wait(10)
			}
		})
		must(t, m.Cleanup())
	} else {
		var err error
		returnsWithin(t, 20*time.Second, "Perform", func() { err = e.Perform() })
		hostileReport("perform", err)
	}
	if err := e.Setopt(OPT_VERBOSE, 0); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("Setopt after Cleanup = %v, want ErrHandleClosed", err)
	}
	if err := e.Perform(); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("Perform after Cleanup = %v, want ErrHandleClosed", err)
	}
}

// hostileChildMultiCleanup: the multi's Cleanup from inside the callback of
// one of its transfers. libcurl refuses it (CURLM_RECURSIVE_API_CALL); the
// multi must stay usable, so that a later Cleanup releases it.
func hostileChildMultiCleanup(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	m := MultiInit()
	e, _ := hostileEasy(t)
	var inCallback error
	installHostile(t, e, "write", func() { inCallback = m.Cleanup() })
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, m.AddHandle(e))
	returnsWithin(t, 20*time.Second, "the multi", func() {
		for range 1000 {
			if n, err := m.Perform(); err != nil || n == 0 {
				return
			}
			m.Wait(10)
		}
	})
	hostileReport("cleanup-in-callback", inCallback)
	if err := m.RemoveHandle(e); err != nil {
		t.Errorf("RemoveHandle after the refused Cleanup = %v", err)
	}
	if err := m.Cleanup(); err != nil {
		t.Errorf("Cleanup after the transfer = %v", err)
	}
}

// hostileChildPanicNil runs under GODEBUG=panicnil=1, where recover returns
// nil for panic(nil). The panic must still be raised from Perform (as
// panic(nil)), must not turn into the callback's zero results — an open-socket
// callback "returning" fd 0, which libcurl would connect and close — and
// nothing may leak.
func hostileChildPanicNil(t *testing.T, kind string) {
	noLeaks(t)
	srv := hostileServer(t)
	e, _ := hostileEasy(t)
	installHostile(t, e, kind, func() { panic(nil) })
	if kind == "open" {
		// Without a close-socket callback, libcurl closes what it is given.
		must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, nil))
	}
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	stdin := fdIsOpen(0)
	var v any
	var panicked bool
	returnsWithin(t, 20*time.Second, "Perform", func() { v, panicked = capturedPanic(func() { e.Perform() }) })
	hostileReport("raised", panicked)
	hostileReport("value", fmt.Sprintf("%#v", v))
	if !panicked {
		t.Errorf("Perform did not raise the callback's panic(nil) (GODEBUG=panicnil=1)")
	}
	if stdin && !fdIsOpen(0) {
		t.Errorf("fd 0 (stdin) was closed: the panicking open-socket callback's zero result reached libcurl")
	}
}

// Cleanup from inside one of the handle's own callbacks, with libcurl still
// running the transfer, must neither crash nor leak: curlsock has to keep
// the libcurl handle until libcurl returns.
func TestHostileCleanupInCallback(t *testing.T) {
	kinds := append(append([]string(nil), hostileKinds...), "multi-open", "multi-write", "multi-close")
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			out, rep, code := runHostileChild(t, "cleanup/"+kind)
			if code != 0 || rep["done"] != "true" {
				t.Fatalf("Cleanup inside the %s callback: %s", kind, hostileChildFailure(out, code))
			}
			t.Logf("libcurl %s: Perform = %s", rep["libcurl"], rep["perform"])
		})
	}
}

// The multi's Cleanup from inside a callback is refused by libcurl and must
// not lose the multi.
func TestHostileMultiCleanupInCallback(t *testing.T) {
	out, rep, code := runHostileChild(t, "multicleanup/write")
	if code != 0 || rep["done"] != "true" {
		t.Fatalf("multi Cleanup inside a callback: %s", hostileChildFailure(out, code))
	}
	t.Logf("libcurl %s: Cleanup in the callback = %s", rep["libcurl"], rep["cleanup-in-callback"])
}

// runtime.Goexit in a callback — what t.Fatal, t.FailNow and t.SkipNow do —
// ends the goroutine inside libcurl: Perform never returns, and libcurl's
// state for that call is abandoned. What must hold: no crash and no
// deadlock; the handle refuses further transfers with an error; Cleanup
// returns; other handles keep working. What libcurl held for the abandoned
// call (its internal multi's wakeup descriptors, the connection) leaks.
func TestHostileGoexit(t *testing.T) {
	kinds := append(append([]string(nil), hostileKinds...), "multi-write", "multi-open")
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			out, rep, code := runHostileChild(t, "goexit/"+kind, "ASAN_OPTIONS=detect_leaks=0")
			if code != 0 || rep["done"] != "" && rep["done"] != "true" {
				t.Fatalf("Goexit in the %s callback: %s", kind, hostileChildFailure(out, code))
			}
			for _, want := range []struct{ key, val string }{{"returned", "false"}, {"cleanup", "returned"}, {"fresh", "<nil>"}} {
				if rep[want.key] != want.val {
					t.Errorf("%s = %q, want %q\n%s", want.key, rep[want.key], want.val, hostileTail(out, 30))
				}
			}
			if rep["again"] == "<nil>" || rep["again"] == "" {
				t.Errorf("a second transfer on the abandoned handle = %q, want an error", rep["again"])
			}
			t.Logf("libcurl %s: again=%s, leaked fds %s, registrations %s", rep["libcurl"], rep["again"], rep["leaked-fds"], rep["registrations"])
		})
	}
}

// panic(nil) under GODEBUG=panicnil=1 (a program's go.mod or //go:debug may
// set it): recover returns nil there, and a recovery that tests for a non-nil
// value swallows the panic and returns the callback's zero results.
func TestHostilePanicNilGODEBUG(t *testing.T) {
	for _, kind := range []string{"open", "sockopt", "close", "write", "read"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			out, rep, code := runHostileChild(t, "panicnil/"+kind, "GODEBUG=panicnil=1")
			if code != 0 || rep["done"] != "true" {
				t.Fatalf("panic(nil) with GODEBUG=panicnil=1 in the %s callback: %s", kind, hostileChildFailure(out, code))
			}
		})
	}
}

// TestHostileControlPanic: a Control hook that panics, run by a Sockets
// installation or through FromControl, leaves no socket open; the panic is
// raised from the transfer.
func TestHostileControlPanic(t *testing.T) {
	hook := func(string, string, syscall.RawConn) error { panic("control") }
	for name, install := range map[string]func(t *testing.T, e *CURL){
		"Sockets.Control": func(t *testing.T, e *CURL) {
			must(t, (&Sockets{Control: []func(string, string, syscall.RawConn) error{hook}}).Install(e))
		},
		"FromControl": func(t *testing.T, e *CURL) { must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, FromControl(hook))) },
	} {
		hostileVia(t, name, func(t *testing.T, mk func(*testing.T) runner) {
			noLeaks(t)
			run := mk(t)
			srv := newServer(t, "tcp4")
			e, _ := hostileEasy(t)
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			install(t, e)
			v, panicked := capturedPanic(func() { run(context.Background(), e) })
			if !panicked || v != "control" {
				t.Errorf("panicked %v with %v, want the hook's panic", panicked, v)
			}
		})
	}
}
