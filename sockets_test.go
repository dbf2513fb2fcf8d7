//go:build linux

package curl

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loopbackGuard allows the test servers (loopback, any port) and nothing
// else the default guard denies.
func loopbackGuard(extra ...GuardOption) *Guard {
	return NewGuard(append([]GuardOption{WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), WithAnyPort()}, extra...)...)
}

// The guard sees the address libcurl really connects to, however the URL
// spells it: encoded IPv4 forms, mapped IPv6, 0.0.0.0, names pinned with
// RESOLVE. None of them reaches the server.
func TestGuardEndToEnd(t *testing.T) {
	srv := newServer(t, "tcp4")
	_, port, _ := net.SplitHostPort(srv.Addr)
	for _, tc := range []struct {
		name    string
		url     string
		resolve []string
	}{
		{"decimal", "http://2130706433:" + port + "/", nil},
		{"hex", "http://0x7f000001:" + port + "/", nil},
		{"octal", "http://0177.0.0.1:" + port + "/", nil},
		{"short", "http://127.1:" + port + "/", nil},
		{"mapped", "http://[::ffff:127.0.0.1]:" + port + "/", nil},
		{"zero", "http://0.0.0.0:" + port + "/", nil},
		{"resolve", "http://internal.test:" + port + "/", []string{"internal.test:" + port + ":127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			e, _ := newEasy(t)
			must(t, (&Sockets{Guard: NewGuard(WithAnyPort())}).Install(e))
			must(t, e.Setopt(OPT_URL, tc.url))
			if tc.resolve != nil {
				must(t, e.Setopt(OPT_RESOLVE, tc.resolve))
			}
			err := e.Perform()
			if !errors.Is(err, ErrProhibitedIP) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
				t.Fatalf("Perform = %v, want ErrProhibitedIP and E_COULDNT_CONNECT", err)
			}
		})
	}
	if srv.Conns() != 0 {
		t.Fatalf("the server saw %d connections", srv.Conns())
	}
}

// A redirect to a denied address is stopped at its connection attempt; each
// refused address of the transfer is in the error.
func TestGuardRedirect(t *testing.T) {
	noLeaks(t)
	target := newServer(t, "tcp6")
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+target.Addr+"/inside", http.StatusFound)
	}))
	e, _ := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	must(t, e.Setopt(OPT_FOLLOWLOCATION, 1))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	err := e.Perform()
	var perr *Error
	if !errors.As(err, &perr) || !errors.Is(err, ErrProhibitedIP) || len(perr.Callbacks) != 1 || perr.Callbacks[0].Addr != target.Addr {
		t.Fatalf("Perform = %v, want one refusal of %s", err, target.Addr)
	}
	if srv.Hits() != 1 || target.Conns() != 0 {
		t.Fatalf("hits %d, target connections %d", srv.Hits(), target.Conns())
	}
}

// RESOLVE with a denied and an allowed address: the denied one is refused,
// the allowed one used, and the transfer succeeds.
func TestGuardMixedResolve(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	_, port := splitPort(t, srv.Addr)
	e, body := newEasy(t)
	var tr bytes.Buffer
	must(t, (&Sockets{Guard: loopbackGuard(), Trace: NewTrace(&tr)}).Install(e))
	must(t, e.Setopt(OPT_RESOLVE, []string{"mixed.test:" + port + ":10.9.8.7,127.0.0.1"}))
	must(t, e.Setopt(OPT_URL, "http://mixed.test:"+port+"/m"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /m" {
		t.Fatalf("body %q", body.String())
	}
	if !strings.Contains(tr.String(), "10.9.8.7") || !strings.Contains(tr.String(), "refuse") {
		t.Fatalf("trace lacks the refusal:\n%s", tr.String())
	}
}

func splitPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	must(t, err)
	return h, p
}

// A connection made by an unguarded handle sits in a shared cache; a guarded
// handle must not reuse it to reach a denied address.
func TestGuardConnectionReuse(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	sh := newShare(t, LOCK_DATA_CONNECT)
	defer func() { must(t, sh.Cleanup()) }()
	a, _ := newEasy(t)
	must(t, a.Setopt(OPT_SHARE, sh))
	must(t, a.Setopt(OPT_URL, srv.url("/a")))
	must(t, a.Perform())
	a.Cleanup()

	// The handle's own prereq callback composes with the guard's check,
	// which runs first, and the refusal is traced like one in open.
	g, _ := newEasy(t)
	must(t, g.Setopt(OPT_SHARE, sh))
	var log bytes.Buffer
	tr := NewTrace(&log)
	must(t, (&Sockets{Guard: NewGuard(WithAnyPort()), Trace: tr}).Install(g))
	userPrereq := 0
	must(t, g.Setopt(OPT_PREREQFUNCTION, func(any, string, string, int, int) error { userPrereq++; return nil }))
	must(t, g.Setopt(OPT_URL, srv.url("/g")))
	err := g.Perform()
	if !errors.Is(err, ErrProhibitedIP) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
		t.Fatalf("Perform over a reused connection = %v, want ErrProhibitedIP", err)
	}
	if srv.Hits() != 1 || userPrereq != 0 {
		t.Fatalf("server got %d requests (want only the unguarded one), user prereq ran %d times (want 0)", srv.Hits(), userPrereq)
	}
	if st := tr.Stats(); st.Refused != 1 {
		t.Errorf("trace stats %+v, want the prereq refusal counted", st)
	}
	if !strings.Contains(log.String(), "refuse") || !strings.Contains(log.String(), srv.Addr) {
		t.Errorf("trace log %q, want the refusal of %s", log.String(), srv.Addr)
	}
	g.Cleanup()
}

// Unix sockets, by path or abstract, are denied unless allowed. An abstract
// one passes prereq too, where libcurl names its peer "" (sun_path starts
// with NUL).
func TestGuardUnix(t *testing.T) {
	for _, network := range []string{"unix", "unix-abstract"} {
		t.Run(network, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, network)
			for _, allow := range []bool{false, true} {
				e, body := newEasy(t)
				g := loopbackGuard()
				if allow {
					g = loopbackGuard(WithUnixSockets())
				}
				must(t, (&Sockets{Guard: g}).Install(e))
				if network == "unix" {
					must(t, e.Setopt(OPT_UNIX_SOCKET_PATH, srv.Addr))
				} else {
					must(t, e.Setopt(OPT_ABSTRACT_UNIX_SOCKET, strings.TrimPrefix(srv.Addr, "@")))
				}
				must(t, e.Setopt(OPT_URL, "http://localhost/u"))
				err := e.Perform()
				if allow {
					must(t, err)
					if body.String() != "hello "+network+" /u" {
						t.Fatalf("body %q", body.String())
					}
				} else if !errors.Is(err, ErrProhibitedFamily) || srv.Hits() != 0 {
					t.Fatalf("Perform = %v after %d requests, want ErrProhibitedFamily before any", err, srv.Hits())
				}
			}
		})
	}
}

// A rewrite that changes the port: prereq judges the port connected, not
// the URL's, which libcurl 7.88 still reports as the connection's.
func TestGuardRewrittenPort(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	_, port := splitPort(t, srv.Addr)
	p, err := strconv.Atoi(port)
	must(t, err)
	rw, err := ParseRewrite("127.0.0.1:1=127.0.0.1:" + port)
	must(t, err)
	g := NewGuard(WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), WithPorts(uint16(p)))
	e, body := newEasy(t)
	must(t, (&Sockets{Rewrite: rw, Guard: g}).Install(e))
	must(t, e.Setopt(OPT_URL, "http://127.0.0.1:1/moved"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /moved" {
		t.Fatalf("body %q", body.String())
	}
	// The port that was not rewritten is still judged.
	must(t, e.Setopt(OPT_URL, "http://127.0.0.1:2/"))
	if err := e.Perform(); !errors.Is(err, ErrProhibitedPort) {
		t.Fatalf("Perform to port 2 = %v, want ErrProhibitedPort", err)
	}
}

// Port 0 marks libcurl's FTP listen socket only on a local address and when
// FTP may run: any other destination with port 0 meets the guard.
func TestGuardPortZero(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name, url string
		protocols []string
		want      error
	}{
		{"loopback-http-only", "http://127.0.0.1:0/", nil, ErrProhibitedPort},
		// With FTP allowed a loopback port 0 is taken for a listen socket:
		// the connect reaches nothing.
		{"loopback-ftp-allowed", "http://127.0.0.1:0/", []string{"http", "ftp"}, CurlError(E_COULDNT_CONNECT)},
		{"not-local-ftp-allowed", "http://192.0.2.1:0/", []string{"http", "ftp"}, ErrProhibitedIP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEasy(t)
			must(t, (&Sockets{Guard: loopbackGuard(WithPorts(80)), Protocols: tc.protocols}).Install(e))
			// Should the guard let 192.0.2.1 through, the socket is bound
			// to lo and no packet leaves this host.
			must(t, e.Setopt(OPT_INTERFACE, "if!lo"))
			must(t, e.Setopt(OPT_URL, tc.url))
			if err := e.Perform(); !errors.Is(err, tc.want) {
				t.Fatalf("Perform = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestIsLocalAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"127.0.0.1", true}, {"127.0.0.5", true}, {"::1", true}, {"0.0.0.0", true}, {"::", true},
		{"::ffff:127.0.0.1", true},
		{"192.0.2.1", false}, {"10.255.255.254", false}, {"2001:db8::1", false},
	} {
		if got := isLocalAddr(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("isLocalAddr(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	addrs, err := net.InterfaceAddrs()
	must(t, err)
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.(*net.IPNet).IP)
		if ok && !isLocalAddr(ip) {
			t.Errorf("isLocalAddr(%s) = false for an address of this host", ip)
		}
	}
}

// Schemes other than http and https are closed by default (file:// opens no
// socket the guard could check), and proxies from the environment are
// ignored: a proxy would connect to the destination out of the guard's sight.
func TestGuardProtocolsAndEnvProxy(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	must(t, e.Setopt(OPT_URL, "file:///etc/passwd"))
	if err := e.Perform(); err != CurlError(E_UNSUPPORTED_PROTOCOL) {
		t.Fatalf("file:// = %v, want E_UNSUPPORTED_PROTOCOL", err)
	}

	proxy := newServer(t, "tcp4")
	srv := newServer(t, "tcp4")
	t.Setenv("http_proxy", "http://"+proxy.Addr)
	e2, body := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e2))
	must(t, e2.Setopt(OPT_URL, srv.url("/direct")))
	must(t, e2.Perform())
	if proxy.Hits() != 0 || body.String() != "hello tcp4 /direct" {
		t.Fatalf("proxy hits %d, body %q: the environment's proxy was used", proxy.Hits(), body.String())
	}
}

// A proxy set explicitly is what the guard sees: it allows or refuses the
// proxy's address, never the destination's (which the proxy connects to).
func TestGuardExplicitProxy(t *testing.T) {
	noLeaks(t)
	proxy := newServer(t, "tcp4") // answers the proxied request itself
	e, body := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	must(t, e.Setopt(OPT_PROXY, "http://"+proxy.Addr))
	must(t, e.Setopt(OPT_URL, "http://10.0.0.1/through-proxy"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /through-proxy" {
		t.Fatalf("body %q", body.String())
	}
	e2, _ := newEasy(t)
	must(t, (&Sockets{Guard: NewGuard(WithAnyPort())}).Install(e2))
	must(t, e2.Setopt(OPT_PROXY, "http://"+proxy.Addr))
	must(t, e2.Setopt(OPT_URL, "http://example.test/"))
	if err := e2.Perform(); !errors.Is(err, ErrProhibitedIP) {
		t.Fatalf("a denied proxy: %v", err)
	}
}

// The documented order: rewrite first, then the guard judges the rewritten
// address, then Control hooks and options, then the trace.
func TestSocketsOrder(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	dead := closedPort(t)
	rw, err := ParseRewrite(fmt.Sprintf("127.0.0.1:%d=%s", dead, srv.Addr))
	must(t, err)
	var order []string
	var tr bytes.Buffer
	s := &Sockets{
		Rewrite: rw,
		Guard:   loopbackGuard(),
		Control: []func(string, string, syscall.RawConn) error{
			func(network, address string, c syscall.RawConn) error {
				order = append(order, "control "+network+" "+address)
				return nil
			},
		},
		Options: []SocketOption{TCPUserTimeout(1500 * time.Millisecond)},
		Trace:   NewTrace(&tr),
	}
	e, body := newEasy(t)
	must(t, s.Install(e))
	must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/order", dead)))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /order" {
		t.Fatalf("body %q", body.String())
	}
	if len(order) != 1 || order[0] != "control tcp4 "+srv.Addr {
		t.Fatalf("control hooks saw %v, want the rewritten address", order)
	}
	st := s.Trace.Stats()
	if st.Opened != 1 || st.Closed != 1 || st.Open != 0 {
		t.Fatalf("trace stats %+v\n%s", st, tr.String())
	}
	if !strings.Contains(tr.String(), fmt.Sprintf("127.0.0.1:%d", dead)) {
		t.Fatalf("trace does not show the original destination:\n%s", tr.String())
	}
	// A guard that denies the rewritten address refuses, though the
	// original would have been allowed.
	s2 := *s
	s2.Guard = NewGuard(WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), WithPorts(uint16(dead)))
	e2, _ := newEasy(t)
	must(t, s2.Install(e2))
	must(t, e2.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/order", dead)))
	if err := e2.Perform(); !errors.Is(err, ErrProhibitedPort) {
		t.Fatalf("guard after rewrite: %v, want ErrProhibitedPort", err)
	}
}

// FROM net.Dialer.Control to libcurl: the guard's own Control method, and a
// socket-option setter of the kind found in Go code.
func TestFromControl(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, FromControl(NewGuard().Control)))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	if err := e.Perform(); !errors.Is(err, ErrProhibitedIP) {
		t.Fatalf("Perform = %v, want ErrProhibitedIP", err)
	}
	var mark int
	setMark := func(network, address string, c syscall.RawConn) error {
		var inner error
		if err := c.Control(func(fd uintptr) { inner = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, 42) }); err != nil {
			return err
		}
		return inner
	}
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, FromControl(setMark)))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		mark, _ = unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK)
		return unix.Close(fd)
	}))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	must(t, e.Perform())
	if mark != 42 {
		t.Fatalf("SO_MARK %d, want 42", mark)
	}
}

// The FTP active-mode listen socket (local address, port 0) passes a guard
// that denies port 0, a rewrite, the options and a Control hook that would
// refuse it, untouched.
func TestSocketsFTPActive(t *testing.T) {
	noLeaks(t)
	srv := newFTP(t)
	rw, err := ParseRewrite("127.0.0.1:9=127.0.0.1:10")
	must(t, err)
	_, port := splitPort(t, strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "ftp://"), "/"))
	p, err := strconv.Atoi(port)
	must(t, err)
	g := NewGuard(WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), WithPorts(uint16(p)))
	var hooked []string
	e, body := newEasy(t)
	must(t, (&Sockets{Rewrite: rw, Guard: g, Protocols: []string{"ftp"},
		Control: []func(string, string, syscall.RawConn) error{func(network, address string, _ syscall.RawConn) error {
			hooked = append(hooked, address)
			return g.Control(network, address, nil)
		}},
		Options: []SocketOption{KeepAlive(net.KeepAliveConfig{Enable: true})}}).Install(e))
	must(t, e.Setopt(OPT_FTPPORT, "-"))
	must(t, e.Setopt(OPT_URL, srv.URL()+"hello.txt"))
	must(t, e.Perform())
	if body.String() != "hello over ftp\n" {
		t.Fatalf("body %q", body.String())
	}
	if len(hooked) != 1 || hooked[0] != "127.0.0.1:"+port {
		t.Fatalf("Control hook saw %v, want only the control connection", hooked)
	}
}

// Hand-over of a connection dialed by Go: libcurl ≥ 8.0 takes it; 7.88.x
// cannot (curl #10626), and Install says so naming the version.
func TestSocketsDialer(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	var dialed []string
	d := &net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		dialed = append(dialed, address)
		return nil
	}}
	e, body := newEasy(t)
	err := (&Sockets{Dialer: d}).Install(e)
	if alreadyConnectedBroken {
		if !errors.Is(err, ErrAlreadyConnectedUnsupported) || !strings.Contains(err.Error(), versionString()) {
			t.Fatalf("Install on libcurl %s = %v, want ErrAlreadyConnectedUnsupported naming the version", versionString(), err)
		}
		return
	}
	must(t, err)
	must(t, e.Setopt(OPT_URL, srv.url("/dialed")))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /dialed" || len(dialed) != 1 || dialed[0] != srv.Addr {
		t.Fatalf("body %q, Go dialed %v", body.String(), dialed)
	}
}

// With a Dialer, Sockets.Control hooks still run, after the Dialer's own,
// and an IPv4-mapped destination is dialed as the IPv4 address it is.
func TestSocketsDialerControlAndMapped(t *testing.T) {
	if alreadyConnectedBroken {
		t.Skipf("libcurl %s cannot take connected sockets (curl #10626)", versionString())
	}
	noLeaks(t)
	srv := newServer(t, "tcp4")
	_, port := splitPort(t, srv.Addr)
	var calls []string
	hook := func(name string, err error) func(string, string, syscall.RawConn) error {
		return func(network, address string, _ syscall.RawConn) error {
			calls = append(calls, name+" "+network+" "+address)
			return err
		}
	}
	d := &net.Dialer{Control: hook("dialer", nil)}
	refused := errors.New("refused by the hook")
	for _, tc := range []struct {
		name string
		url  string
		hook error
		want []string
	}{
		{"ipv4", srv.url("/a"), nil, []string{"dialer tcp4 " + srv.Addr, "sockets tcp4 " + srv.Addr}},
		{"mapped", "http://[::ffff:127.0.0.1]:" + port + "/m", nil, []string{"dialer tcp4 " + srv.Addr, "sockets tcp4 " + srv.Addr}},
		{"refused", srv.url("/r"), refused, []string{"dialer tcp4 " + srv.Addr, "sockets tcp4 " + srv.Addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls = nil
			hits := srv.Hits()
			e, body := newEasy(t)
			must(t, (&Sockets{Dialer: d, Guard: loopbackGuard(),
				Control: []func(string, string, syscall.RawConn) error{hook("sockets", tc.hook)}}).Install(e))
			must(t, e.Setopt(OPT_URL, tc.url))
			err := e.Perform()
			switch {
			case tc.hook != nil:
				if !errors.Is(err, refused) || srv.Hits() != hits {
					t.Fatalf("Perform = %v (%d requests), want the hook's refusal and none", err, srv.Hits()-hits)
				}
			case err != nil:
				t.Fatal(err)
			case !strings.HasPrefix(body.String(), "hello tcp4 /"):
				t.Fatalf("body %q", body.String())
			}
			if !slices.Equal(calls, tc.want) {
				t.Fatalf("hooks ran %q, want %q", calls, tc.want)
			}
		})
	}
}

// Any fd-backed net.Conn can be handed over; libcurl owns a duplicate of its
// socket and the Go side keeps nothing open (checked by noLeaks).
func TestHandOverConn(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "unix")
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_UNIX_SOCKET_PATH, srv.Addr))
	must(t, e.Setopt(OPT_URL, "http://localhost/handed"))
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, addr *Sockaddr) (int, error) {
		conn, err := net.Dial("unix", addr.Path)
		if err != nil {
			return SOCKET_BAD, err
		}
		return HandOver(conn.(*net.UnixConn))
	}))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) { return SOCKOPT_ALREADY_CONNECTED, nil }))
	err := e.Perform()
	if alreadyConnectedBroken {
		if !errors.Is(err, ErrAlreadyConnectedUnsupported) {
			t.Fatalf("libcurl %s: %v, want ErrAlreadyConnectedUnsupported", versionString(), err)
		}
		return
	}
	must(t, err)
	if body.String() != "hello unix /handed" || srv.Conns() != 1 {
		t.Fatalf("body %q over %d connections", body.String(), srv.Conns())
	}
}
