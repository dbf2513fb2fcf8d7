//go:build linux

package curl

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

func splitPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	must(t, err)
	return h, p
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

// The documented order: rewrite first, then the guard judges the rewritten
// address, then Control hooks and options, then the trace.
func TestSocketsOrder(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	dead := closedPort(t)
	rw, err := sock.ParseRewrite(fmt.Sprintf("127.0.0.1:%d=%s", dead, srv.Addr))
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
		Options: []sock.SocketOption{sock.TCPUserTimeout(1500 * time.Millisecond)},
		Trace:   sock.NewTrace(&tr),
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
	s2.Guard = sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), sock.WithPorts(uint16(dead)))
	e2, _ := newEasy(t)
	must(t, s2.Install(e2))
	must(t, e2.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/order", dead)))
	if err := e2.Perform(); !errors.Is(err, sock.ErrProhibitedPort) {
		t.Fatalf("guard after rewrite: %v, want sock.ErrProhibitedPort", err)
	}
}

// FROM net.Dialer.Control to libcurl: the guard's own Control method, and a
// socket-option setter of the kind found in Go code.
func TestFromControl(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, FromControl(sock.NewGuard().Control)))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	if err := e.Perform(); !errors.Is(err, sock.ErrProhibitedIP) {
		t.Fatalf("Perform = %v, want sock.ErrProhibitedIP", err)
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
	rw, err := sock.ParseRewrite("127.0.0.1:9=127.0.0.1:10")
	must(t, err)
	_, port := splitPort(t, strings.TrimSuffix(strings.TrimPrefix(srv.URL(), "ftp://"), "/"))
	p, err := strconv.Atoi(port)
	must(t, err)
	g := sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), sock.WithPorts(uint16(p)))
	var hooked []string
	e, body := newEasy(t)
	must(t, (&Sockets{Rewrite: rw, Guard: g, Protocols: []string{"ftp"},
		Control: []func(string, string, syscall.RawConn) error{func(network, address string, _ syscall.RawConn) error {
			hooked = append(hooked, address)
			return g.Control(network, address, nil)
		}},
		Options: []sock.SocketOption{sock.KeepAlive(net.KeepAliveConfig{Enable: true})}}).Install(e))
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
