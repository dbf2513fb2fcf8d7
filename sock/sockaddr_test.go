//go:build linux

package sock

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// Encoding a destination and decoding the bytes gives it back, with the
// length libcurl itself would use.
func TestSockaddrRoundTrip(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo interface")
	}
	for _, tc := range []struct {
		name     string
		in       Sockaddr
		family   int
		protocol int
		n        int
		network  string
		str      string
		want     Sockaddr // zero: same as in
	}{
		{name: "v4", in: Sockaddr{Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: netip.MustParseAddrPort("192.0.2.7:8080")},
			family: unix.AF_INET, protocol: unix.IPPROTO_TCP, n: 16, network: "tcp4", str: "192.0.2.7:8080"},
		{name: "v6", in: Sockaddr{Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: netip.MustParseAddrPort("[2001:db8::1]:443")},
			family: unix.AF_INET6, protocol: unix.IPPROTO_TCP, n: 28, network: "tcp6", str: "[2001:db8::1]:443"},
		{name: "v6-zone-name", in: Sockaddr{Socktype: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_UDP, Addr: netip.MustParseAddrPort("[fe80::1%lo]:69")},
			family: unix.AF_INET6, protocol: unix.IPPROTO_UDP, n: 28, network: "udp6", str: "[fe80::1%lo]:69"},
		{name: "v6-zone-number", in: Sockaddr{Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP,
			Addr: netip.MustParseAddrPort(fmt.Sprintf("[fe80::1%%%d]:80", lo.Index))},
			family: unix.AF_INET6, protocol: unix.IPPROTO_TCP, n: 28, network: "tcp6", str: "[fe80::1%lo]:80",
			want: Sockaddr{Addr: netip.MustParseAddrPort("[fe80::1%lo]:80")}},
		{name: "v4-mapped", in: Sockaddr{Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: netip.MustParseAddrPort("[::ffff:127.0.0.1]:80")},
			family: unix.AF_INET6, protocol: unix.IPPROTO_TCP, n: 28, network: "tcp6", str: "[::ffff:127.0.0.1]:80"},
		// curl's Curl_unix2addr counts the pathname's trailing NUL.
		{name: "unix", in: Sockaddr{Socktype: unix.SOCK_STREAM, Path: "/run/app.sock"},
			family: unix.AF_UNIX, protocol: 0, n: 2 + 13 + 1, network: "unix", str: "unix:/run/app.sock"},
		{name: "abstract", in: Sockaddr{Socktype: unix.SOCK_STREAM, Path: "@app"},
			family: unix.AF_UNIX, protocol: 0, n: 2 + 1 + 3, network: "unix", str: "unix:@app"},
		{name: "unix-to-tcp", in: Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_STREAM, Addr: netip.MustParseAddrPort("127.0.0.1:80")},
			family: unix.AF_INET, protocol: unix.IPPROTO_TCP, n: 16, network: "tcp4", str: "127.0.0.1:80"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf [sockaddrStorage]byte
			family, protocol, n, err := tc.in.Encode(buf[:])
			must(t, err)
			if family != tc.family || protocol != tc.protocol || n != tc.n {
				t.Fatalf("encode: family %d protocol %d len %d, want %d %d %d", family, protocol, n, tc.family, tc.protocol, tc.n)
			}
			// writeBack encodes into libcurl's memory, which holds the old
			// address: every byte up to n must be written, padding included.
			var dirty [sockaddrStorage]byte
			for i := range dirty {
				dirty[i] = 0xff
			}
			if _, _, _, err := tc.in.Encode(dirty[:]); err != nil || !bytes.Equal(dirty[:n], buf[:n]) {
				t.Fatalf("encode over old bytes: %v\n% x\nwant\n% x", err, dirty[:n], buf[:n])
			}
			addr, path := decodeAddr(family, buf[:n])
			want := tc.want
			if want == (Sockaddr{}) {
				want = tc.in
			}
			if addr != want.Addr || path != want.Path {
				t.Fatalf("decode: %v %q, want %v %q", addr, path, want.Addr, want.Path)
			}
			if got := tc.in.Network(); got != tc.network {
				t.Errorf("Network() = %q, want %q", got, tc.network)
			}
			if got := (&Sockaddr{Addr: addr, Path: path}).String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
		})
	}
}

func TestSockaddrInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		sa   Sockaddr
	}{
		{"nothing", Sockaddr{Family: unix.AF_INET, origAddr: netip.MustParseAddrPort("127.0.0.1:1")}},
		{"both", Sockaddr{Addr: netip.MustParseAddrPort("127.0.0.1:1"), Path: "/x"}},
		{"long-path", Sockaddr{Path: "/" + strings.Repeat("x", sunPathMax)}},
		{"long-abstract", Sockaddr{Path: "@" + strings.Repeat("x", sunPathMax)}},
		{"nul-in-path", Sockaddr{Path: "/a\x00b"}},
		{"bad-zone", Sockaddr{Addr: netip.MustParseAddrPort("[fe80::1%nosuch0]:1")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf [sockaddrStorage]byte
			if _, _, _, err := tc.sa.Encode(buf[:]); !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("encode = %v, want ErrInvalidAddress", err)
			}
			if fd, err := tc.sa.Socket(); fd != -1 || err == nil {
				t.Fatalf("Socket = %d, %v", fd, err)
			}
		})
	}
	// The longest path that fits: 107 bytes and the NUL.
	ok := Sockaddr{Path: "/" + strings.Repeat("x", sunPathMax-2)}
	var buf [sockaddrStorage]byte
	if _, _, n, err := ok.Encode(buf[:]); err != nil || n != offsetofSunPath+sunPathMax {
		t.Fatalf("encode of a %d-byte path: len %d, %v", len(ok.Path), n, err)
	}
}

func TestDecodeShortOrUnknown(t *testing.T) {
	for _, tc := range []struct {
		family int
		raw    []byte
	}{
		{unix.AF_INET, make([]byte, 8)},
		{unix.AF_INET6, make([]byte, 20)},
		{unix.AF_UNIX, make([]byte, 2)},
		{unix.AF_PACKET, make([]byte, 20)},
	} {
		if a, p := decodeAddr(tc.family, tc.raw); a.IsValid() || p != "" {
			t.Errorf("decodeAddr(%d, %d bytes) = %v %q, want nothing", tc.family, len(tc.raw), a, p)
		}
	}
}

func TestSockaddrXSys(t *testing.T) {
	for _, tc := range []struct {
		sa   Sockaddr
		want unix.Sockaddr
	}{
		{Sockaddr{Addr: netip.MustParseAddrPort("127.0.0.1:80")}, &unix.SockaddrInet4{Port: 80, Addr: [4]byte{127, 0, 0, 1}}},
		{Sockaddr{Addr: netip.MustParseAddrPort("[::1]:443")}, &unix.SockaddrInet6{Port: 443, Addr: netip.MustParseAddr("::1").As16()}},
		{Sockaddr{Path: "@abs"}, &unix.SockaddrUnix{Name: "@abs"}},
		{Sockaddr{Family: unix.AF_PACKET}, nil},
	} {
		got := tc.sa.Sockaddr()
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(unix.SockaddrInet4{}, unix.SockaddrInet6{}, unix.SockaddrUnix{})); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tc.sa.String(), diff)
		}
	}
}
