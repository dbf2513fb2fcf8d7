//go:build linux

package sock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The deny-list of the destination policy (section 1), typed in again here so
// that the guard's own tables are checked against it rather than against
// themselves.
var guardRefDenied4 = []string{
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
	"192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",
	"192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
	"224.0.0.0/4", "240.0.0.0/4", "168.63.129.16/32",
}

// Inside 2000::/3 (the only IPv6 range allowed).
var guardRefDenied6 = []string{
	"2001::/23", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48", "3fff::/20",
}

// Outside 2000::/3, listed by the policy.
var guardRefOutside6 = []string{
	"::/128", "::1/128", "::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
	"5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
}

func guardPrefixes(list []string) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, s := range list {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// guardLast returns the last address of p, computed bytewise.
func guardLast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// guardRefDenied is the policy's verdict on an unmapped, unzoned address.
func guardRefDenied(a netip.Addr) bool {
	if a.Is4() {
		for _, p := range guardPrefixes(guardRefDenied4) {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !netip.MustParsePrefix("2000::/3").Contains(a) {
		return true
	}
	for _, p := range guardPrefixes(guardRefDenied6) {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// guardNet is the stream network for a.
func guardNet(a netip.Addr) string {
	if a.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

func TestGuardDefaultLists(t *testing.T) {
	sortP := func(p []netip.Prefix) []netip.Prefix {
		return slices.SortedFunc(slices.Values(p), func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	}
	cmpP := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	if d := cmp.Diff(sortP(guardPrefixes(guardRefDenied4)), sortP(DefaultDeniedIPv4()), cmpP); d != "" {
		t.Errorf("DefaultDeniedIPv4 (-policy +got):\n%s", d)
	}
	if d := cmp.Diff(sortP(guardPrefixes(guardRefDenied6)), sortP(DefaultDeniedIPv6()), cmpP); d != "" {
		t.Errorf("DefaultDeniedIPv6 (-policy +got):\n%s", d)
	}
	if got := DefaultAllowedIPv6(); got != netip.MustParsePrefix("2000::/3") {
		t.Errorf("DefaultAllowedIPv6 = %v", got)
	}
	if d := cmp.Diff(guardPrefixes([]string{"64:ff9b::/96", "64:ff9b:1::/48"}), NAT64Prefixes(), cmpP); d != "" {
		t.Errorf("NAT64Prefixes (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]uint16{80, 443}, DefaultPorts()); d != "" {
		t.Errorf("DefaultPorts (-want +got):\n%s", d)
	}

	// The lists are copies: changing them changes no guard.
	DefaultDeniedIPv4()[0] = netip.MustParsePrefix("8.8.8.0/24")
	DefaultDeniedIPv6()[0] = netip.MustParsePrefix("2606:4700::/32")
	DefaultPorts()[0] = 8080
	g := NewGuard()
	for _, s := range []string{"8.8.8.8:443", "[2606:4700::1111]:443", "1.1.1.1:80"} {
		if err := g.Control("tcp", s, nil); err != nil {
			t.Errorf("%s after changing the returned lists: %v", s, err)
		}
	}
	if err := g.Control("tcp4", "0.0.0.1:80", nil); !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("0.0.0.1 after changing the returned lists: %v", err)
	}
}

// Every prefix of the policy's deny-list is denied at its first and last
// address with a message naming it, and the addresses just outside it get the
// policy's verdict (allowed when global unicast and not in another prefix).
func TestGuardDenyListBoundaries(t *testing.T) {
	g := NewGuard()
	var prefixes []netip.Prefix
	prefixes = append(prefixes, guardPrefixes(guardRefDenied4)...)
	prefixes = append(prefixes, guardPrefixes(guardRefDenied6)...)
	allowedOutside := 0
	for _, p := range prefixes {
		for _, a := range []netip.Addr{p.Addr(), guardLast(p)} {
			err := g.Check(guardNet(a), netip.AddrPortFrom(a, 443))
			if !errors.Is(err, ErrProhibitedIP) {
				t.Errorf("%s (in %s): got %v, want ErrProhibitedIP", a, p, err)
				continue
			}
			if want := fmt.Sprintf("%s is in %s (", a, p); !strings.Contains(err.Error(), want) {
				t.Errorf("%s: message %q does not contain %q", a, err, want)
			}
		}
		for _, a := range []netip.Addr{p.Addr().Prev(), guardLast(p).Next()} {
			if !a.IsValid() {
				continue // 0.0.0.0/8 and 240.0.0.0/4 reach the ends of IPv4
			}
			err := g.Check(guardNet(a), netip.AddrPortFrom(a, 443))
			if want := guardRefDenied(a); want != (err != nil) {
				t.Errorf("%s (just outside %s): got %v, want denied=%v", a, p, err, want)
			}
			if err == nil {
				allowedOutside++
			}
		}
	}
	// The same IPv4 boundaries, IPv4-mapped as libcurl passes them (AF_INET6).
	for _, p := range guardPrefixes(guardRefDenied4) {
		for _, a := range []netip.Addr{p.Addr(), guardLast(p), p.Addr().Prev(), guardLast(p).Next()} {
			if !a.IsValid() {
				continue
			}
			mapped := netip.AddrFrom16(a.As16())
			err := g.Check("tcp6", netip.AddrPortFrom(mapped, 443))
			if want := guardRefDenied(a); want != (err != nil) || err != nil && !errors.Is(err, ErrProhibitedIP) {
				t.Errorf("%s (mapped, around %s): got %v, want denied=%v", mapped, p, err, want)
			}
		}
	}
	// Most neighbours are ordinary global unicast addresses.
	if allowedOutside < 30 {
		t.Errorf("only %d neighbours allowed", allowedOutside)
	}

	for _, s := range guardRefOutside6 {
		p := netip.MustParsePrefix(s)
		for _, a := range []netip.Addr{p.Addr(), guardLast(p)} {
			err := g.Check("tcp6", netip.AddrPortFrom(a, 443))
			if !errors.Is(err, ErrProhibitedIP) || !strings.Contains(err.Error(), "is outside 2000::/3 (not global unicast)") {
				t.Errorf("%s (in %s): got %v, want outside 2000::/3", a, p, err)
			}
		}
	}
}

func TestGuardNeighbours(t *testing.T) {
	g := NewGuard()
	for _, tc := range []struct {
		addr string
		rule string // "" when allowed
	}{
		{"9.255.255.255", ""},
		{"10.0.0.0", "10.0.0.0/8"},
		{"10.255.255.255", "10.0.0.0/8"},
		{"11.0.0.0", ""},
		{"0.0.0.0", "0.0.0.0/8"},
		{"1.0.0.0", ""},
		{"100.63.255.255", ""},
		{"100.64.0.0", "100.64.0.0/10"},
		{"100.127.255.255", "100.64.0.0/10"},
		{"100.128.0.0", ""},
		{"168.63.129.15", ""},
		{"168.63.129.16", "168.63.129.16/32"},
		{"168.63.129.17", ""},
		{"169.254.169.254", "169.254.0.0/16"},
		{"172.15.255.255", ""},
		{"172.32.0.0", ""},
		{"192.0.0.255", "192.0.0.0/24"},
		{"192.0.1.0", ""},
		{"192.0.1.255", ""},
		{"192.0.2.0", "192.0.2.0/24"},
		{"223.255.255.255", ""},
		{"255.255.255.255", "240.0.0.0/4"},
		{"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "outside 2000::/3"},
		{"2000::", ""},
		{"2001::", "2001::/23"},             // Teredo
		{"2001:0:4136:e378::", "2001::/23"}, // Teredo, RFC 4380's example server
		{"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", "2001::/23"},
		{"2001:200::", ""},
		{"2001:4860::1", ""},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"2001:db8::1", "2001:db8::/32"},
		{"2001:db9::", ""},
		{"2002::", "2002::/16"},
		{"2002:a00:1::", "2002::/16"}, // 6to4 for 10.0.0.1
		{"2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "2002::/16"},
		{"2003::", ""},
		{"2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", ""},
		{"2620:4f:8000::", "2620:4f:8000::/48"},
		{"2620:4f:8001::", ""},
		{"2606:4700::1111", ""},
		{"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"3fff::", "3fff::/20"},
		{"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", "3fff::/20"},
		{"3fff:1000::", ""},
		{"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", ""},
		{"4000::", "outside 2000::/3"},
		{"::", "::/128"},
		{"::1", "::1/128"},
		{"::2", "::/96"},
		{"::8.8.8.8", "::/96"}, // IPv4-compatible
		{"::127.0.0.1", "::/96"},
		{"::ffff:0:8.8.8.8", "::ffff:0:0:0/96"}, // IPv4-translated
		{"::ffff:0:7f00:1", "::ffff:0:0:0/96"},
		{"64:ff9b::8.8.8.8", "64:ff9b::/96"},
		{"64:ff9b:1::808:808", "64:ff9b:1::/48"},
		{"100::1", "100::/64"},
		{"5f00::1", "5f00::/16"},
		{"fc00::1", "fc00::/7"},
		{"fd00:ec2::254", "fc00::/7"},
		{"fe80::1", "fe80::/10"},
		{"fec0::1", "fec0::/10"},
		{"ff02::1", "ff00::/8"},
		// IPv4-mapped: judged as IPv4.
		{"::ffff:127.0.0.1", "127.0.0.0/8"},
		{"::ffff:10.0.0.1", "10.0.0.0/8"},
		{"::ffff:0.0.0.0", "0.0.0.0/8"},
		{"::ffff:169.254.169.254", "169.254.0.0/16"},
		{"::ffff:168.63.129.16", "168.63.129.16/32"},
		{"::ffff:8.8.8.8", ""},
	} {
		a := netip.MustParseAddr(tc.addr)
		err := g.Check(guardNet(a), netip.AddrPortFrom(a, 443))
		if tc.rule == "" {
			if err != nil {
				t.Errorf("%s: %v, want allowed", tc.addr, err)
			}
			continue
		}
		if !errors.Is(err, ErrProhibitedIP) || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("%s: %v, want ErrProhibitedIP naming %s", tc.addr, err, tc.rule)
		}
		if a.Is6() && !a.Is4In6() && (err == nil || !strings.HasPrefix(err.Error(), "curlsock: prohibited IP: "+a.String()+" ")) {
			t.Errorf("%s: message %q does not start with the address", tc.addr, err)
		}
	}
}

func TestGuardMessages(t *testing.T) {
	for _, tc := range []struct {
		opts    []GuardOption
		network string
		addr    string
		want    string
	}{
		{nil, "tcp4", "10.1.2.3:80", "curlsock: prohibited IP: 10.1.2.3 is in 10.0.0.0/8 (private-use, RFC 1918)"},
		{nil, "tcp6", "[::1]:80", "curlsock: prohibited IP: ::1 is outside 2000::/3 (not global unicast), in ::1/128 (loopback)"},
		{nil, "tcp6", "[4000::1]:80", "curlsock: prohibited IP: 4000::1 is outside 2000::/3 (not global unicast)"},
		{nil, "tcp6", "[fe80::1%eth0]:80", "curlsock: prohibited IP: fe80::1%eth0 is outside 2000::/3 (not global unicast), in fe80::/10 (link-local)"},
		{nil, "tcp6", "[::ffff:127.0.0.1]:80", "curlsock: prohibited IP: ::ffff:127.0.0.1 (IPv4-mapped 127.0.0.1) is in 127.0.0.0/8 (loopback, RFC 1122)"},
		{nil, "tcp6", "[2001:db8::1]:443", "curlsock: prohibited IP: 2001:db8::1 is in 2001:db8::/32 (documentation, RFC 3849)"},
		{[]GuardOption{WithDeniedPrefixes(netip.MustParsePrefix("203.0.113.0/24"))}, "tcp4", "203.0.113.7:443",
			"curlsock: prohibited IP: 203.0.113.7 is denied by WithDeniedPrefixes 203.0.113.0/24"},
		{[]GuardOption{WithNAT64()}, "tcp6", "[64:ff9b::a00:1]:443",
			"curlsock: prohibited IP: 64:ff9b::a00:1 (NAT64 for 10.0.0.1) is in 10.0.0.0/8 (private-use, RFC 1918)"},
		{[]GuardOption{WithNAT64()}, "tcp6", "[64:ff9b:1:abcd:a:0:100:0]:443",
			"curlsock: prohibited IP: 64:ff9b:1:abcd:a:0:100:0 (NAT64 for 10.0.0.1 with a /64 prefix) is in 10.0.0.0/8 (private-use, RFC 1918)"},
		{nil, "tcp4", "8.8.8.8:8080", "curlsock: prohibited port: port 8080 of 8.8.8.8:8080 is not allowed (the default ports 80, 443; see WithPorts)"},
		{[]GuardOption{WithPorts(8443, 8080)}, "tcp4", "8.8.8.8:80", "curlsock: prohibited port: port 80 of 8.8.8.8:80 is not allowed (WithPorts allows 8080, 8443)"},
		{[]GuardOption{WithPorts()}, "tcp4", "8.8.8.8:80", "curlsock: prohibited port: port 80 of 8.8.8.8:80 is not allowed (WithPorts allows none)"},
		{nil, "udp4", "8.8.8.8:443", "curlsock: prohibited network: udp4 sockets are not stream sockets (denied by default; see WithDatagram)"},
		{nil, "ip4:icmp", "8.8.8.8", `curlsock: prohibited network: unknown network "ip4:icmp"`},
		{nil, "unix", "/run/app.sock", `curlsock: prohibited address family: unix socket "/run/app.sock" (AF_UNIX is denied by default; see WithUnixSockets)`},
		{nil, "tcp4", "[2001:4860::1]:443", "curlsock: prohibited address family: network tcp4 cannot carry the IPv6 address 2001:4860::1"},
		{nil, "tcp", "localhost:80", `curlsock: prohibited IP: tcp address "localhost:80": ParseAddr("localhost"): unable to parse IP`},
	} {
		err := NewGuard(tc.opts...).Control(tc.network, tc.addr, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s %s:\n got %v\nwant %s", tc.network, tc.addr, err, tc.want)
		}
	}
}

func TestGuardZones(t *testing.T) {
	g := NewGuard()
	for _, tc := range []struct {
		addr    string
		allowed bool
	}{
		{"[fe80::1%eth0]:443", false},
		{"[fe80::1%1]:443", false},
		{"[2001:4860::1%eth0]:443", true}, // judged without the zone
		{"[2001:db8::1%eth0]:443", false},
		{"[::ffff:10.0.0.1%eth0]:443", false},
		{"[ff02::1%lo]:443", false},
	} {
		if err := g.Control("tcp6", tc.addr, nil); (err == nil) != tc.allowed {
			t.Errorf("%s: %v, want allowed=%v", tc.addr, err, tc.allowed)
		}
	}
	// Explicit lists apply to zoned addresses too.
	g = NewGuard(WithDeniedPrefixes(netip.MustParsePrefix("2001:4860::/32")),
		WithAllowedPrefixes(netip.MustParsePrefix("fe80::/10")))
	if err := g.Control("tcp6", "[2001:4860::1%eth0]:443", nil); !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("zoned address in a denied prefix: %v", err)
	}
	if err := g.Control("tcp6", "[fe80::1%eth0]:443", nil); err != nil {
		t.Errorf("zoned address in an allowed prefix: %v", err)
	}
}

func TestGuardNAT64(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []GuardOption
		addr    string
		allowed bool
	}{
		{"default", nil, "64:ff9b::8.8.8.8", false},
		{"default", nil, "64:ff9b:1::808:808", false},
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b::8.8.8.8", true},
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b::a00:1", false},       // 10.0.0.1
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b::7f00:1", false},      // 127.0.0.1
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b::a9fe:a9fe", false},   // 169.254.169.254
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b::", false},            // 0.0.0.0
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b::1:0:808:808", false}, // not in 64:ff9b::/96, outside 2000::/3
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b:1::808:808", true},    // /96 layout only
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b:1::a00:1", false},
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b:1:abcd:8:808:800:0", true}, // /64 layout 8.8.8.8; /96 reads 8.0.0.0
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b:1:abcd:a:0:100:0", false},  // /64 layout 10.0.0.1
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b:1:a00:0:100::", false},     // /48 layout 10.0.0.1
		{"nat64", []GuardOption{WithNAT64()}, "64:ff9b:1:0:100::808:808", false},  // u octet set: no RFC 6052 address
		{"nat64 deny v4", []GuardOption{WithNAT64(), WithDeniedPrefixes(netip.MustParsePrefix("8.8.8.0/24"))}, "64:ff9b::8.8.8.8", false},
		{"nat64 deny v6", []GuardOption{WithNAT64(), WithDeniedPrefixes(netip.MustParsePrefix("64:ff9b::808:800/120"))}, "64:ff9b::8.8.8.8", false},
		{"nat64 allow v4", []GuardOption{WithNAT64(), WithAllowedPrefixes(netip.MustParsePrefix("10.0.0.0/8"))}, "64:ff9b::a00:1", true},
		{"nat64 allow v6", []GuardOption{WithNAT64(), WithAllowedPrefixes(netip.MustParsePrefix("64:ff9b::/96"))}, "64:ff9b::a00:1", true},
		{"nat64 allow v6 deny v4", []GuardOption{WithNAT64(), WithAllowedPrefixes(netip.MustParsePrefix("64:ff9b::/96")),
			WithDeniedPrefixes(netip.MustParsePrefix("10.0.0.0/24"))}, "64:ff9b::a00:1", false},
		{"allow v6 without nat64", []GuardOption{WithAllowedPrefixes(netip.MustParsePrefix("64:ff9b::/96"))}, "64:ff9b::a00:1", true},
	} {
		err := NewGuard(tc.opts...).Check("tcp6", netip.AddrPortFrom(netip.MustParseAddr(tc.addr), 443))
		if (err == nil) != tc.allowed || err != nil && !errors.Is(err, ErrProhibitedIP) {
			t.Errorf("%s %s: %v, want allowed=%v", tc.name, tc.addr, err, tc.allowed)
		}
	}
}

func TestGuardPortsNetworksFamilies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []GuardOption
		network string
		addr    string
		want    error
	}{
		{"80", nil, "tcp4", "8.8.8.8:80", nil},
		{"443", nil, "tcp6", "[2606:4700::1111]:443", nil},
		{"8080", nil, "tcp4", "8.8.8.8:8080", ErrProhibitedPort},
		{"0", nil, "tcp4", "8.8.8.8:0", ErrProhibitedPort},
		{"WithPorts 8080", []GuardOption{WithPorts(8080)}, "tcp4", "8.8.8.8:8080", nil},
		{"WithPorts replaces 80", []GuardOption{WithPorts(8080)}, "tcp4", "8.8.8.8:80", ErrProhibitedPort},
		{"WithPorts replaces 443", []GuardOption{WithPorts(8080)}, "tcp4", "8.8.8.8:443", ErrProhibitedPort},
		{"WithPorts twice", []GuardOption{WithPorts(8080), WithPorts(9090)}, "tcp4", "8.8.8.8:8080", ErrProhibitedPort},
		{"WithPorts none", []GuardOption{WithPorts()}, "tcp4", "8.8.8.8:443", ErrProhibitedPort},
		{"WithAnyPort", []GuardOption{WithAnyPort()}, "tcp4", "8.8.8.8:22", nil},
		{"WithAnyPort then WithPorts", []GuardOption{WithAnyPort(), WithPorts(8080)}, "tcp4", "8.8.8.8:22", ErrProhibitedPort},
		{"WithPorts then WithAnyPort", []GuardOption{WithPorts(8080), WithAnyPort()}, "tcp4", "8.8.8.8:22", nil},
		{"allowed prefix keeps ports", []GuardOption{WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8"))}, "tcp4", "127.0.0.1:22", ErrProhibitedPort},
		{"IP before port", nil, "tcp4", "127.0.0.1:22", ErrProhibitedIP},

		{"udp4", nil, "udp4", "8.8.8.8:443", ErrProhibitedNetwork},
		{"udp6", nil, "udp6", "[2606:4700::1111]:443", ErrProhibitedNetwork},
		{"udp", nil, "udp", "8.8.8.8:443", ErrProhibitedNetwork},
		{"udp4 WithDatagram", []GuardOption{WithDatagram()}, "udp4", "8.8.8.8:443", nil},
		{"udp6 WithDatagram", []GuardOption{WithDatagram()}, "udp6", "[2606:4700::1111]:443", nil},
		{"udp4 WithDatagram private", []GuardOption{WithDatagram()}, "udp4", "10.0.0.1:443", ErrProhibitedIP},
		{"tcp", nil, "tcp", "8.8.8.8:443", nil},
		{"unknown network", nil, "sctp", "8.8.8.8:443", ErrProhibitedNetwork},
		{"raw ip", []GuardOption{WithDatagram()}, "ip4:icmp", "8.8.8.8", ErrProhibitedNetwork},
		{"empty network", nil, "", "8.8.8.8:443", ErrProhibitedNetwork},
		{"tcp4 with IPv6", nil, "tcp4", "[2606:4700::1111]:443", ErrProhibitedFamily},
		{"tcp6 with IPv4", nil, "tcp6", "8.8.8.8:443", ErrProhibitedFamily},
		{"tcp4 with mapped", nil, "tcp4", "[::ffff:8.8.8.8]:443", nil},
		{"tcp6 with mapped", nil, "tcp6", "[::ffff:8.8.8.8]:443", nil},
		{"unparsable", nil, "tcp4", "8.8.8.8", ErrProhibitedIP},
		{"name", nil, "tcp4", "example.com:443", ErrProhibitedIP},

		{"unix", nil, "unix", "/run/app.sock", ErrProhibitedFamily},
		{"unix abstract", nil, "unix", "@app", ErrProhibitedFamily},
		{"unix WithUnixSockets", []GuardOption{WithUnixSockets()}, "unix", "/run/app.sock", nil},
		{"unix abstract WithUnixSockets", []GuardOption{WithUnixSockets()}, "unix", "@app", nil},
		{"unix empty path", []GuardOption{WithUnixSockets()}, "unix", "", ErrProhibitedFamily},
		{"unixgram WithUnixSockets", []GuardOption{WithUnixSockets()}, "unixgram", "/run/app.sock", ErrProhibitedNetwork},
		{"unixpacket WithUnixSockets", []GuardOption{WithUnixSockets()}, "unixpacket", "/run/app.sock", ErrProhibitedNetwork},
		{"unixgram both", []GuardOption{WithUnixSockets(), WithDatagram()}, "unixgram", "/run/app.sock", nil},
		{"unixgram WithDatagram only", []GuardOption{WithDatagram()}, "unixgram", "/run/app.sock", ErrProhibitedFamily},
	} {
		err := NewGuard(tc.opts...).Control(tc.network, tc.addr, nil)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: Control(%q, %q) = %v, want %v", tc.name, tc.network, tc.addr, err, tc.want)
		}
		ctxErr := NewGuard(tc.opts...).ControlContext(context.Background(), tc.network, tc.addr, nil)
		if fmt.Sprint(ctxErr) != fmt.Sprint(err) {
			t.Errorf("%s: ControlContext = %v, Control = %v", tc.name, ctxErr, err)
		}
		// Exactly one sentinel per denial.
		n := 0
		for _, s := range []error{ErrProhibitedIP, ErrProhibitedPort, ErrProhibitedNetwork, ErrProhibitedFamily} {
			if errors.Is(err, s) {
				n++
			}
		}
		if err != nil && n != 1 {
			t.Errorf("%s: %v wraps %d sentinels", tc.name, err, n)
		}
	}
}

func TestGuardCheckMisuse(t *testing.T) {
	g := NewGuard(WithUnixSockets())
	if err := g.Check("unix", netip.MustParseAddrPort("8.8.8.8:443")); !errors.Is(err, ErrProhibitedNetwork) {
		t.Errorf("Check(unix): %v", err)
	}
	if err := g.CheckUnix("tcp4", "/run/app.sock"); !errors.Is(err, ErrProhibitedNetwork) {
		t.Errorf("CheckUnix(tcp4): %v", err)
	}
	if err := g.CheckUnix("bogus", "/run/app.sock"); !errors.Is(err, ErrProhibitedNetwork) {
		t.Errorf("CheckUnix(bogus): %v", err)
	}
	if err := g.Check("tcp4", netip.AddrPort{}); !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("Check(zero AddrPort): %v", err)
	}
	if err := g.CheckAddr(netip.Addr{}); !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("CheckAddr(zero Addr): %v", err)
	}
	if err := g.CheckAddr(netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("CheckAddr(127.0.0.1): %v", err)
	}
	if err := g.CheckAddr(netip.MustParseAddr("8.8.8.8")); err != nil {
		t.Errorf("CheckAddr(8.8.8.8): %v", err)
	}
}

func TestGuardPrecedence(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name    string
		opts    []GuardOption
		addr    string
		allowed bool
		rule    string
	}{
		{"default loopback", nil, "127.0.0.1:80", false, "127.0.0.0/8"},
		{"allow loopback", []GuardOption{WithAllowedPrefixes(p("127.0.0.0/8"))}, "127.0.0.1:80", true, ""},
		{"allow is narrow", []GuardOption{WithAllowedPrefixes(p("127.0.0.1/32"))}, "127.0.0.2:80", false, "127.0.0.0/8"},
		{"allow mapped prefix", []GuardOption{WithAllowedPrefixes(p("::ffff:127.0.0.0/104"))}, "127.0.0.1:80", true, ""},
		{"allow v4 reaches mapped", []GuardOption{WithAllowedPrefixes(p("127.0.0.0/8"))}, "[::ffff:127.0.0.1]:80", true, ""},
		{"allow v6 outside 2000::/3", []GuardOption{WithAllowedPrefixes(p("fd00::/8"))}, "[fd00::1]:80", true, ""},
		{"allow inside 2000::/3", []GuardOption{WithAllowedPrefixes(p("2001:db8::/48"))}, "[2001:db8::1]:80", true, ""},
		{"deny global", []GuardOption{WithDeniedPrefixes(p("8.8.8.0/24"))}, "8.8.8.8:443", false, "WithDeniedPrefixes 8.8.8.0/24"},
		{"deny wins over allow", []GuardOption{WithDeniedPrefixes(p("8.8.8.0/24")), WithAllowedPrefixes(p("8.8.8.8/32"))}, "8.8.8.8:443", false, "WithDeniedPrefixes 8.8.8.0/24"},
		{"deny wins over wider allow", []GuardOption{WithAllowedPrefixes(p("0.0.0.0/0")), WithDeniedPrefixes(p("8.8.8.8/32"))}, "8.8.8.8:443", false, "WithDeniedPrefixes 8.8.8.8/32"},
		{"deny wins over default", []GuardOption{WithDeniedPrefixes(p("10.0.0.0/8"))}, "10.0.0.1:443", false, "WithDeniedPrefixes 10.0.0.0/8"},
		{"deny mapped prefix", []GuardOption{WithDeniedPrefixes(p("::ffff:8.8.8.0/120"))}, "8.8.8.8:443", false, "WithDeniedPrefixes 8.8.8.0/24"},
		{"deny v4 reaches mapped", []GuardOption{WithDeniedPrefixes(p("8.8.8.0/24"))}, "[::ffff:8.8.8.8]:443", false, "WithDeniedPrefixes 8.8.8.0/24"},
		{"deny v6", []GuardOption{WithDeniedPrefixes(p("2606:4700::/32"))}, "[2606:4700::1111]:443", false, "WithDeniedPrefixes 2606:4700::/32"},
		{"deny nested", []GuardOption{WithDeniedPrefixes(p("8.8.8.8/32"), p("8.0.0.0/8"), p("8.8.0.0/16"))}, "8.9.9.9:443", false, "WithDeniedPrefixes 8.0.0.0/8"},
		{"deny unmasked", []GuardOption{WithDeniedPrefixes(netip.PrefixFrom(netip.MustParseAddr("8.8.8.8"), 24))}, "8.8.8.1:443", false, "WithDeniedPrefixes 8.8.8.0/24"},
		{"deny ::/0 leaves IPv4", []GuardOption{WithDeniedPrefixes(p("::/0"))}, "8.8.8.8:443", true, ""},
		{"deny ::/0 leaves mapped", []GuardOption{WithDeniedPrefixes(p("::/0"))}, "[::ffff:8.8.8.8]:443", true, ""},
		{"deny 0.0.0.0/0 leaves IPv6", []GuardOption{WithDeniedPrefixes(p("0.0.0.0/0"))}, "[2606:4700::1111]:443", true, ""},
		{"invalid prefix ignored", []GuardOption{WithDeniedPrefixes(netip.Prefix{})}, "8.8.8.8:443", true, ""},
		{"allow replaced", []GuardOption{WithAllowedPrefixes(p("127.0.0.0/8")), WithAllowedPrefixes(p("10.0.0.0/8"))}, "127.0.0.1:80", false, "127.0.0.0/8"},
		{"allow cleared", []GuardOption{WithAllowedPrefixes(p("127.0.0.0/8")), WithAllowedPrefixes()}, "127.0.0.1:80", false, "127.0.0.0/8"},
		{"deny replaced", []GuardOption{WithDeniedPrefixes(p("8.8.8.0/24")), WithDeniedPrefixes(p("1.1.1.0/24"))}, "8.8.8.8:443", true, ""},
		{"nil option", []GuardOption{nil}, "8.8.8.8:443", true, ""},
	} {
		err := NewGuard(tc.opts...).Control("tcp", tc.addr, nil)
		if tc.allowed {
			if err != nil {
				t.Errorf("%s: %v, want allowed", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrProhibitedIP) || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("%s: %v, want ErrProhibitedIP naming %q", tc.name, err, tc.rule)
		}
	}

	// An option keeps its own copy of the caller's slice.
	prefixes := []netip.Prefix{p("8.8.8.0/24")}
	opt := WithDeniedPrefixes(prefixes...)
	prefixes[0] = p("1.1.1.0/24")
	if err := NewGuard(opt).Control("tcp4", "8.8.8.8:443", nil); !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("option changed with its argument slice: %v", err)
	}
	ports := []uint16{8080}
	popt := WithPorts(ports...)
	ports[0] = 22
	if err := NewGuard(popt).Control("tcp4", "8.8.8.8:8080", nil); err != nil {
		t.Errorf("WithPorts changed with its argument slice: %v", err)
	}
}

func TestGuardCheckSockaddr(t *testing.T) {
	a := netip.MustParseAddrPort
	for _, tc := range []struct {
		name string
		opts []GuardOption
		sa   *Sockaddr
		want error
	}{
		{"inet", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("8.8.8.8:443")}, nil},
		{"inet private", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("10.0.0.1:443")}, ErrProhibitedIP},
		{"inet port", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("8.8.8.8:25")}, ErrProhibitedPort},
		{"inet6", nil, &Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("[2606:4700::1111]:443")}, nil},
		// libcurl's form of [::ffff:127.0.0.1]: AF_INET6 with a mapped address.
		{"inet6 mapped loopback", nil, &Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("[::ffff:127.0.0.1]:80")}, ErrProhibitedIP},
		{"inet6 mapped global", nil, &Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("[::ffff:8.8.8.8]:80")}, nil},
		{"inet6 zoned link-local", nil, &Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("[fe80::1%1]:80")}, ErrProhibitedIP},
		{"udp", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_UDP, Addr: a("8.8.8.8:443")}, ErrProhibitedNetwork},
		{"udp WithDatagram", []GuardOption{WithDatagram()}, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_UDP, Addr: a("8.8.8.8:443")}, nil},
		{"raw", []GuardOption{WithDatagram()}, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_RAW, Addr: a("8.8.8.8:443")}, ErrProhibitedNetwork},
		{"unix", nil, &Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_STREAM, Path: "/run/app.sock"}, ErrProhibitedFamily},
		{"unix WithUnixSockets", []GuardOption{WithUnixSockets()}, &Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_STREAM, Path: "/run/app.sock"}, nil},
		{"unix abstract WithUnixSockets", []GuardOption{WithUnixSockets()}, &Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_STREAM, Path: "@app"}, nil},
		{"unixgram WithUnixSockets", []GuardOption{WithUnixSockets()}, &Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_DGRAM, Path: "/run/app.sock"}, ErrProhibitedNetwork},
		{"unix raw", []GuardOption{WithUnixSockets()}, &Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_RAW, Path: "/run/app.sock"}, ErrProhibitedNetwork},
		{"unix raw denied family", nil, &Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_RAW, Path: "/run/app.sock"}, ErrProhibitedFamily},
		// A rewrite from TCP to a unix socket is judged as a unix socket.
		{"rewritten to unix", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Path: "/run/app.sock"}, ErrProhibitedFamily},
		{"rewritten to IPv6", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: a("[::1]:80")}, ErrProhibitedIP},
		{"both", []GuardOption{WithUnixSockets()}, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM, Addr: a("8.8.8.8:443"), Path: "/run/app.sock"}, ErrProhibitedFamily},
		{"unknown family", nil, &Sockaddr{Family: unix.AF_PACKET, Socktype: unix.SOCK_RAW}, ErrProhibitedFamily},
		{"unknown family stream", []GuardOption{WithUnixSockets(), WithDatagram()}, &Sockaddr{Family: unix.AF_NETLINK, Socktype: unix.SOCK_STREAM}, ErrProhibitedFamily},
		{"inet without address", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_STREAM}, ErrProhibitedIP},
		{"raw inet without address", nil, &Sockaddr{Family: unix.AF_INET, Socktype: unix.SOCK_RAW}, ErrProhibitedFamily},
		{"nil", nil, nil, ErrProhibitedFamily},
	} {
		err := NewGuard(tc.opts...).CheckSockaddr(tc.sa)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: CheckSockaddr(%v) = %v, want %v", tc.name, tc.sa, err, tc.want)
		}
	}
}

// Sockaddr.Network and the kind CheckSockaddr uses agree with the destination.
func TestGuardSockaddrNetwork(t *testing.T) {
	for _, family := range []int{unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, unix.AF_PACKET} {
		for _, socktype := range []int{unix.SOCK_STREAM, unix.SOCK_DGRAM, unix.SOCK_SEQPACKET, unix.SOCK_RAW} {
			for _, dest := range []struct {
				addr netip.AddrPort
				path string
			}{
				{},
				{addr: netip.MustParseAddrPort("8.8.8.8:443")},
				{addr: netip.MustParseAddrPort("[2606:4700::1111]:443")},
				{addr: netip.MustParseAddrPort("[::ffff:8.8.8.8]:443")},
				{path: "/run/app.sock"},
				{addr: netip.MustParseAddrPort("8.8.8.8:443"), path: "/run/app.sock"},
			} {
				sa := &Sockaddr{Family: family, Socktype: socktype, Addr: dest.addr, Path: dest.path}
				got, kind := sockaddrNetwork(sa)
				if want := parseNetwork(got); kind != want {
					t.Errorf("family %d socktype %d %v: sockaddrNetwork kind = %+v, parseNetwork(%q) = %+v", family, socktype, sa, kind, got, want)
				}
				// A name, when there is one, names the destination's family
				// and the socket type.
				destFamily, _, err := sa.destination()
				known := err == nil && (destFamily == unix.AF_INET || destFamily == unix.AF_INET6 || destFamily == unix.AF_UNIX) &&
					(socktype == unix.SOCK_STREAM || socktype == unix.SOCK_DGRAM || socktype == unix.SOCK_SEQPACKET && destFamily == unix.AF_UNIX)
				if (got != "") != known || known && (kind.family != destFamily || kind.stream != (socktype == unix.SOCK_STREAM)) {
					t.Errorf("family %d socktype %d %v: network %q (%+v), destination family %d", family, socktype, sa, got, kind, destFamily)
				}
			}
		}
	}
}

func TestGuardNil(t *testing.T) {
	var g *Guard
	if err := g.Control("tcp4", "127.0.0.1:80", nil); !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("nil guard, 127.0.0.1: %v", err)
	}
	if err := g.Check("tcp4", netip.MustParseAddrPort("8.8.8.8:443")); err != nil {
		t.Errorf("nil guard, 8.8.8.8: %v", err)
	}
	if g.String() != NewGuard().String() {
		t.Errorf("nil guard String = %q", g.String())
	}
}

func TestGuardString(t *testing.T) {
	for _, tc := range []struct {
		opts []GuardOption
		want string
	}{
		{nil, "sock.Guard{ports: 80, 443; sockets: stream; unix: denied; nat64: denied; allow: []; deny: []}"},
		{[]GuardOption{WithAnyPort(), WithDatagram(), WithUnixSockets(), WithNAT64(),
			WithAllowedPrefixes(netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("127.0.0.0/8")),
			WithDeniedPrefixes(netip.MustParsePrefix("::ffff:8.8.8.0/120"))},
			"sock.Guard{ports: any; sockets: stream and datagram; unix: allowed; nat64: decoded; allow: [127.0.0.0/8 fd00::/8]; deny: [8.8.8.0/24]}"},
	} {
		if got := NewGuard(tc.opts...).String(); got != tc.want {
			t.Errorf("String:\n got %s\nwant %s", got, tc.want)
		}
	}
}

// acceptAndClose listens on address and closes every connection it accepts,
// until the test ends.
func acceptAndClose(t *testing.T, network, address string) net.Listener {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// The guard as a net.Dialer's Control, against a listener on loopback (the
// only address this test dials).
func TestGuardDialer(t *testing.T) {
	ln := acceptAndClose(t, "tcp4", "127.0.0.1:0")
	ctx := context.Background()

	var sawConn bool
	deny := NewGuard()
	d := net.Dialer{Control: func(network, address string, c syscall.RawConn) error {
		sawConn = c != nil
		return deny.Control(network, address, c)
	}}
	_, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("default guard dialing %s: %v, want ErrProhibitedIP", ln.Addr(), err)
	}
	if !sawConn {
		t.Error("Control was not given a RawConn")
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("error %T is not a *net.OpError", err)
	}

	// Go hands a mapped address to Control unmapped, as tcp4.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	_, err = (&net.Dialer{Control: deny.Control}).DialContext(ctx, "tcp", net.JoinHostPort("::ffff:127.0.0.1", port))
	if !errors.Is(err, ErrProhibitedIP) {
		t.Errorf("default guard dialing [::ffff:127.0.0.1]: %v, want ErrProhibitedIP", err)
	}

	allow := NewGuard(WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8")), WithAnyPort())
	for _, d := range []*net.Dialer{{Control: allow.Control}, {ControlContext: allow.ControlContext}} {
		c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Errorf("allowing guard dialing %s: %v", ln.Addr(), err)
			continue
		}
		c.Close()
	}

	// Allowed prefix, default ports: the port check still denies.
	_, err = (&net.Dialer{ControlContext: NewGuard(WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8"))).ControlContext}).DialContext(ctx, "tcp", ln.Addr().String())
	if !errors.Is(err, ErrProhibitedPort) {
		t.Errorf("allowed prefix on port %s: %v, want ErrProhibitedPort", port, err)
	}
}

func TestGuardDialerUnix(t *testing.T) {
	path := filepath.Join(t.TempDir(), "guard.sock")
	acceptAndClose(t, "unix", path)
	_, err := (&net.Dialer{Control: NewGuard().Control}).Dial("unix", path)
	if !errors.Is(err, ErrProhibitedFamily) {
		t.Errorf("default guard dialing unix socket: %v, want ErrProhibitedFamily", err)
	}
	c, err := (&net.Dialer{Control: NewGuard(WithUnixSockets()).Control}).Dial("unix", path)
	if err != nil {
		t.Errorf("WithUnixSockets dialing unix socket: %v", err)
	} else {
		c.Close()
	}
}

func TestGuardConcurrent(t *testing.T) {
	g := NewGuard(WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8")),
		WithDeniedPrefixes(netip.MustParsePrefix("8.8.4.0/24")), WithNAT64())
	cases := []struct {
		network, addr string
		allowed       bool
	}{
		{"tcp4", "8.8.8.8:443", true},
		{"tcp4", "8.8.4.4:443", false},
		{"tcp4", "127.0.0.1:80", true},
		{"tcp4", "10.0.0.1:80", false},
		{"tcp6", "[2606:4700::1111]:443", true},
		{"tcp6", "[::1]:443", false},
		{"tcp6", "[::ffff:10.0.0.1]:443", false},
		{"tcp6", "[64:ff9b::8.8.8.8]:443", true},
		{"tcp6", "[64:ff9b::8.8.4.4]:443", false},
		{"udp4", "8.8.8.8:443", false},
		{"unix", "/run/app.sock", false},
		{"tcp4", "8.8.8.8:8080", false},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				tc := cases[(w+i)%len(cases)]
				if err := g.Control(tc.network, tc.addr, nil); (err == nil) != tc.allowed {
					select {
					case errs <- fmt.Sprintf("%s %s: %v, want allowed=%v", tc.network, tc.addr, err, tc.allowed):
					default:
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// The allow path does not allocate.
func TestGuardAllowAllocs(t *testing.T) {
	g := NewGuard(WithNAT64(), WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8")),
		WithDeniedPrefixes(netip.MustParsePrefix("8.8.4.0/24"), netip.MustParsePrefix("2001:4860::/32")))
	v4 := netip.MustParseAddrPort("8.8.8.8:443")
	v6 := netip.MustParseAddrPort("[2606:4700::1111]:443")
	mapped := netip.MustParseAddrPort("[::ffff:1.1.1.1]:80")
	nat64 := netip.MustParseAddrPort("[64:ff9b::808:808]:443")
	sa := &Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: v6}
	n := testing.AllocsPerRun(100, func() {
		if g.Check("tcp4", v4) != nil || g.Check("tcp6", v6) != nil || g.Check("tcp6", mapped) != nil ||
			g.Check("tcp6", nat64) != nil || g.CheckSockaddr(sa) != nil ||
			g.Control("tcp4", "127.0.0.1:80", nil) != nil || g.Control("tcp6", "[2606:4700::1111]:443", nil) != nil {
			panic("denied")
		}
	})
	if n != 0 {
		t.Errorf("allow path: %v allocs/op", n)
	}
}

func BenchmarkGuardCheck(b *testing.B) {
	g := NewGuard()
	for _, bc := range []struct {
		name, network, addr string
	}{
		{"v4", "tcp4", "8.8.8.8:443"},
		{"v6", "tcp6", "[2606:4700::1111]:443"},
		{"mapped", "tcp6", "[::ffff:8.8.8.8]:443"},
	} {
		addr := netip.MustParseAddrPort(bc.addr)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if g.Check(bc.network, addr) != nil {
					b.Fatal("denied")
				}
			}
		})
	}
	b.Run("nat64", func(b *testing.B) {
		g := NewGuard(WithNAT64())
		addr := netip.MustParseAddrPort("[64:ff9b::808:808]:443")
		b.ReportAllocs()
		for b.Loop() {
			if g.Check("tcp6", addr) != nil {
				b.Fatal("denied")
			}
		}
	})
	b.Run("explicit-lists", func(b *testing.B) {
		var allow, deny []netip.Prefix
		for i := range 256 {
			allow = append(allow, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16))
			deny = append(deny, netip.PrefixFrom(netip.AddrFrom4([4]byte{9, byte(i), 0, 0}), 24))
		}
		g := NewGuard(WithAllowedPrefixes(allow...), WithDeniedPrefixes(deny...))
		addr := netip.MustParseAddrPort("10.77.1.1:443")
		b.ReportAllocs()
		for b.Loop() {
			if g.Check("tcp4", addr) != nil {
				b.Fatal("denied")
			}
		}
	})
	b.Run("control", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if g.Control("tcp4", "8.8.8.8:443", nil) != nil {
				b.Fatal("denied")
			}
		}
	})
	b.Run("deny", func(b *testing.B) {
		addr := netip.MustParseAddrPort("10.1.2.3:443")
		b.ReportAllocs()
		for b.Loop() {
			if g.Check("tcp4", addr) == nil {
				b.Fatal("allowed")
			}
		}
	})
}
