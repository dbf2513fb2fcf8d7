package sock

// The destination guard: an SSRF filter for the open-socket callback and for
// net.Dialer.Control. Pure Go; it needs neither cgo nor libcurl.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sentinel errors of a Guard. Every denial wraps exactly one of them, and its
// message names the rule that matched:
//
//	curlsock: prohibited IP: 10.1.2.3 is in 10.0.0.0/8 (private-use, RFC 1918)
var (
	// ErrProhibitedIP: the destination address is denied (or is not an
	// address at all).
	ErrProhibitedIP = errors.New("curlsock: prohibited IP")
	// ErrProhibitedPort: the destination port is not an allowed port.
	ErrProhibitedPort = errors.New("curlsock: prohibited port")
	// ErrProhibitedNetwork: the socket type is denied (a datagram socket
	// without WithDatagram) or the network is unknown.
	ErrProhibitedNetwork = errors.New("curlsock: prohibited network")
	// ErrProhibitedFamily: the address family is denied (AF_UNIX without
	// WithUnixSockets), unknown, or does not match the address.
	ErrProhibitedFamily = errors.New("curlsock: prohibited address family")
)

// namedPrefix is a prefix of the built-in rules with the reason it is there.
type namedPrefix struct {
	prefix string
	why    string
}

// defaultDenied4 is the IPv4 deny-list.
var defaultDenied4 = []namedPrefix{
	{"0.0.0.0/8", `"this network", RFC 791; 0.0.0.0 reaches this host`},
	{"10.0.0.0/8", "private-use, RFC 1918"},
	{"100.64.0.0/10", "shared address space (carrier-grade NAT), RFC 6598"},
	{"127.0.0.0/8", "loopback, RFC 1122"},
	{"168.63.129.16/32", "Azure WireServer (platform metadata)"},
	{"169.254.0.0/16", "link-local, cloud metadata 169.254.169.254 included; RFC 3927"},
	{"172.16.0.0/12", "private-use, RFC 1918"},
	{"192.0.0.0/24", "IETF protocol assignments, RFC 6890"},
	{"192.0.2.0/24", "documentation TEST-NET-1, RFC 5737"},
	{"192.31.196.0/24", "AS112-v4, RFC 7535"},
	{"192.52.193.0/24", "AMT, RFC 7450"},
	{"192.88.99.0/24", "deprecated 6to4 relay anycast, RFC 7526"},
	{"192.168.0.0/16", "private-use, RFC 1918"},
	{"192.175.48.0/24", "direct delegation AS112 service, RFC 7534"},
	{"198.18.0.0/15", "benchmarking, RFC 2544"},
	{"198.51.100.0/24", "documentation TEST-NET-2, RFC 5737"},
	{"203.0.113.0/24", "documentation TEST-NET-3, RFC 5737"},
	{"224.0.0.0/4", "multicast, RFC 5771"},
	{"240.0.0.0/4", "reserved, RFC 1112; includes limited broadcast 255.255.255.255"},
}

// globalUnicast6 is the only IPv6 range the default rules allow.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// defaultDenied6 are the ranges denied inside globalUnicast6.
var defaultDenied6 = []namedPrefix{
	{"2001::/23", "IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID; RFC 2928"},
	{"2001:db8::/32", "documentation, RFC 3849"},
	{"2002::/16", "6to4, RFC 3056"},
	{"2620:4f:8000::/48", "direct delegation AS112 service, RFC 7534"},
	{"3fff::/20", "documentation, RFC 9637"},
}

// outside6 names the notable ranges outside globalUnicast6, for messages
// only: everything outside globalUnicast6 is denied whether listed or not.
// The longest match names the address.
var outside6 = []namedPrefix{
	{"::/128", "unspecified; reaches this host"},
	{"::1/128", "loopback"},
	{"::/96", "IPv4-compatible, deprecated by RFC 4291"},
	{"::ffff:0:0:0/96", "IPv4-translated, RFC 6145"},
	{"64:ff9b::/96", "NAT64 well-known prefix, RFC 6052; see WithNAT64"},
	{"64:ff9b:1::/48", "NAT64 local-use prefix, RFC 8215; see WithNAT64"},
	{"100::/64", "discard-only, RFC 6666"},
	{"5f00::/16", "SRv6 SIDs, RFC 9602"},
	{"fc00::/7", "unique-local, RFC 4193"},
	{"fe80::/10", "link-local"},
	{"fec0::/10", "site-local, deprecated by RFC 3879"},
	{"ff00::/8", "multicast"},
}

var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalUse  = netip.MustParsePrefix("64:ff9b:1::/48")
)

// defaultPorts are the ports a Guard allows without WithPorts or WithAnyPort.
var defaultPorts = []uint16{80, 443}

func prefixesOf(list []namedPrefix) []netip.Prefix {
	out := make([]netip.Prefix, len(list))
	for i, np := range list {
		out[i] = netip.MustParsePrefix(np.prefix)
	}
	return out
}

// DefaultDeniedIPv4 returns a copy of the IPv4 prefixes a Guard denies by
// default (WithAllowedPrefixes carves exceptions out of them).
func DefaultDeniedIPv4() []netip.Prefix { return prefixesOf(defaultDenied4) }

// DefaultAllowedIPv6 returns 2000::/3, the global unicast range: the only IPv6
// range a Guard allows by default, minus DefaultDeniedIPv6.
func DefaultAllowedIPv6() netip.Prefix { return globalUnicast6 }

// DefaultDeniedIPv6 returns a copy of the prefixes a Guard denies by default
// inside DefaultAllowedIPv6. Every IPv6 address outside DefaultAllowedIPv6 is
// denied as well (::1, fc00::/7, fe80::/10, 64:ff9b::/96, ...), except
// IPv4-mapped addresses, which are judged as the IPv4 address they map.
func DefaultDeniedIPv6() []netip.Prefix { return prefixesOf(defaultDenied6) }

// NAT64Prefixes returns the prefixes WithNAT64 decodes: 64:ff9b::/96 (RFC
// 6052) and 64:ff9b:1::/48 (RFC 8215).
func NAT64Prefixes() []netip.Prefix { return []netip.Prefix{nat64WellKnown, nat64LocalUse} }

// DefaultPorts returns a copy of the ports a Guard allows by default: 80 and
// 443.
func DefaultPorts() []uint16 { return slices.Clone(defaultPorts) }

// guardConfig collects the options of NewGuard.
type guardConfig struct {
	allowed  []netip.Prefix
	denied   []netip.Prefix
	ports    []uint16
	anyPort  bool
	unix     bool
	datagram bool
	nat64    bool
}

// GuardOption configures NewGuard. Each option replaces what an earlier one
// of the same kind set; nothing accumulates.
type GuardOption func(*guardConfig)

// WithAllowedPrefixes allows the addresses in p that the default rules deny,
// e.g. 127.0.0.0/8 or fd00::/8. It does not override WithDeniedPrefixes, nor
// the port, network and family checks.
//
// IPv4-mapped addresses are judged as IPv4 everywhere, so ::ffff:10.0.0.0/104
// and 10.0.0.0/8 are the same prefix here. An invalid prefix matches nothing.
// A later WithAllowedPrefixes replaces the list.
func WithAllowedPrefixes(p ...netip.Prefix) GuardOption {
	p = slices.Clone(p)
	return func(c *guardConfig) { c.allowed = p }
}

// WithDeniedPrefixes denies the addresses in p in addition to the default
// rules. An explicit deny wins over everything, WithAllowedPrefixes included;
// with WithNAT64 it applies to the NAT64 address and to the IPv4 address it
// embeds.
//
// IPv4-mapped addresses are judged as IPv4 everywhere, so ::ffff:10.0.0.0/104
// and 10.0.0.0/8 are the same prefix here. An invalid prefix matches nothing.
// A later WithDeniedPrefixes replaces the list.
func WithDeniedPrefixes(p ...netip.Prefix) GuardOption {
	p = slices.Clone(p)
	return func(c *guardConfig) { c.denied = p }
}

// WithPorts allows exactly the destination ports given, replacing the default
// ports 80 and 443 (and an earlier WithPorts or WithAnyPort). With no ports,
// every port is denied.
func WithPorts(ports ...uint16) GuardOption {
	ports = slices.Clone(ports)
	if ports == nil {
		ports = []uint16{}
	}
	return func(c *guardConfig) { c.ports, c.anyPort = ports, false }
}

// WithAnyPort allows every destination port, replacing an earlier WithPorts.
func WithAnyPort() GuardOption {
	return func(c *guardConfig) { c.ports, c.anyPort = nil, true }
}

// WithUnixSockets allows AF_UNIX destinations (networks "unix", and with
// WithDatagram "unixgram" and "unixpacket"), which a Guard denies by default.
// Any path is then allowed.
func WithUnixSockets() GuardOption {
	return func(c *guardConfig) { c.unix = true }
}

// WithDatagram allows sockets other than stream sockets: "udp", "udp4",
// "udp6", "unixgram" and "unixpacket". By default a Guard allows stream
// sockets only. Raw IP sockets ("ip4:icmp", ...) are always denied.
func WithDatagram() GuardOption {
	return func(c *guardConfig) { c.datagram = true }
}

// WithNAT64 decodes the IPv4 address embedded in a NAT64 address (RFC 6052:
// 64:ff9b::/96, and 64:ff9b:1::/48 from RFC 8215) and judges that IPv4
// address by the IPv4 rules, WithAllowedPrefixes and WithDeniedPrefixes
// included. Without it every NAT64 address is denied, being outside 2000::/3.
//
// A 64:ff9b:1::/48 address does not say which RFC 6052 prefix length its
// gateway uses, so every layout its zero bits permit is decoded, and the
// address is allowed only if every decoded IPv4 address is. This fails
// closed: a /48 to /64 layout address whose last 32 bits also read as a
// denied IPv4 address is denied.
func WithNAT64() GuardOption {
	return func(c *guardConfig) { c.nat64 = true }
}

// Guard decides whether a socket may be opened to a destination: an SSRF
// filter for the open-socket callback and for net.Dialer.Control.
//
// By default a Guard allows stream sockets (TCP) to ports 80 and 443 of global
// unicast addresses, and denies:
//
//   - the IPv4 prefixes of DefaultDeniedIPv4 (private, loopback, link-local,
//     documentation, multicast, 0.0.0.0/8, 168.63.129.16, ...);
//   - every IPv6 address outside 2000::/3, and DefaultDeniedIPv6 inside it;
//     IPv4-compatible, IPv4-translated, NAT64 (see WithNAT64), 6to4 and
//     Teredo addresses included;
//   - datagram sockets, unix sockets and unknown networks or families.
//
// An IPv4-mapped address (::ffff:a.b.c.d, which libcurl hands to its
// open-socket callback as AF_INET6 while Go's dialer never does) is judged
// as the IPv4 address it maps, and a zone (fe80::1%eth0) is ignored.
//
// Precedence: WithDeniedPrefixes, then WithAllowedPrefixes, then the default
// rules. Ports, networks and families are separate checks that a prefix does
// not override.
//
// A Guard is immutable and safe for concurrent use. Checks that allow do not
// allocate; a denial returns an error wrapping ErrProhibitedIP,
// ErrProhibitedPort, ErrProhibitedNetwork or ErrProhibitedFamily whose message
// names the rule. A nil *Guard behaves as NewGuard().
type Guard struct {
	allow4, allow6 prefixTable
	deny4, deny6   prefixTable
	ports          []uint16 // sorted, without duplicates
	anyPort        bool
	unix           bool
	datagram       bool
	nat64          bool
	portsDesc      string // for port denials
	desc           string // String
}

// defaultGuard stands in for a nil *Guard.
var defaultGuard = NewGuard()

// NewGuard returns a Guard with the default rules, changed by opts.
func NewGuard(opts ...GuardOption) *Guard {
	c := guardConfig{ports: defaultPorts}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	g := &Guard{
		anyPort:  c.anyPort,
		unix:     c.unix,
		datagram: c.datagram,
		nat64:    c.nat64,
	}
	g.allow4, g.allow6 = newPrefixTables(c.allowed, "WithAllowedPrefixes")
	g.deny4, g.deny6 = newPrefixTables(c.denied, "WithDeniedPrefixes")
	if !c.anyPort {
		g.ports = slices.Compact(slices.Sorted(slices.Values(c.ports)))
	}

	var ports string
	switch {
	case g.anyPort:
		ports = "any"
	case len(g.ports) == 0:
		ports = "none"
	default:
		s := make([]string, len(g.ports))
		for i, p := range g.ports {
			s[i] = strconv.Itoa(int(p))
		}
		ports = strings.Join(s, ", ")
	}
	switch {
	case g.anyPort:
	case slices.Equal(g.ports, defaultPorts):
		g.portsDesc = "the default ports " + ports + "; see WithPorts"
	case len(g.ports) == 0:
		g.portsDesc = "WithPorts allows none"
	default:
		g.portsDesc = "WithPorts allows " + ports
	}

	onOff := func(b bool, on, off string) string {
		if b {
			return on
		}
		return off
	}
	g.desc = fmt.Sprintf("sock.Guard{ports: %s; sockets: %s; unix: %s; nat64: %s; allow: %s; deny: %s}",
		ports,
		onOff(g.datagram, "stream and datagram", "stream"),
		onOff(g.unix, "allowed", "denied"),
		onOff(g.nat64, "decoded", "denied"),
		tablesString(g.allow4, g.allow6),
		tablesString(g.deny4, g.deny6))
	return g
}

// UnixSockets reports whether the guard allows unix sockets
// (WithUnixSockets).
func (g *Guard) UnixSockets() bool {
	if g == nil {
		g = defaultGuard
	}
	return g.unix
}

// String describes the guard's configuration, for logs.
func (g *Guard) String() string {
	if g == nil {
		g = defaultGuard
	}
	return g.desc
}

// netKind is what a Go network name asks for.
type netKind struct {
	family int  // unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, or 0 for "tcp"/"udp"
	ip     bool // an IP network
	stream bool
	known  bool
}

// networks are Go's network names with the family and socket type each
// stands for; "tcp" and "udp" take either IP family.
var networks = [...]struct {
	name             string
	family, socktype int
}{
	{"tcp4", unix.AF_INET, unix.SOCK_STREAM},
	{"tcp6", unix.AF_INET6, unix.SOCK_STREAM},
	{"udp4", unix.AF_INET, unix.SOCK_DGRAM},
	{"udp6", unix.AF_INET6, unix.SOCK_DGRAM},
	{"unix", unix.AF_UNIX, unix.SOCK_STREAM},
	{"unixgram", unix.AF_UNIX, unix.SOCK_DGRAM},
	{"unixpacket", unix.AF_UNIX, unix.SOCK_SEQPACKET},
	{"tcp", 0, unix.SOCK_STREAM},
	{"udp", 0, unix.SOCK_DGRAM},
}

func kindOf(family, socktype int) netKind {
	return netKind{family: family, ip: family != unix.AF_UNIX, stream: socktype == unix.SOCK_STREAM, known: true}
}

func parseNetwork(network string) netKind {
	for _, n := range networks {
		if n.name == network {
			return kindOf(n.family, n.socktype)
		}
	}
	return netKind{}
}

// checkKind checks the socket type of a known network.
func (g *Guard) checkKind(network string, k netKind) error {
	if !k.stream && !g.datagram {
		return fmt.Errorf("%w: %s sockets are not stream sockets (denied by default; see WithDatagram)", ErrProhibitedNetwork, network)
	}
	return nil
}

func unknownNetwork(network string) error {
	return fmt.Errorf("%w: unknown network %q", ErrProhibitedNetwork, network)
}

// Check decides whether a socket of network ("tcp4", "tcp6", "udp4", "udp6",
// or "tcp", "udp") may connect to addr. Checks run in this order: network,
// family, address, port.
func (g *Guard) Check(network string, addr netip.AddrPort) error {
	if g == nil {
		g = defaultGuard
	}
	return g.checkIP(network, parseNetwork(network), addr)
}

func (g *Guard) checkIP(network string, k netKind, addr netip.AddrPort) error {
	switch {
	case !k.known:
		return unknownNetwork(network)
	case !k.ip:
		return fmt.Errorf("%w: network %s takes a unix socket path, not the IP address %s", ErrProhibitedNetwork, network, addr)
	}
	if err := g.checkKind(network, k); err != nil {
		return err
	}
	ip := addr.Addr()
	if ip.IsValid() {
		switch v4 := ip.Unmap().Is4(); {
		case k.family == unix.AF_INET && !v4:
			return fmt.Errorf("%w: network %s cannot carry the IPv6 address %s", ErrProhibitedFamily, network, ip)
		case k.family == unix.AF_INET6 && ip.Is4():
			return fmt.Errorf("%w: network %s cannot carry the IPv4 address %s", ErrProhibitedFamily, network, ip)
		}
	}
	if err := g.checkAddr(ip); err != nil {
		return err
	}
	return g.checkPort(addr)
}

// CheckAddr decides whether the address ip is allowed, regardless of port and
// network: the IP rules of Check alone.
func (g *Guard) CheckAddr(ip netip.Addr) error {
	if g == nil {
		g = defaultGuard
	}
	return g.checkAddr(ip)
}

// CheckUnix decides whether a socket of network ("unix", "unixgram" or
// "unixpacket") may connect to the unix socket path (an abstract name is
// written "@name").
func (g *Guard) CheckUnix(network, path string) error {
	if g == nil {
		g = defaultGuard
	}
	k := parseNetwork(network)
	switch {
	case !k.known:
		return unknownNetwork(network)
	case k.family != unix.AF_UNIX:
		return fmt.Errorf("%w: network %s takes an IP address, not the unix socket path %q", ErrProhibitedNetwork, network, path)
	case !g.unix:
		return fmt.Errorf("%w: unix socket %q (AF_UNIX is denied by default; see WithUnixSockets)", ErrProhibitedFamily, path)
	case path == "":
		return fmt.Errorf("%w: empty unix socket path", ErrProhibitedFamily)
	}
	return g.checkKind(network, k)
}

// CheckSockaddr decides whether libcurl may open a socket to sa, the
// destination its open-socket callback received (after any rewrite of
// sa.Addr or sa.Path): Check for IP destinations, CheckUnix for AF_UNIX.
// Unknown families wrap ErrProhibitedFamily, socket types without a Go
// network name (raw, seqpacket over IP) ErrProhibitedNetwork.
//
//	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
//		if err := guard.CheckSockaddr(addr); err != nil {
//			return curl.SOCKET_BAD, err
//		}
//		return curl.OpenSocket(addr)
//	})
func (g *Guard) CheckSockaddr(sa *Sockaddr) error {
	if g == nil {
		g = defaultGuard
	}
	if sa == nil {
		return fmt.Errorf("%w: no destination (nil Sockaddr)", ErrProhibitedFamily)
	}
	switch network, k := sockaddrNetwork(sa); {
	case k.ip:
		return g.checkIP(network, k, sa.Addr)
	case k.known:
		return g.CheckUnix(network, sa.Path)
	}
	switch {
	case sa.Path != "" && sa.Addr.IsValid():
		return fmt.Errorf("%w: both an IP address %s and a unix socket path %q", ErrProhibitedFamily, sa.Addr, sa.Path)
	case sa.Path != "":
		if !g.unix {
			return fmt.Errorf("%w: unix socket %q (AF_UNIX is denied by default; see WithUnixSockets)", ErrProhibitedFamily, sa.Path)
		}
		return fmt.Errorf("%w: socket type %d on unix socket %q", ErrProhibitedNetwork, sa.Socktype, sa.Path)
	case sa.Addr.IsValid():
		return fmt.Errorf("%w: socket type %d to %s", ErrProhibitedNetwork, sa.Socktype, sa.Addr)
	}
	switch sa.Family {
	case unix.AF_INET, unix.AF_INET6, unix.AF_UNIX:
		return fmt.Errorf("%w: family %d without an address", ErrProhibitedFamily, sa.Family)
	}
	return fmt.Errorf("%w: unknown address family %d", ErrProhibitedFamily, sa.Family)
}

// Control has net.Dialer.Control's signature, so a Guard plugs into a Go
// dialer (net.Dialer{Control: guard.Control}) and into hooks of that shape.
// It parses address with netip.ParseAddrPort (a path for unix networks) and
// runs Check (CheckUnix); c is not used and may be nil.
func (g *Guard) Control(network, address string, c syscall.RawConn) error {
	if g == nil {
		g = defaultGuard
	}
	k := parseNetwork(network)
	switch {
	case !k.known:
		return unknownNetwork(network)
	case !k.ip:
		return g.CheckUnix(network, address)
	}
	addr, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s address %q: %v", ErrProhibitedIP, network, address, err)
	}
	return g.Check(network, addr)
}

// ControlContext is Control with net.Dialer.ControlContext's signature; ctx
// is not used.
func (g *Guard) ControlContext(ctx context.Context, network, address string, c syscall.RawConn) error {
	return g.Control(network, address, c)
}

// checkPort checks the port of addr.
func (g *Guard) checkPort(addr netip.AddrPort) error {
	if g.anyPort {
		return nil
	}
	if _, ok := slices.BinarySearch(g.ports, addr.Port()); ok {
		return nil
	}
	return fmt.Errorf("%w: port %d of %s is not allowed (%s)", ErrProhibitedPort, addr.Port(), addr, g.portsDesc)
}

// checkAddr applies the IP rules to orig.
func (g *Guard) checkAddr(orig netip.Addr) error {
	if !orig.IsValid() {
		return fmt.Errorf("%w: no valid address", ErrProhibitedIP)
	}
	ip := orig.WithZone("").Unmap()
	k := keyOf(ip)
	deny, allow := g.deny6, g.allow6
	if ip.Is4() {
		deny, allow = g.deny4, g.allow4
	}
	if e := deny.lookup(k); e != nil {
		return deniedExplicit(subject(orig, ip), e)
	}
	if g.nat64 && ip.Is6() && (k.hi == nat64WellKnownHi && k.lo>>32 == 0 || k.hi>>16 == nat64LocalUseHi48) {
		return g.checkNAT64(orig, ip, k)
	}
	if allow.lookup(k) != nil {
		return nil
	}
	if ip.Is4() {
		if e := defaultDeny4.lookup(k); e != nil {
			return deniedDefault(subject(orig, ip), e)
		}
		return nil
	}
	if k.hi>>61 != 0b001 { // outside 2000::/3
		if e := outsideGlobalUnicast(ip); e != nil {
			return fmt.Errorf("%w: %s is outside %s (not global unicast), in %s (%s)", ErrProhibitedIP, subject(orig, ip), globalUnicast6, e.prefix, e.why)
		}
		return fmt.Errorf("%w: %s is outside %s (not global unicast)", ErrProhibitedIP, subject(orig, ip), globalUnicast6)
	}
	if e := defaultDeny6.lookup(k); e != nil {
		return deniedDefault(subject(orig, ip), e)
	}
	return nil
}

const (
	nat64WellKnownHi  = 0x0064_ff9b_0000_0000 // 64:ff9b::/96, first 64 bits
	nat64LocalUseHi48 = 0x0064_ff9b_0001      // 64:ff9b:1::/48
)

// nat64Layouts are the RFC 6052 layouts that can occur in 64:ff9b:1::/48:
// where the four bytes of the IPv4 address sit, and from which byte the
// suffix (which must be zero) starts. Byte 8, bits 64 to 71, is always zero.
var nat64Layouts = [...]struct {
	bits   int
	v4     [4]int
	suffix int
}{
	{96, [4]int{12, 13, 14, 15}, 16},
	{64, [4]int{9, 10, 11, 12}, 13},
	{56, [4]int{7, 9, 10, 11}, 12},
	{48, [4]int{6, 7, 9, 10}, 11},
}

// checkNAT64 judges a NAT64 address by the IPv4 address(es) it embeds. The
// explicit deny of the IPv6 address itself has already been checked.
func (g *Guard) checkNAT64(orig, ip netip.Addr, k u128) error {
	b := ip.As16()
	var cands [len(nat64Layouts)]netip.Addr
	var bits [len(nat64Layouts)]int
	n := 0
	if k.hi == nat64WellKnownHi {
		cands[0], bits[0], n = netip.AddrFrom4([4]byte(b[12:16])), 96, 1
	} else if b[8] == 0 {
	layouts:
		for _, l := range nat64Layouts {
			for _, x := range b[l.suffix:] {
				if x != 0 {
					continue layouts
				}
			}
			cands[n] = netip.AddrFrom4([4]byte{b[l.v4[0]], b[l.v4[1]], b[l.v4[2]], b[l.v4[3]]})
			bits[n] = l.bits
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: %s is in %s (NAT64 local-use, RFC 8215) but embeds no IPv4 address by RFC 6052", ErrProhibitedIP, subject(orig, ip), nat64LocalUse)
	}
	nat64Subject := func(i int) string {
		if k.hi == nat64WellKnownHi {
			return fmt.Sprintf("%s (NAT64 for %s)", subject(orig, ip), cands[i])
		}
		return fmt.Sprintf("%s (NAT64 for %s with a /%d prefix)", subject(orig, ip), cands[i], bits[i])
	}
	for i, v4 := range cands[:n] {
		if e := g.deny4.lookup(keyOf(v4)); e != nil {
			return deniedExplicit(nat64Subject(i), e)
		}
	}
	if g.allow6.lookup(k) != nil {
		return nil
	}
	for i, v4 := range cands[:n] {
		k4 := keyOf(v4)
		if g.allow4.lookup(k4) != nil {
			continue
		}
		if e := defaultDeny4.lookup(k4); e != nil {
			return deniedDefault(nat64Subject(i), e)
		}
	}
	return nil
}

// subject names the address being judged: orig as given, and what it is
// judged as when that differs by more than its zone.
func subject(orig, ip netip.Addr) string {
	if orig.Is4In6() {
		return fmt.Sprintf("%s (IPv4-mapped %s)", orig, ip)
	}
	return orig.String()
}

func deniedExplicit(subject string, e *tableEntry) error {
	return fmt.Errorf("%w: %s is denied by %s %s", ErrProhibitedIP, subject, e.why, e.prefix)
}

func deniedDefault(subject string, e *tableEntry) error {
	return fmt.Errorf("%w: %s is in %s (%s)", ErrProhibitedIP, subject, e.prefix, e.why)
}

// outsideGlobalUnicast names the most specific notable range holding ip, or
// nil.
func outsideGlobalUnicast(ip netip.Addr) *tableEntry {
	var best *tableEntry
	for i := range outside6Table {
		e := &outside6Table[i]
		if e.prefix.Contains(ip) && (best == nil || e.prefix.Bits() > best.prefix.Bits()) {
			best = e
		}
	}
	return best
}

// u128 is an address as a number: IPv4 in the low 32 bits, IPv6 in all 128.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) or(b u128) u128 { return u128{a.hi | b.hi, a.lo | b.lo} }

// lowOnes returns a value whose n low bits are set (0 ≤ n ≤ 128).
func lowOnes(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{0, ^uint64(0) >> (64 - n)}
	default:
		return u128{^uint64(0) >> (128 - n), ^uint64(0)}
	}
}

func keyOf(ip netip.Addr) u128 {
	if ip.Is4() {
		b := ip.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := ip.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// tableEntry is one prefix of a prefixTable, as the range [lo, hi].
type tableEntry struct {
	lo, hi u128
	prefix netip.Prefix
	why    string // reason (built-in rules) or option name (explicit lists)
}

// prefixTable holds prefixes of one family as disjoint ranges sorted by lo,
// for a binary search. Two prefixes are either disjoint or nested, so keeping
// only the outermost of nested ones makes the ranges disjoint.
type prefixTable []tableEntry

func newPrefixTable(entries []tableEntry) prefixTable {
	slices.SortFunc(entries, func(a, b tableEntry) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return a.prefix.Bits() - b.prefix.Bits() // the outermost first
	})
	var t prefixTable
	for _, e := range entries {
		if n := len(t); n > 0 && !t[n-1].hi.less(e.lo) {
			continue // inside the previous range
		}
		t = append(t, e)
	}
	return t
}

func entryOf(p netip.Prefix, why string) (tableEntry, bool) {
	if !p.IsValid() {
		return tableEntry{}, false
	}
	// An IPv4-mapped prefix is the IPv4 prefix it maps.
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	p = p.Masked()
	lo := keyOf(p.Addr())
	return tableEntry{lo: lo, hi: lo.or(lowOnes(p.Addr().BitLen() - p.Bits())), prefix: p, why: why}, true
}

// newPrefixTables splits prefixes into an IPv4 and an IPv6 table.
func newPrefixTables(prefixes []netip.Prefix, why string) (v4, v6 prefixTable) {
	var e4, e6 []tableEntry
	for _, p := range prefixes {
		e, ok := entryOf(p, why)
		switch {
		case !ok:
		case e.prefix.Addr().Is4():
			e4 = append(e4, e)
		default:
			e6 = append(e6, e)
		}
	}
	return newPrefixTable(e4), newPrefixTable(e6)
}

func namedTable(list []namedPrefix) prefixTable {
	entries := make([]tableEntry, 0, len(list))
	for _, np := range list {
		e, _ := entryOf(netip.MustParsePrefix(np.prefix), np.why)
		entries = append(entries, e)
	}
	return newPrefixTable(entries)
}

var (
	defaultDeny4  = namedTable(defaultDenied4)
	defaultDeny6  = namedTable(defaultDenied6)
	outside6Table = func() []tableEntry {
		out := make([]tableEntry, len(outside6))
		for i, np := range outside6 {
			out[i], _ = entryOf(netip.MustParsePrefix(np.prefix), np.why)
		}
		return out
	}()
)

// lookup returns the entry whose range holds k, or nil.
func (t prefixTable) lookup(k u128) *tableEntry {
	lo, hi := 0, len(t)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k.less(t[m].lo) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	if lo == 0 || t[lo-1].hi.less(k) {
		return nil
	}
	return &t[lo-1]
}

func tablesString(v4, v6 prefixTable) string {
	s := make([]string, 0, len(v4)+len(v6))
	for _, t := range [...]prefixTable{v4, v6} {
		for _, e := range t {
			s = append(s, e.prefix.String())
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}
