//go:build linux

// Package socktest has the socket helpers that the tests of package curl
// and package sock share: a fresh socket, and the options set on it as the
// kernel reports them.
package socktest

import (
	"testing"

	"golang.org/x/sys/unix"
)

// Socket returns an unconnected socket of a Go network name, closed at
// the end of the test.
func Socket(t testing.TB, network string) int {
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

func GetInt(t testing.TB, fd, level, opt int) int {
	t.Helper()
	v, err := unix.GetsockoptInt(fd, level, opt)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// State is the options these tests set, as the kernel reports them.
type State struct {
	KeepAlive, Idle, Intvl, Cnt, UserTimeout int // -1 where not a TCP socket
	Mark, SndBuf, RcvBuf                     int
	Device                                   string
}

func ReadState(t testing.TB, fd int) State {
	t.Helper()
	s := State{KeepAlive: -1, Idle: -1, Intvl: -1, Cnt: -1, UserTimeout: -1}
	if proto := GetInt(t, fd, unix.SOL_SOCKET, unix.SO_PROTOCOL); proto == unix.IPPROTO_TCP {
		s.KeepAlive = GetInt(t, fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		s.Idle = GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		s.Intvl = GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
		s.Cnt = GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
		s.UserTimeout = GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	}
	s.Mark = GetInt(t, fd, unix.SOL_SOCKET, unix.SO_MARK)
	s.SndBuf = GetInt(t, fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	s.RcvBuf = GetInt(t, fd, unix.SOL_SOCKET, unix.SO_RCVBUF)
	if d := GetInt(t, fd, unix.SOL_SOCKET, unix.SO_DOMAIN); d != unix.AF_UNIX {
		var err error
		if s.Device, err = unix.GetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
