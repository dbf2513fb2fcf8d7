//go:build linux

package sock

import (
	"errors"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/curlsock/curlsock/internal/socktest"
	"golang.org/x/sys/unix"
)

func TestSocketOptionsEachOption(t *testing.T) {
	canMark := unix.Geteuid() == 0
	for _, network := range []string{"tcp4", "tcp6", "udp4", "udp6", "unix", "unixgram"} {
		t.Run(network, func(t *testing.T) {
			fd := socktest.Socket(t, network)
			before := socktest.ReadState(t, fd)
			opts := []SocketOption{
				KeepAlive(net.KeepAliveConfig{Enable: true, Idle: 1500 * time.Millisecond, Interval: 3 * time.Second, Count: 4}),
				TCPUserTimeout(1500 * time.Millisecond),
				SendBuffer(64 << 10),
				RecvBuffer(96 << 10),
				BindToDevice("lo"),
			}
			if canMark {
				opts = append(opts, Mark(0x2a))
			}
			if err := ApplyOptions(fd, opts...); err != nil {
				t.Fatal(err)
			}
			got := socktest.ReadState(t, fd)
			want := before
			tcp := strings.HasPrefix(network, "tcp")
			if tcp {
				// 1.5s rounds up to 2s, as Go rounds.
				want.KeepAlive, want.Idle, want.Intvl, want.Cnt, want.UserTimeout = 1, 2, 3, 4, 1500
			}
			if !strings.HasPrefix(network, "unix") {
				want.Device = "lo"
			}
			if canMark {
				want.Mark = 0x2a
			}
			// Linux doubles the buffer sizes it reports.
			if got.SndBuf < 64<<10 || got.RcvBuf < 96<<10 {
				t.Errorf("SO_SNDBUF %d, SO_RCVBUF %d: want at least %d and %d", got.SndBuf, got.RcvBuf, 64<<10, 96<<10)
			}
			got.SndBuf, got.RcvBuf = want.SndBuf, want.RcvBuf
			if got != want {
				t.Errorf("after options:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestSocketOptionsKeepAliveGoSemantics(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  net.KeepAliveConfig
		want [4]int // SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT
	}{
		{"zero-is-go-default", net.KeepAliveConfig{Enable: true}, [4]int{1, 15, 15, 9}},
		{"negative-leaves-alone", net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}, [4]int{1, 100, 101, 7}},
		{"round-up", net.KeepAliveConfig{Enable: true, Idle: time.Nanosecond, Interval: 2*time.Second + 1, Count: 3}, [4]int{1, 1, 3, 3}},
		{"disable", net.KeepAliveConfig{Enable: false, Idle: -1, Interval: -1, Count: -1}, [4]int{0, 100, 101, 7}},
		{"disable-sets-like-go", net.KeepAliveConfig{Enable: false}, [4]int{0, 15, 15, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := socktest.Socket(t, "tcp4")
			// Values no default has, to see what is left alone.
			must(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1))
			must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 100))
			must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 101))
			must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 7))
			must(t, ApplyOptions(fd, KeepAlive(tc.cfg)))
			got := [4]int{
				socktest.GetInt(t, fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE),
				socktest.GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE),
				socktest.GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL),
				socktest.GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT),
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// What Go's own SetKeepAliveConfig does to a socket, KeepAlive does too.
func TestSocketOptionsKeepAliveMatchesGo(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, cfg := range []net.KeepAliveConfig{
		{Enable: true, Idle: 1500 * time.Millisecond, Interval: 700 * time.Millisecond, Count: 2},
		{Enable: true},
		{Enable: false, Idle: 5 * time.Second},
	} {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		must(t, c.(*net.TCPConn).SetKeepAliveConfig(cfg))
		rc, _ := c.(*net.TCPConn).SyscallConn()
		var goState socktest.State
		rc.Control(func(fd uintptr) { goState = socktest.ReadState(t, int(fd)) })
		c.Close()

		fd := socktest.Socket(t, "tcp4")
		must(t, ApplyOptions(fd, KeepAlive(cfg)))
		ours := socktest.ReadState(t, fd)
		// Only keep-alive is compared: Dial itself sets other options.
		goState = socktest.State{KeepAlive: goState.KeepAlive, Idle: goState.Idle, Intvl: goState.Intvl, Cnt: goState.Cnt}
		ours = socktest.State{KeepAlive: ours.KeepAlive, Idle: ours.Idle, Intvl: ours.Intvl, Cnt: ours.Cnt}
		if ours != goState {
			t.Errorf("%+v: ours %+v, Go's %+v", cfg, ours, goState)
		}
	}
}

func TestSocketOptionsTCPUserTimeout(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{
		{1500 * time.Millisecond, 1500},
		{time.Microsecond, 1}, // never 0, which would mean the default
		{0, 0},
	} {
		fd := socktest.Socket(t, "tcp6")
		must(t, unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, 77))
		must(t, ApplyOptions(fd, TCPUserTimeout(tc.d)))
		if got := socktest.GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); got != tc.want {
			t.Errorf("TCPUserTimeout(%v): %d, want %d", tc.d, got, tc.want)
		}
	}
}

func TestSocketOptionsMarkWraps(t *testing.T) {
	if unix.Geteuid() != 0 {
		t.Skip("SO_MARK needs CAP_NET_ADMIN")
	}
	fd := socktest.Socket(t, "tcp4")
	must(t, ApplyOptions(fd, Mark(0xfffffff0)))
	if got := uint32(socktest.GetInt(t, fd, unix.SOL_SOCKET, unix.SO_MARK)); got != 0xfffffff0 {
		t.Fatalf("SO_MARK %#x", got)
	}
}

func TestSocketOptionsErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		opt     SocketOption
		errno   error
		want    string
	}{
		{"no-device", "tcp4", BindToDevice("nosuchif0"), unix.ENODEV, "curlsock: socket option SO_BINDTODEVICE: no such device"},
		{"negative-timeout", "tcp4", TCPUserTimeout(-time.Second), unix.EINVAL, "curlsock: socket option TCP_USER_TIMEOUT: -1s out of range: invalid argument"},
		// A bad argument fails whatever the socket, also one the option skips.
		{"negative-timeout-unix", "unix", TCPUserTimeout(-time.Second), unix.EINVAL, "TCP_USER_TIMEOUT"},
		{"huge-timeout", "tcp4", TCPUserTimeout(1 << 62), unix.EINVAL, "TCP_USER_TIMEOUT"},
		// Rounding up must not wrap the largest durations negative.
		{"max-timeout", "tcp4", TCPUserTimeout(math.MaxInt64), unix.EINVAL, "out of range"},
		{"max-keepidle", "tcp4", KeepAlive(net.KeepAliveConfig{Enable: true, Idle: math.MaxInt64}), unix.EINVAL, "TCP_KEEPIDLE"},
		{"max-keepintvl", "tcp4", KeepAlive(net.KeepAliveConfig{Enable: true, Interval: math.MaxInt64}), unix.EINVAL, "TCP_KEEPINTVL"},
		{"negative-buffer", "udp4", SendBuffer(-1), unix.EINVAL, "curlsock: socket option SO_SNDBUF: -1 out of range: invalid argument"},
		{"huge-buffer", "udp4", RecvBuffer(1 << 40), unix.EINVAL, "SO_RCVBUF"},
		{"huge-mark", "tcp4", Mark(1 << 33), unix.EINVAL, "SO_MARK"},
		{"keepidle-too-big", "tcp4", KeepAlive(net.KeepAliveConfig{Enable: true, Idle: 1000 * time.Hour}), unix.EINVAL, "curlsock: socket option TCP_KEEPIDLE: invalid argument"},
		{"keepcnt-too-big", "tcp4", KeepAlive(net.KeepAliveConfig{Enable: true, Count: 1 << 40}), unix.EINVAL, "TCP_KEEPCNT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fd := socktest.Socket(t, tc.network)
			err := ApplyOptions(fd, tc.opt)
			var soe *SocketOptionError
			if !errors.Is(err, tc.errno) || !errors.As(err, &soe) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ApplyOptions = %v, want %v and a *SocketOptionError saying %q", err, tc.errno, tc.want)
			}
		})
	}
}

func TestSocketOptionsFirstErrorWins(t *testing.T) {
	fd := socktest.Socket(t, "tcp4")
	before := socktest.GetInt(t, fd, unix.SOL_SOCKET, unix.SO_SNDBUF)
	err := ApplyOptions(fd, TCPUserTimeout(time.Second), BindToDevice("nosuchif0"), SendBuffer(before*4), TCPUserTimeout(-1))
	if !errors.Is(err, unix.ENODEV) {
		t.Fatalf("ApplyOptions = %v, want the first error, ENODEV", err)
	}
	if got := socktest.GetInt(t, fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); got != 1000 {
		t.Fatalf("option before the error not applied: TCP_USER_TIMEOUT %d", got)
	}
	if got := socktest.GetInt(t, fd, unix.SOL_SOCKET, unix.SO_SNDBUF); got != before {
		t.Fatalf("option after the error applied: SO_SNDBUF %d → %d", before, got)
	}
}

func TestSocketOptionsNotASocket(t *testing.T) {
	var p [2]int
	must(t, unix.Pipe2(p[:], unix.O_CLOEXEC))
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	// A TCP-only option cannot be skipped without knowing the socket.
	for _, opt := range []SocketOption{KeepAlive(net.KeepAliveConfig{Enable: true}), SendBuffer(1 << 16)} {
		err := ApplyOptions(p[0], opt)
		if !errors.Is(err, unix.ENOTSOCK) || !strings.Contains(err.Error(), opt.String()) {
			t.Errorf("ApplyOptions(pipe, %s) = %v, want ENOTSOCK naming the option", opt, err)
		}
	}
}

func TestSocketOptionsZeroAndEmpty(t *testing.T) {
	fd := socktest.Socket(t, "tcp4")
	if err := ApplyOptions(fd); err != nil {
		t.Fatal(err)
	}
	if err := ApplyOptions(fd, SocketOption{}); err != nil {
		t.Fatal(err)
	}
	if err := ApplyOptions(-1, SocketOption{}); err != nil {
		t.Fatal("the zero option touched the fd:", err)
	}
	if s := (SocketOption{}).String(); s != "" {
		t.Fatalf("zero option named %q", s)
	}
}
