//go:build linux

package curl

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/curlsock/curlsock/internal/socktest"
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
		fd := socktest.Socket(t, "tcp4")
		code, err := cb("clientp", fd, tc.purpose)
		if code != SOCKOPT_OK || err != nil {
			t.Fatalf("%v: (%d, %v)", tc.purpose, code, err)
		}
		if got := socktest.GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); got != tc.want {
			t.Errorf("%v: TCP_USER_TIMEOUT %d, want %d", tc.purpose, got, tc.want)
		}
	}
	// The list is copied: changing the caller's slice changes nothing.
	opts := []sock.SocketOption{sock.SendBuffer(1 << 16)}
	cb = FromSocketOptions(opts...)
	opts[0] = sock.BindToDevice("nosuchif0")
	if code, err := cb(nil, socktest.Socket(t, "tcp4"), SOCKTYPE_IPCXN); code != SOCKOPT_OK || err != nil {
		t.Fatalf("(%d, %v) after changing the caller's slice", code, err)
	}
	code, err := FromSocketOptions(sock.BindToDevice("nosuchif0"))(nil, socktest.Socket(t, "tcp4"), SOCKTYPE_IPCXN)
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
			var got []socktest.State
			must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
				got = append(got, socktest.ReadState(t, fd))
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
			if s.RcvBuf < 200<<10 {
				t.Errorf("SO_RCVBUF %d, want at least %d", s.RcvBuf, 200<<10)
			}
			wantTCP := [5]int{1, 20, 5, 3, 1500}
			if network == "unix" {
				wantTCP = [5]int{-1, -1, -1, -1, -1}
			}
			if tcp := [5]int{s.KeepAlive, s.Idle, s.Intvl, s.Cnt, s.UserTimeout}; tcp != wantTCP {
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
		got[purpose] = socktest.GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
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
