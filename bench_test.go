//go:build linux

package curl

import (
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/curlsock/curlsock/internal/sockmark"

	"github.com/curlsock/curlsock/internal/cbench"
	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// fakeFD is what the sockopt and close benchmarks pass: a valid fd number
// that no syscall is made on.
const fakeFD = 1 << 20

// BenchmarkDispatch measures each callback's trip C→Go→C as libcurl makes it,
// without libcurl or a network, next to the floor: a bare cgo callback.
// Goal: at most 2× the floor (the x-floor metric) and 0 allocs/op.
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
	sk, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must(b, err)
	defer unix.Close(sk)
	fromOpenSocket := func(a *Sockaddr) (int, error) {
		sockmark.MarkMade(unsafe.Pointer(a), sk)
		return sk, nil
	}
	open := func(b *testing.B, fn OpenSocketFunc) {
		e := EasyInit()
		defer e.Cleanup()
		must(b, e.Setopt(OPT_OPENSOCKETFUNCTION, fn))
		vsFloor(b, 1, func(n int) {
			if cbench.Open(e.reg.id, n, 80) != sk {
				b.Fatal("open refused")
			}
		})
	}
	b.Run("open", func(b *testing.B) {
		open(b, func(_ any, _ SockType, a *Sockaddr) (int, error) { return fromOpenSocket(a) })
	})
	b.Run("open-foreign", func(b *testing.B) {
		open(b, func(any, SockType, *Sockaddr) (int, error) { return sk, nil })
	})
	to := netip.MustParseAddrPort("127.0.0.1:8080")
	b.Run("open-rewrite", func(b *testing.B) {
		open(b, func(_ any, _ SockType, a *Sockaddr) (int, error) {
			a.Addr = to
			return fromOpenSocket(a)
		})
	})
	g := sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8")))
	b.Run("open-guard", func(b *testing.B) {
		open(b, func(_ any, _ SockType, a *Sockaddr) (int, error) {
			if err := g.CheckSockaddr(a); err != nil {
				return SOCKET_BAD, err
			}
			return fromOpenSocket(a)
		})
	})
	b.Run("sockopt", func(b *testing.B) {
		e := EasyInit()
		defer e.Cleanup()
		must(b, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) { return SOCKOPT_OK, nil }))
		vsFloor(b, 1, func(n int) {
			if cbench.Sockopt(e.reg.id, fakeFD, n) != SOCKOPT_OK {
				b.Fatal("sockopt failed")
			}
		})
	})
	b.Run("close", func(b *testing.B) {
		e := EasyInit()
		defer e.Cleanup()
		must(b, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(any, int) error { return nil }))
		vsFloor(b, 1, func(n int) { cbench.Close(e.reg.id, closerID(e), fakeFD, n) })
	})
	// A connection's open and close with a close-socket callback set: the
	// socket is charged to the callback's registration and released again
	// (and on libcurl < 8.2 its identity is taken with an fstat: fdEntry).
	b.Run("open+close", func(b *testing.B) {
		e := EasyInit()
		defer e.Cleanup()
		must(b, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) { return fromOpenSocket(a) }))
		must(b, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(any, int) error { return nil }))
		vsFloor(b, 2, func(n int) {
			if cbench.OpenClose(e.reg.id, closerID(e), n, 80) != 0 {
				b.Fatal("open refused")
			}
		})
	})
}

func closerID(e *CURL) uintptr {
	return e.reg.settings().closer.id
}

// vsFloor runs op for b.N operations in batches, each after a batch of bare
// cgo callbacks (calls of them per operation), and reports the floor and the
// ratio to it: on a shared VM the floor itself moves by half from one run to
// the next, so the ratio is taken batch by batch, in place.
func vsFloor(b *testing.B, calls int, op func(n int)) {
	const batch = 20000
	var tOp, tFloor time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batch, b.N-done)
		b.StopTimer()
		t := time.Now()
		cbench.Floor(n * calls)
		tFloor += time.Since(t)
		b.StartTimer()
		t = time.Now()
		op(n)
		tOp += time.Since(t)
		done += n
	}
	b.ReportMetric(float64(tFloor.Nanoseconds())/float64(b.N*calls), "floor-ns/call")
	b.ReportMetric(float64(tOp)/float64(tFloor), "x-floor")
}
