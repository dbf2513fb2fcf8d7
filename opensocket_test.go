//go:build linux

package curl

import (
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/curlsock/curlsock/sock"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// The event sequence of a GET: open → sockopt → close on the same fd, with
// the purpose, family, socket type, protocol and address libcurl gave.
func TestEventSequence(t *testing.T) {
	for _, tc := range []struct {
		network  string
		family   int
		protocol int
	}{
		{"tcp4", unix.AF_INET, unix.IPPROTO_TCP},
		{"tcp6", unix.AF_INET6, unix.IPPROTO_TCP},
		{"unix", unix.AF_UNIX, 0},
		{"tls", unix.AF_INET, unix.IPPROTO_TCP},
	} {
		t.Run(tc.network, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, tc.network)
			var rec recorder
			e, body := newEasy(t)
			rec.install(t, e)
			url, addr := srv.url("/seq"), srv.Addr
			switch tc.network {
			case "unix":
				must(t, e.Setopt(OPT_UNIX_SOCKET_PATH, srv.Addr))
				url, addr = "http://localhost/seq", "unix:"+srv.Addr
			case "tls":
				must(t, e.Setopt(OPT_CAINFO, writeCA(t, srv)))
			}
			must(t, e.Setopt(OPT_URL, url))
			must(t, e.Perform())
			e.Cleanup()
			if got, want := body.String(), "hello "+tc.network+" /seq"; got != want {
				t.Fatalf("body %q, want %q", got, want)
			}
			ev := rec.Events()
			if len(ev) != 3 {
				t.Fatalf("events %+v, want open, sockopt, close", ev)
			}
			fd := ev[0].FD
			want := []event{
				{Kind: "open", FD: fd, Purpose: SOCKTYPE_IPCXN, Family: tc.family, Socktype: unix.SOCK_STREAM, Protocol: tc.protocol, Addr: addr},
				{Kind: "sockopt", FD: fd, Purpose: SOCKTYPE_IPCXN},
				{Kind: "close", FD: fd},
			}
			if diff := cmp.Diff(want, ev); diff != "" {
				t.Fatalf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// writeCA stores the TLS server's certificate for CURLOPT_CAINFO.
func writeCA(t *testing.T, srv *testServer) string {
	t.Helper()
	path := shortTempDir(t) + "/ca.pem"
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Refusing every address: the server sees no connection, and the error
// matches both the callback's error and libcurl's code.
func TestRefusal(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	errDenied := errors.New("denied by test")
	calls := 0
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		calls++
		return SOCKET_BAD, fmt.Errorf("%s: %w", a, errDenied)
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	err := e.Perform()
	if !errors.Is(err, errDenied) {
		t.Errorf("Perform = %v, want it to match the callback's error", err)
	}
	if !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
		t.Errorf("Perform = %v, want it to match E_COULDNT_CONNECT", err)
	}
	var ce *CallbackError
	if !errors.As(err, &ce) || ce.Callback != "opensocket" || ce.Addr != srv.Addr {
		t.Errorf("Perform = %v, want a CallbackError naming opensocket and %s", err, srv.Addr)
	}
	if srv.Conns() != 0 {
		t.Errorf("server saw %d connections, want 0", srv.Conns())
	}
	if calls != 1 {
		t.Errorf("%d calls, want 1", calls)
	}
}

// SOCKET_BAD without an error: refused, reported as ErrRefused, one call per
// address, E_COULDNT_CONNECT in the end.
func TestRefuseEveryAddress(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	calls := 0
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) {
		calls++
		return SOCKET_BAD, nil
	}))
	port := strconv.Itoa(closedPort(t))
	must(t, e.Setopt(OPT_RESOLVE, []string{"three.test:" + port + ":127.0.0.1,127.0.0.2,127.0.0.3"}))
	must(t, e.Setopt(OPT_URL, "http://three.test:"+port+"/"))
	err := e.Perform()
	var perr *Error
	if !errors.As(err, &perr) || perr.Code != CurlError(E_COULDNT_CONNECT) || len(perr.Callbacks) != 3 {
		t.Fatalf("Perform = %v, want E_COULDNT_CONNECT with three refusals", err)
	}
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("Perform = %v, want ErrRefused", err)
	}
	if calls != 3 {
		t.Fatalf("%d calls, want 3", calls)
	}
}

// The first address refused, the second used: the transfer succeeds and
// Perform returns nil.
func TestFirstRefusedSecondUsed(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	_, port, _ := net.SplitHostPort(srv.Addr)
	e, body := newEasy(t)
	var seen []string
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		seen = append(seen, a.Addr.Addr().String())
		if a.Addr.Addr() == netip.MustParseAddr("127.0.0.2") {
			return SOCKET_BAD, errors.New("not that one")
		}
		return OpenSocket(a)
	}))
	must(t, e.Setopt(OPT_RESOLVE, []string{"two.test:" + port + ":127.0.0.2,127.0.0.1"}))
	must(t, e.Setopt(OPT_URL, "http://two.test:"+port+"/second"))
	must(t, e.Perform())
	if diff := cmp.Diff([]string{"127.0.0.2", "127.0.0.1"}, seen); diff != "" {
		t.Fatalf("addresses (-want +got):\n%s", diff)
	}
	if body.String() != "hello tcp4 /second" {
		t.Fatalf("body %q", body.String())
	}
}

func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		rewrite func(srv *testServer, a *Sockaddr)
	}{
		{"port", "tcp4", func(srv *testServer, a *Sockaddr) {
			a.Addr = netip.AddrPortFrom(a.Addr.Addr(), netip.MustParseAddrPort(srv.Addr).Port())
		}},
		{"v4-to-v6", "tcp6", func(srv *testServer, a *Sockaddr) { a.Addr = netip.MustParseAddrPort(srv.Addr) }},
		{"tcp-to-unix", "unix", func(srv *testServer, a *Sockaddr) { a.Addr, a.Path = netip.AddrPort{}, srv.Addr }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, tc.network)
			e, body := newEasy(t)
			var before, after Sockaddr
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
				before = *a
				tc.rewrite(srv, a)
				after = *a
				return OpenSocket(a)
			}))
			must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/rw", closedPort(t))))
			must(t, e.Perform())
			if srv.Hits() != 1 {
				t.Fatalf("rewritten server got %d requests, want 1", srv.Hits())
			}
			if got, want := body.String(), "hello "+tc.network+" /rw"; got != want {
				t.Fatalf("body %q, want %q", got, want)
			}
			if before.Family != unix.AF_INET {
				t.Fatalf("original family %d", before.Family)
			}
			if got, want := after.Network(), tc.network; got != want {
				t.Fatalf("rewritten Network() = %q, want %q", got, want)
			}
		})
	}
}

func TestInvalidRewrite(t *testing.T) {
	long := make([]byte, 200)
	for i := range long {
		long[i] = 'x'
	}
	for _, tc := range []struct {
		name    string
		rewrite func(a *Sockaddr)
	}{
		{"zero-addr", func(a *Sockaddr) { a.Addr = netip.AddrPort{} }},
		{"long-path", func(a *Sockaddr) { a.Addr, a.Path = netip.AddrPort{}, "/"+string(long) }},
		{"addr-and-path", func(a *Sockaddr) { a.Path = "/tmp/x.sock" }},
		{"port-zero", func(a *Sockaddr) { a.Addr = netip.AddrPortFrom(a.Addr.Addr(), 0) }},
		{"unknown-zone", func(a *Sockaddr) {
			a.Addr = netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone("nosuchif0"), 80)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, "tcp4")
			e, _ := newEasy(t)
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
				tc.rewrite(a)
				return fd, err
			}))
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			err := e.Perform()
			if !errors.Is(err, sock.ErrInvalidAddress) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
				t.Fatalf("Perform = %v, want sock.ErrInvalidAddress and E_COULDNT_CONNECT", err)
			}
			if srv.Conns() != 0 {
				t.Fatal("the server was reached")
			}
		})
	}
}

// Return values that are neither SOCKET_BAD nor a usable fd fail the attempt
// with an error instead of reaching libcurl truncated.
func TestInvalidFD(t *testing.T) {
	for _, fd := range []int{-2, -100, 1 << 33} {
		t.Run(strconv.Itoa(fd), func(t *testing.T) {
			noLeaks(t)
			e, _ := newEasy(t)
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { return fd, nil }))
			must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t))))
			err := e.Perform()
			if !errors.Is(err, ErrInvalidFD) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
				t.Fatalf("Perform = %v, want ErrInvalidFD and E_COULDNT_CONNECT", err)
			}
		})
	}
}

// A result that comes with an error means nothing, as everywhere in Go: the
// attempt is refused and the fd left alone ((0, err) must not close stdin).
func TestOpenSocketErrorIgnoresFD(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	myErr := errors.New("changed my mind")
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { return 0, myErr }))
	must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t))))
	if err := e.Perform(); !errors.Is(err, myErr) {
		t.Fatalf("Perform = %v", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(0, &st); err != nil {
		t.Fatalf("fd 0 after Perform: %v", err)
	}
	// Nor does a failed rewrite close what is not a socket.
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		a.Addr = netip.AddrPort{}
		return 0, nil
	}))
	if err := e.Perform(); !errors.Is(err, ErrInvalidFD) {
		t.Fatalf("Perform = %v, want ErrInvalidFD", err)
	}
	if err := unix.Fstat(0, &st); err != nil {
		t.Fatalf("fd 0 after a failed rewrite: %v", err)
	}
}

func TestOpenSocketData(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	type key struct{ n int }
	var rec recorder
	e, _ := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_OPENSOCKETDATA, "open-data"))
	must(t, e.Setopt(OPT_SOCKOPTDATA, 42))
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, key{7}))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	must(t, e.Perform())
	// Unset data is nil again.
	must(t, e.Setopt(OPT_OPENSOCKETDATA, nil))
	must(t, e.Setopt(OPT_SOCKOPTDATA, nil))
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, nil))
	must(t, e.Perform())
	var got []any
	for _, ev := range rec.Events() {
		got = append(got, ev.Data)
	}
	want := []any{"open-data", 42, key{7}, nil, nil, nil}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(key{})); diff != "" {
		t.Fatalf("clientp values (-want +got):\n%s", diff)
	}
}

func TestOpenSocketNilUnsets(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	calls := 0
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) {
		calls++
		return SOCKET_BAD, nil
	}))
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, nil))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	if calls != 0 {
		t.Fatalf("unset callback ran %d times", calls)
	}
}

// Through a proxy, the callback sees the proxy's address, not the target's.
func TestOpenSocketProxyAddress(t *testing.T) {
	noLeaks(t)
	proxy := newServer(t, "tcp4") // answers the proxied request itself
	var rec recorder
	e, body := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_PROXY, "http://"+proxy.Addr))
	must(t, e.Setopt(OPT_URL, "http://target.invalid:8123/via-proxy"))
	must(t, e.Perform())
	if got := rec.Events()[0].Addr; got != proxy.Addr {
		t.Fatalf("opensocket saw %s, want the proxy %s", got, proxy.Addr)
	}
	if body.String() != "hello tcp4 /via-proxy" {
		t.Fatalf("body %q", body.String())
	}
}
