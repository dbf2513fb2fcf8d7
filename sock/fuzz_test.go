//go:build linux

package sock

// Fuzz targets for the pure-Go parsers and encoders that sit between libcurl
// and the callbacks: the sockaddr codec, the guard and the rewrite table. A
// plain `go test` runs their seeds; `make fuzz` fuzzes each for FUZZTIME.

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// rawSockaddr builds a raw sockaddr of the given family for the seeds.
func rawSockaddr(family int, addr netip.AddrPort, path string, scope uint32) []byte {
	buf := make([]byte, 0, sockaddrStorage)
	buf = binary.NativeEndian.AppendUint16(buf, uint16(family))
	switch family {
	case unix.AF_INET:
		buf = binary.BigEndian.AppendUint16(buf, addr.Port())
		a := addr.Addr().As4()
		buf = append(buf, a[:]...)
		buf = append(buf, make([]byte, 8)...)
	case unix.AF_INET6:
		buf = binary.BigEndian.AppendUint16(buf, addr.Port())
		buf = append(buf, 0, 0, 0, 0) // flow info
		a := addr.Addr().As16()
		buf = append(buf, a[:]...)
		buf = binary.NativeEndian.AppendUint32(buf, scope)
	case unix.AF_UNIX:
		if strings.HasPrefix(path, "@") {
			buf = append(buf, 0)
			buf = append(buf, path[1:]...)
		} else {
			buf = append(buf, path...)
			buf = append(buf, 0)
		}
	}
	return buf
}

// canonicalZone is the zone decodeAddr gives back for zone once encoded:
// a scope id names its interface where one exists, and scope 0 is no zone.
func canonicalZone(ip netip.Addr) netip.Addr {
	z := ip.Zone()
	if z == "" {
		return ip
	}
	n, err := strconv.ParseUint(z, 10, 32)
	switch {
	case err != nil:
		return ip // an interface name, which encode requires to exist
	case n == 0:
		return ip.WithZone("")
	}
	return ip.WithZone(zoneName(uint32(n)))
}

// decodeAddr never panics on any family and any bytes (libcurl's addrlen is
// clamped to sockaddr_storage before it is called), never gives both an
// address and a path, and what it decodes encodes back to the same bytes'
// meaning: decoding the re-encoded form gives the same Addr and Path.
func FuzzSockaddrDecode(f *testing.F) {
	f.Add(unix.AF_INET, rawSockaddr(unix.AF_INET, netip.MustParseAddrPort("127.0.0.1:80"), "", 0))
	f.Add(unix.AF_INET6, rawSockaddr(unix.AF_INET6, netip.MustParseAddrPort("[::1]:443"), "", 0))
	f.Add(unix.AF_INET6, rawSockaddr(unix.AF_INET6, netip.MustParseAddrPort("[fe80::1]:8080"), "", 1))
	f.Add(unix.AF_INET6, rawSockaddr(unix.AF_INET6, netip.MustParseAddrPort("[fe80::1]:8080"), "", 4000000000))
	f.Add(unix.AF_INET6, rawSockaddr(unix.AF_INET6, netip.MustParseAddrPort("[::ffff:10.0.0.1]:80"), "", 0))
	f.Add(unix.AF_UNIX, rawSockaddr(unix.AF_UNIX, netip.AddrPort{}, "/run/app.sock", 0))
	f.Add(unix.AF_UNIX, rawSockaddr(unix.AF_UNIX, netip.AddrPort{}, "@abstract\x00name", 0))
	f.Add(unix.AF_UNIX, rawSockaddr(unix.AF_UNIX, netip.AddrPort{}, "@", 0))
	f.Add(unix.AF_UNIX, append([]byte{1, 0}, strings.Repeat("x", 126)...)) // no NUL: past sun_path
	f.Add(unix.AF_UNIX, []byte{1, 0, '@', 'a', 0})                         // a pathname that reads like an abstract name
	f.Add(unix.AF_UNIX, []byte{1, 0})
	f.Add(unix.AF_INET, []byte{2, 0, 0, 80, 127, 0, 0})
	f.Add(unix.AF_INET6, make([]byte, 27))
	f.Add(0, []byte{})
	f.Add(-1, make([]byte, 200))
	f.Add(unix.AF_PACKET, make([]byte, 20))
	f.Fuzz(func(t *testing.T, family int, raw []byte) {
		if len(raw) > sockaddrStorage {
			raw = raw[:sockaddrStorage]
		}
		addr, path := decodeAddr(family, raw)
		if addr.IsValid() && path != "" {
			t.Fatalf("decodeAddr(%d, %x) = %v and %q: both an address and a path", family, raw, addr, path)
		}
		if !addr.IsValid() && path == "" {
			return
		}
		sa := Sockaddr{Family: family, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: addr, Path: path}
		if path != "" {
			sa.Protocol = 0
		}
		sa.origAddr, sa.origPath = addr, path // as decodeSockaddr leaves it
		var buf [sockaddrStorage]byte
		fam, _, n, err := sa.Encode(buf[:])
		if err != nil {
			name := strings.TrimPrefix(path, "@")
			if addr.IsValid() || len(name)+1 <= sunPathMax || !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("decoded %v %q (family %d, raw %x) does not encode back: %v", addr, path, family, raw, err)
			}
			return // a name longer than sun_path: refused, as it should be
		}
		if fam != family {
			t.Fatalf("decoded family %d re-encoded as %d (%v %q)", family, fam, addr, path)
		}
		addr2, path2 := decodeAddr(fam, buf[:n])
		if addr2 != addr || path2 != path {
			t.Fatalf("round trip of %x (family %d): %v %q, then %v %q", raw, family, addr, path, addr2, path2)
		}
		// The other views of a decoded destination never panic either.
		_ = sa.String()
		_ = sa.Network()
		_ = sa.Sockaddr()
	})
}

// encode (what writes a callback's rewrite back to libcurl) and the other
// views of a Sockaddr never panic, whatever Addr, Path and Port a callback
// leaves; a destination that encodes decodes back to itself.
func FuzzSockaddrEncode(f *testing.F) {
	f.Add("127.0.0.1", "", uint16(8080), unix.AF_INET, true)
	f.Add("::1", "", uint16(443), unix.AF_INET, true)
	f.Add("fe80::1%lo", "", uint16(80), unix.AF_INET6, true)
	f.Add("fe80::1%1", "", uint16(80), unix.AF_INET6, true)
	f.Add("fe80::1%0", "", uint16(80), unix.AF_INET6, true)
	f.Add("fe80::1%nosuchif0", "", uint16(80), unix.AF_INET6, true)
	f.Add("::ffff:10.0.0.1", "", uint16(80), unix.AF_INET, true)
	f.Add("", "/run/app.sock", uint16(0), unix.AF_INET, true)
	f.Add("", "@abstract", uint16(0), unix.AF_INET, true)
	f.Add("", "@", uint16(0), unix.AF_INET, true)
	f.Add("", "/a\x00b", uint16(0), unix.AF_INET, true)
	f.Add("", "/"+strings.Repeat("x", 107), uint16(0), unix.AF_INET, true)
	f.Add("127.0.0.1", "/both", uint16(80), unix.AF_INET, true)
	f.Add("127.0.0.1", "", uint16(0), unix.AF_INET, true)
	f.Add("", "", uint16(0), unix.AF_INET, true)
	// A destination libcurl left without an address (a short addrlen), not
	// rewritten: every view must cope with the zero Addr.
	f.Add("", "", uint16(0), unix.AF_INET, false)
	f.Add("", "", uint16(0), unix.AF_INET6, false)
	f.Add("", "", uint16(0), unix.AF_UNIX, false)
	f.Add("", "", uint16(0), 12345, false)
	f.Fuzz(func(t *testing.T, addrS, path string, port uint16, family int, rewritten bool) {
		var ap netip.AddrPort
		if ip, err := netip.ParseAddr(addrS); err == nil {
			ap = netip.AddrPortFrom(ip, port)
		}
		sa := Sockaddr{Family: family, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: ap, Path: path}
		if rewritten {
			sa.origAddr = netip.MustParseAddrPort("127.0.0.1:80")
		} else {
			sa.origAddr, sa.origPath = ap, path
		}
		_ = sa.String()
		_ = sa.Network()
		_ = sa.Sockaddr()
		var buf [sockaddrStorage]byte
		fam, proto, n, err := sa.Encode(buf[:])
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("encode(%v, %q) = %v: not an ErrInvalidAddress", ap, path, err)
			}
			return
		}
		if n <= 0 || n > sockaddrStorage {
			t.Fatalf("encode(%v, %q) wrote %d bytes", ap, path, n)
		}
		if ap.IsValid() && path != "" {
			t.Fatalf("encode accepted both %v and %q", ap, path)
		}
		switch fam {
		case unix.AF_INET, unix.AF_INET6:
			if proto != unix.IPPROTO_TCP {
				t.Fatalf("encode(%v) gave protocol %d", ap, proto)
			}
		case unix.AF_UNIX:
			if proto != 0 {
				t.Fatalf("encode(%q) gave protocol %d", path, proto)
			}
		}
		addr2, path2 := decodeAddr(fam, buf[:n])
		want := ap
		if want.IsValid() {
			want = netip.AddrPortFrom(canonicalZone(ap.Addr()), ap.Port())
		}
		if addr2 != want || path2 != path {
			t.Fatalf("encode(%v, %q) decodes as %v %q", ap, path, addr2, path2)
		}
	})
}

// unmapPrefix is a prefix as the guard judges it: an IPv4-mapped prefix of
// at least /96 is the IPv4 prefix it maps.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}

// Check, CheckAddr, CheckUnix and Control never panic on any address, port
// and network. An address inside a WithDeniedPrefixes prefix is denied
// whatever allows it (IPv4-mapped addresses and prefixes taken as the IPv4
// ones they map, as documented), and an IPv4-mapped address gets the verdict
// of the IPv4 address it maps, under every configuration.
func FuzzGuard(f *testing.F) {
	seed := func(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }
	f.Add(seed("::ffff:127.0.0.1"), uint16(80), "tcp", uint8(104))
	f.Add(seed("::ffff:10.1.2.3"), uint16(443), "tcp4", uint8(8+96))
	f.Add(seed("::ffff:8.8.8.8"), uint16(443), "tcp6", uint8(128))
	f.Add(seed("2001:db8::1"), uint16(80), "tcp6", uint8(32))
	f.Add(seed("64:ff9b::a00:1"), uint16(80), "tcp", uint8(96))
	f.Add(seed("64:ff9b:1::a00:1"), uint16(80), "udp", uint8(48))
	f.Add(seed("fe80::1"), uint16(0), "unix", uint8(10))
	f.Add(seed("2606:4700::1111"), uint16(443), "ip4:icmp", uint8(0))
	f.Add([]byte("not sixteen bytes"), uint16(65535), "", uint8(255))
	f.Fuzz(func(t *testing.T, b []byte, port uint16, network string, bits uint8) {
		var a16 [16]byte
		copy(a16[:], b)
		ip6 := netip.AddrFrom16(a16)
		v4 := netip.AddrFrom4([4]byte(a16[12:16]))
		mapped := netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: a16[12], 13: a16[13], 14: a16[14], 15: a16[15]})

		// The prefix the fuzzer picked, around the address: as given, and as
		// IPv4.
		p6 := netip.PrefixFrom(ip6, int(bits)%129).Masked()
		p4 := netip.PrefixFrom(v4, int(bits)%33).Masked()
		everything := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
		guards := []*Guard{
			nil,
			NewGuard(),
			NewGuard(WithAnyPort(), WithDatagram(), WithUnixSockets(), WithNAT64()),
			NewGuard(WithAllowedPrefixes(p6, p4), WithPorts(port)),
			NewGuard(WithDeniedPrefixes(p6, p4), WithAllowedPrefixes(append([]netip.Prefix{p6, p4}, everything...)...), WithAnyPort(), WithDatagram(), WithNAT64()),
		}
		deny := guards[len(guards)-1]

		for _, g := range guards {
			_ = g.String()
			for _, ip := range []netip.Addr{ip6, v4, mapped, ip6.WithZone("eth0"), mapped.WithZone("1"), {}} {
				_ = g.Check(network, netip.AddrPortFrom(ip, port))
				_ = g.CheckAddr(ip)
			}
			_ = g.CheckUnix(network, string(b))
			_ = g.Control(network, string(b), nil)
			_ = g.Control(network, netip.AddrPortFrom(ip6, port).String(), nil)
			_ = g.CheckSockaddr(&Sockaddr{Family: unix.AF_INET6, Socktype: int(bits) % 6, Addr: netip.AddrPortFrom(ip6, port), Path: network})

			for _, n := range []string{"tcp", "tcp4", "udp", "udp4"} {
				em := g.Check(n, netip.AddrPortFrom(mapped, port))
				e4 := g.Check(n, netip.AddrPortFrom(v4, port))
				if (em == nil) != (e4 == nil) {
					t.Fatalf("%v: Check(%s, %v) = %v but Check(%s, %v) = %v", g, n, mapped, em, n, v4, e4)
				}
			}
			if (g.CheckAddr(mapped) == nil) != (g.CheckAddr(v4) == nil) {
				t.Fatalf("%v: CheckAddr(%v) and CheckAddr(%v) disagree", g, mapped, v4)
			}
		}

		for _, ip := range []netip.Addr{ip6, v4, mapped} {
			judged := ip.Unmap()
			for _, p := range []netip.Prefix{p6, p4} {
				if !unmapPrefix(p).Contains(judged) {
					continue
				}
				for _, n := range []string{"tcp", "udp"} {
					if err := deny.Check(n, netip.AddrPortFrom(ip, port)); !errors.Is(err, ErrProhibitedIP) {
						t.Fatalf("%v: Check(%s, %v) = %v: inside the denied prefix %v", deny, n, ip, err, p)
					}
				}
				if err := deny.CheckAddr(ip); !errors.Is(err, ErrProhibitedIP) {
					t.Fatalf("%v: CheckAddr(%v) = %v: inside the denied prefix %v", deny, ip, err, p)
				}
			}
		}
	})
}

// ParseRewrite and NewRewriteTable never panic on any rules. A table they
// accept prints as rules that parse back to the same table, and whatever it
// rewrites a destination to can be written back to libcurl.
func FuzzRewrite(f *testing.F) {
	f.Add("10.0.0.1:80=127.0.0.1:8080", "10.0.0.2=/run/stub.sock", []byte{10, 0, 0, 1}, uint16(80), "")
	f.Add("[2001:db8::1]:443=[::1]:8443", "@abstract=10.0.0.1:80", []byte{}, uint16(443), "@abstract")
	f.Add("/run/a.sock=/run/b.sock", "10.0.0.3=[fe80::1%lo]", []byte{10, 0, 0, 3}, uint16(1), "/run/a.sock")
	f.Add("[fe80::1%1]=::ffff:127.0.0.1", "::ffff:10.0.0.9=1.2.3.4", []byte{0xfe, 0x80, 15: 1}, uint16(22), "")
	f.Add("10.0.0.1=10.0.0.2", "10.0.0.1=10.0.0.3", []byte{}, uint16(0), "")
	f.Add("=", "a=b=c", []byte{}, uint16(0), "")
	f.Add("10.0.0.1:0=1.1.1.1", "  ", []byte{}, uint16(0), "")
	f.Add("@=/x", "/"+strings.Repeat("p", 108)+"=1.2.3.4:1", []byte{}, uint16(0), "")
	f.Add("[::1]=[::2]:99999", "10.0.0.1%eth0=1.1.1.1", []byte{}, uint16(0), "")
	f.Fuzz(func(t *testing.T, rule1, rule2 string, addr []byte, port uint16, path string) {
		_, _ = NewRewriteTable(map[string]string{rule1: rule2, rule2: rule1})
		tbl, err := ParseRewrite(rule1, rule2)
		if err != nil {
			if !errors.Is(err, ErrInvalidRewrite) {
				t.Fatalf("ParseRewrite(%q, %q) = %v: not an ErrInvalidRewrite", rule1, rule2, err)
			}
			return
		}
		if tbl.Len() > 2 {
			t.Fatalf("%d rules from 2", tbl.Len())
		}
		if s := tbl.String(); !strings.Contains(rule1+rule2, ",") {
			again, err := ParseRewrite(strings.Split(s, ",")...)
			if err != nil || again.String() != s {
				t.Fatalf("ParseRewrite(%q, %q) prints as %q, which parses as %v, %v", rule1, rule2, s, again, err)
			}
		}

		// A destination to rewrite: an IP address (4 or 16 bytes) or a path.
		var sa Sockaddr
		switch {
		case len(addr) == 4:
			sa = Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP,
				Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte(addr)), port)}
		case len(addr) >= 16:
			sa = Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP,
				Addr: netip.AddrPortFrom(netip.AddrFrom16([16]byte(addr[:16])), port)}
		case path != "":
			sa = Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_STREAM, Path: path}
		default:
			sa = Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_UDP,
				Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), port)}
		}
		sa.origAddr, sa.origPath = sa.Addr, sa.Path
		before := sa
		if !tbl.Rewrite(&sa) {
			if sa.Addr != before.Addr || sa.Path != before.Path {
				t.Fatalf("Rewrite reported no match but changed %v to %v", before.String(), sa.String())
			}
			return
		}
		if sa.Addr.IsValid() == (sa.Path != "") {
			t.Fatalf("rewritten to %v and %q: want exactly one", sa.Addr, sa.Path)
		}
		if sa.Changed() {
			var buf [sockaddrStorage]byte
			if _, _, _, err := sa.Encode(buf[:]); err != nil {
				t.Fatalf("%s rewrites %s to %s, which cannot be written back: %v", tbl, before.String(), sa.String(), err)
			}
		}
	})
}
