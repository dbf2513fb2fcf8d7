package curl

import (
	"net/netip"
	"testing"

	"github.com/curlsock/curlsock/internal/cbench"
	"golang.org/x/sys/unix"
)

// fakeFD is what the sockopt and close benchmarks pass: a valid fd number
// that no syscall is made on.
const fakeFD = 1 << 20

// BenchmarkDispatch measures each callback's trip C→Go→C as libcurl makes it,
// without libcurl or a network, next to the floor: a bare cgo callback.
// Goal: at most 2× the floor and 0 allocs/op.
func BenchmarkDispatch(b *testing.B) {
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		cbench.Floor(b.N)
	})
	// The open benchmarks return one real socket, never connected. A
	// callback's socket normally comes from OpenSocket, which marks it so that
	// curlsock need not check it is one; fromOpenSocket leaves that mark
	// without the socket() syscall, which a C callback pays just the same.
	// open-foreign returns a socket curlsock did not make: an fstat checks it.
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must(b, err)
	defer unix.Close(sock)
	fromOpenSocket := func(a *Sockaddr) (int, error) {
		a.opened = sock + 1
		return sock, nil
	}
	open := func(b *testing.B, fn OpenSocketFunc, closeFn CloseSocketFunc) {
		e := EasyInit()
		defer e.Cleanup()
		must(b, e.Setopt(OPT_OPENSOCKETFUNCTION, fn))
		if closeFn != nil {
			must(b, e.Setopt(OPT_CLOSESOCKETFUNCTION, closeFn))
		}
		b.ReportAllocs()
		b.ResetTimer()
		if cbench.Open(e.reg.id, b.N, 80) != sock {
			b.Fatal("open refused")
		}
	}
	b.Run("open", func(b *testing.B) {
		open(b, func(_ any, _ SockType, a *Sockaddr) (int, error) { return fromOpenSocket(a) }, nil)
	})
	// With a close-socket callback set, each socket is charged to it (and on
	// libcurl < 8.2 its identity taken with an fstat: see fdEntry).
	b.Run("open-charged", func(b *testing.B) {
		open(b, func(_ any, _ SockType, a *Sockaddr) (int, error) { return fromOpenSocket(a) },
			func(any, int) error { return nil })
	})
	b.Run("open-foreign", func(b *testing.B) {
		open(b, func(any, SockType, *Sockaddr) (int, error) { return sock, nil }, nil)
	})
	to := netip.MustParseAddrPort("127.0.0.1:8080")
	b.Run("open-rewrite", func(b *testing.B) {
		open(b, func(_ any, _ SockType, a *Sockaddr) (int, error) {
			a.Addr = to
			return fromOpenSocket(a)
		}, nil)
	})
	g := NewGuard(WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8")))
	b.Run("open-guard", func(b *testing.B) {
		open(b, func(_ any, _ SockType, a *Sockaddr) (int, error) {
			if err := g.CheckSockaddr(a); err != nil {
				return SOCKET_BAD, err
			}
			return fromOpenSocket(a)
		}, nil)
	})
	b.Run("sockopt", func(b *testing.B) {
		e := EasyInit()
		defer e.Cleanup()
		must(b, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) { return SOCKOPT_OK, nil }))
		b.ReportAllocs()
		b.ResetTimer()
		if cbench.Sockopt(e.reg.id, fakeFD, b.N) != SOCKOPT_OK {
			b.Fatal("sockopt failed")
		}
	})
	b.Run("close", func(b *testing.B) {
		e := EasyInit()
		defer e.Cleanup()
		must(b, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(any, int) error { return nil }))
		e.reg.mu.Lock()
		id := e.reg.closer.id
		e.reg.mu.Unlock()
		b.ReportAllocs()
		b.ResetTimer()
		cbench.Close(id, fakeFD, b.N)
	})
}
