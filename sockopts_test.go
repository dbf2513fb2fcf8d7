//go:build linux

package curl

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

func TestSocketOptionsCallbackPurposes(t *testing.T) {
	cb := FromSocketOptions(sock.TCPUserTimeout(2 * time.Second))
	for _, tc := range []struct {
		purpose SockType
		want    int
	}{
		{SOCKTYPE_IPCXN, 2000},
		{SOCKTYPE_ACCEPT, 2000},
		{SockType(7), 0}, // not ours to configure
	} {
		fd := testSocket(t, "tcp4")
		code, err := cb("clientp", fd, tc.purpose)
		if code != SOCKOPT_OK || err != nil {
			t.Fatalf("%v: (%d, %v)", tc.purpose, code, err)
		}
		if got := getInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); got != tc.want {
			t.Errorf("%v: TCP_USER_TIMEOUT %d, want %d", tc.purpose, got, tc.want)
		}
	}
	// The list is copied: changing the caller's slice changes nothing.
	opts := []sock.SocketOption{sock.SendBuffer(1 << 16)}
	cb = FromSocketOptions(opts...)
	opts[0] = sock.BindToDevice("nosuchif0")
	if code, err := cb(nil, testSocket(t, "tcp4"), SOCKTYPE_IPCXN); code != SOCKOPT_OK || err != nil {
		t.Fatalf("(%d, %v) after changing the caller's slice", code, err)
	}
	code, err := FromSocketOptions(sock.BindToDevice("nosuchif0"))(nil, testSocket(t, "tcp4"), SOCKTYPE_IPCXN)
	if code != SOCKOPT_ERROR || !errors.Is(err, unix.ENODEV) {
		t.Fatalf("failing option: (%d, %v)", code, err)
	}
}

// Options as libcurl's sockopt callback: the options are on the socket
// libcurl connects, as the close-socket callback finds it.
func TestSocketOptionsTransfer(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6", "unix"} {
		t.Run(network, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, network)
			e, body := newEasy(t)
			url := srv.url("/opts")
			if network == "unix" {
				must(t, e.Setopt(OPT_UNIX_SOCKET_PATH, srv.Addr))
				url = "http://localhost/opts"
			}
			must(t, e.Setopt(OPT_URL, url))
			must(t, e.Setopt(OPT_SOCKOPTFUNCTION, FromSocketOptions(
				sock.TCPUserTimeout(1500*time.Millisecond),
				sock.KeepAlive(net.KeepAliveConfig{Enable: true, Idle: 20 * time.Second, Interval: 5 * time.Second, Count: 3}),
				sock.RecvBuffer(200<<10),
			)))
			var got []sockState
			must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
				got = append(got, readState(t, fd))
				return unix.Close(fd)
			}))
			must(t, e.Setopt(OPT_FORBID_REUSE, 1))
			must(t, e.Perform())
			if want := "hello " + network + " /opts"; body.String() != want {
				t.Fatalf("body %q, want %q", body.String(), want)
			}
			if len(got) != 1 {
				t.Fatalf("%d sockets closed, want 1", len(got))
			}
			s := got[0]
			if s.rcvbuf < 200<<10 {
				t.Errorf("SO_RCVBUF %d, want at least %d", s.rcvbuf, 200<<10)
			}
			wantTCP := [5]int{1, 20, 5, 3, 1500}
			if network == "unix" {
				wantTCP = [5]int{-1, -1, -1, -1, -1}
			}
			if tcp := [5]int{s.keepalive, s.idle, s.intvl, s.cnt, s.userTimeout}; tcp != wantTCP {
				t.Errorf("keepalive, idle, interval, count, user timeout = %v, want %v", tcp, wantTCP)
			}
		})
	}
}

// A failing option fails the connection attempt with the option's error.
func TestSocketOptionsTransferError(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, FromSocketOptions(sock.SendBuffer(1<<16), sock.BindToDevice("nosuchif0"))))
	err := e.Perform()
	var soe *sock.SocketOptionError
	if !errors.As(err, &soe) || soe.Option != "SO_BINDTODEVICE" || !errors.Is(err, unix.ENODEV) ||
		!errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
		t.Fatalf("Perform = %v, want SO_BINDTODEVICE's ENODEV and E_ABORTED_BY_CALLBACK", err)
	}
	if srv.Conns() != 0 {
		t.Fatal("the server was reached")
	}
}

// FTP active mode: the accepted data socket gets the options too.
func TestSocketOptionsFTPAccept(t *testing.T) {
	noLeaks(t)
	srv := newFTP(t)
	e, body := newEasy(t)
	cb := FromSocketOptions(sock.TCPUserTimeout(1234 * time.Millisecond))
	got := map[SockType]int{}
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(c any, fd int, purpose SockType) (int, error) {
		code, err := cb(c, fd, purpose)
		got[purpose] = getInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		return code, err
	}))
	must(t, e.Setopt(OPT_FTPPORT, "127.0.0.1"))
	must(t, e.Setopt(OPT_URL, srv.URL()+"hello.txt"))
	must(t, e.Perform())
	if body.String() != "hello over ftp\n" {
		t.Fatalf("body %q", body.String())
	}
	if got[SOCKTYPE_IPCXN] != 1234 || got[SOCKTYPE_ACCEPT] != 1234 {
		t.Fatalf("TCP_USER_TIMEOUT by purpose: %v, want 1234 for IPCXN and ACCEPT", got)
	}
}

// testSocket returns an unconnected socket of a Go network name, closed at
// the end of the test.
func testSocket(t *testing.T, network string) int {
	t.Helper()
	var family, typ int
	switch network {
	case "tcp4":
		family, typ = unix.AF_INET, unix.SOCK_STREAM
	case "tcp6":
		family, typ = unix.AF_INET6, unix.SOCK_STREAM
	case "udp4":
		family, typ = unix.AF_INET, unix.SOCK_DGRAM
	case "udp6":
		family, typ = unix.AF_INET6, unix.SOCK_DGRAM
	case "unix":
		family, typ = unix.AF_UNIX, unix.SOCK_STREAM
	case "unixgram":
		family, typ = unix.AF_UNIX, unix.SOCK_DGRAM
	default:
		t.Fatalf("network %q", network)
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if family == unix.AF_INET6 {
			t.Skipf("no IPv6: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func getInt(t *testing.T, fd, level, opt int) int {
	t.Helper()
	v, err := unix.GetsockoptInt(fd, level, opt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sockState is the options these tests set, as the kernel reports them.
type sockState struct {
	keepalive, idle, intvl, cnt, userTimeout int // -1 where not a TCP socket
	mark, sndbuf, rcvbuf                     int
	device                                   string
}

func readState(t *testing.T, fd int) sockState {
	t.Helper()
	s := sockState{keepalive: -1, idle: -1, intvl: -1, cnt: -1, userTimeout: -1}
	if proto := getInt(t, fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); proto == unix.IPPROTO_TCP {
		s.keepalive = getInt(t, fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		s.idle = getInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		s.intvl = getInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
		s.cnt = getInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
		s.userTimeout = getInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}
	s.mark = getInt(t, fd, unix.SOL_SOCKET, unix.SO_MARK)
	s.sndbuf = getInt(t, fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	s.rcvbuf = getInt(t, fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if d := getInt(t, fd, unix.SOL_SOCKET, unix.SO_DOMAIN); d != unix.AF_UNIX {
		var err error
		if s.device, err = unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
