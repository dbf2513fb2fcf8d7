package sock

import (
	"fmt"
	"math"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// SocketOption is one socket setting for ApplyOptions (and for package curl's
// sockopt callbacks, curl.Sockets.Options and curl.FromSocketOptions), made by
// KeepAlive, TCPUserTimeout, Mark, BindToDevice, SendBuffer or RecvBuffer.
// The zero SocketOption does nothing.
type SocketOption struct {
	name  string
	scope optScope
	apply func(fd int) error
}

// optScope is which sockets an option applies to; the others skip it, so
// that one option list serves TCP, UDP (HTTP/3) and unix-socket transfers.
type optScope uint8

const (
	anySocket optScope = iota
	ipSocket           // AF_INET, AF_INET6
	tcpSocket          // AF_INET, AF_INET6 with TCP (or MPTCP)
)

// String returns the option's socket-level name, "TCP_USER_TIMEOUT", as
// errors name it.
func (o SocketOption) String() string { return o.name }

// SocketOptionError is the error of a socket option that could not be set.
type SocketOptionError struct {
	Option string // "TCP_USER_TIMEOUT", "SO_MARK", ...
	Err    error  // the syscall error, such as unix.EPERM
}

func (e *SocketOptionError) Error() string {
	return "curlsock: socket option " + e.Option + ": " + e.Err.Error()
}

func (e *SocketOptionError) Unwrap() error { return e.Err }

func optErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return &SocketOptionError{Option: name, Err: err}
}

func setInt(fd, level, opt int, name string, v int) error {
	return optErr(name, unix.SetsockoptInt(fd, level, opt, v))
}

// rangeErr fails an option whose argument the kernel would silently
// truncate to a different value. It fails on every socket, not only those
// the option is for, so that a bad setting shows on the first transfer.
func rangeErr(name string, v any) SocketOption {
	return SocketOption{name: name, apply: func(int) error {
		return optErr(name, fmt.Errorf("%v out of range: %w", v, unix.EINVAL))
	}}
}

// KeepAlive sets TCP keep-alive as net.TCPConn.SetKeepAliveConfig does:
// SO_KEEPALIVE to cfg.Enable, then TCP_KEEPIDLE and TCP_KEEPINTVL (rounded
// up to whole seconds) and TCP_KEEPCNT, where 0 means Go's default (15s, 15s,
// 9) and a negative value leaves the system's setting alone. Like Go, it sets
// idle, interval and count even when disabling, where they are harmless.
// TCP sockets only.
func KeepAlive(cfg net.KeepAliveConfig) SocketOption {
	secs := func(d time.Duration) int {
		switch {
		case d == 0:
			return 15
		case d < 0:
			return -1
		}
		return int(min(ceilDiv(d, time.Second), math.MaxInt32))
	}
	idle, intvl, cnt := secs(cfg.Idle), secs(cfg.Interval), cfg.Count
	if cnt == 0 {
		cnt = 9
	}
	// SetsockoptInt passes an int32: clamp, so that the kernel rejects a
	// huge value instead of taking it wrapped.
	cnt = min(cnt, math.MaxInt32)
	enable := 0
	if cfg.Enable {
		enable = 1
	}
	return SocketOption{name: "SO_KEEPALIVE", scope: tcpSocket, apply: func(fd int) error {
		if err := setInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, "SO_KEEPALIVE", enable); err != nil {
			return err
		}
		for _, o := range [...]struct {
			opt  int
			name string
			v    int
		}{
			{tcpKeepIdle, "TCP_KEEPIDLE", idle},
			{unix.TCP_KEEPINTVL, "TCP_KEEPINTVL", intvl},
			{unix.TCP_KEEPCNT, "TCP_KEEPCNT", cnt},
		} {
			if o.v < 0 {
				continue
			}
			if err := setInt(fd, unix.IPPROTO_TCP, o.opt, o.name, o.v); err != nil {
				return err
			}
		}
		return nil
	}}
}

// ceilDiv is d/unit rounded up, for d ≥ 0, without the overflow of
// (d+unit-1)/unit near math.MaxInt64.
func ceilDiv(d, unit time.Duration) time.Duration {
	q := d / unit
	if d%unit != 0 {
		q++
	}
	return q
}

// TCPUserTimeout sets TCP_USER_TIMEOUT: how long sent data may stay
// unacknowledged before the connection is dropped, rounded up to whole
// milliseconds (so that a positive duration never becomes 0, the system
// default). TCP sockets only. Linux only: elsewhere it fails with an error
// wrapping errors.ErrUnsupported.
func TCPUserTimeout(d time.Duration) SocketOption {
	const name = "TCP_USER_TIMEOUT"
	ms := ceilDiv(d, time.Millisecond)
	if d < 0 || ms > math.MaxInt32 {
		return rangeErr(name, d)
	}
	return SocketOption{name: name, scope: tcpSocket, apply: func(fd int) error {
		return optErr(name, setTCPUserTimeout(fd, int(ms)))
	}}
}

// Mark sets SO_MARK, the packet mark that policy routing and netfilter match
// on. It needs CAP_NET_ADMIN; without it the option fails with EPERM. Linux
// only: elsewhere it fails with an error wrapping errors.ErrUnsupported.
func Mark(mark int) SocketOption {
	const name = "SO_MARK"
	if mark < math.MinInt32 || mark > math.MaxUint32 {
		return rangeErr(name, mark)
	}
	return SocketOption{name: name, apply: func(fd int) error {
		// The kernel reads a u32; the int32 that carries it may wrap.
		return optErr(name, setMark(fd, int(int32(uint32(mark)))))
	}}
}

// BindToDevice sets SO_BINDTODEVICE: the socket sends and receives only
// through interface ifname ("" unbinds). IP sockets only. Linux only:
// elsewhere it fails with an error wrapping errors.ErrUnsupported.
func BindToDevice(ifname string) SocketOption {
	const name = "SO_BINDTODEVICE"
	return SocketOption{name: name, scope: ipSocket, apply: func(fd int) error {
		return optErr(name, bindToDevice(fd, ifname))
	}}
}

// SendBuffer sets SO_SNDBUF. Linux doubles the value for its bookkeeping
// and clamps it to net.core.wmem_max (without CAP_NET_ADMIN).
func SendBuffer(bytes int) SocketOption { return bufferOption("SO_SNDBUF", unix.SO_SNDBUF, bytes) }

// RecvBuffer sets SO_RCVBUF. Linux doubles the value for its bookkeeping
// and clamps it to net.core.rmem_max (without CAP_NET_ADMIN).
func RecvBuffer(bytes int) SocketOption { return bufferOption("SO_RCVBUF", unix.SO_RCVBUF, bytes) }

func bufferOption(name string, opt, bytes int) SocketOption {
	if bytes < 0 || bytes > math.MaxInt32 {
		// A negative size would reach the kernel as a huge unsigned one.
		return rangeErr(name, bytes)
	}
	return SocketOption{name: name, apply: func(fd int) error {
		return setInt(fd, unix.SOL_SOCKET, opt, name, bytes)
	}}
}

// OptionFunc returns a SocketOption that runs set on every socket: a socket
// setting this package has no constructor for (IP_TOS, SO_LINGER, ...).
// name is how errors name it; an error from set fails the option as a
// *SocketOptionError wrapping it.
func OptionFunc(name string, set func(fd int) error) SocketOption {
	return SocketOption{name: name, apply: func(fd int) error { return optErr(name, set(fd)) }}
}

// ApplyOptions sets opts on fd in order and stops at the first error, which
// is a *SocketOptionError naming the option and wrapping the syscall error.
// Options for TCP or IP sockets skip other sockets (unix, UDP), told apart by
// the socket itself (on Linux its SO_DOMAIN and SO_PROTOCOL), since a sockopt
// callback gets nothing but the fd.
func ApplyOptions(fd int, opts ...SocketOption) error {
	known := false
	var ip, tcp bool
	for _, o := range opts {
		if o.apply == nil {
			continue
		}
		if o.scope != anySocket && !known {
			var err error
			if ip, tcp, err = socketKind(fd); err != nil {
				return optErr(o.name, err)
			}
			known = true
		}
		if o.scope == ipSocket && !ip || o.scope == tcpSocket && !tcp {
			continue
		}
		if err := o.apply(fd); err != nil {
			return err
		}
	}
	return nil
}
