package sock

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidRewrite is wrapped by the errors of ParseRewrite and
// NewRewriteTable.
var ErrInvalidRewrite = errors.New("curlsock: invalid rewrite rule")

// RewriteTable is an immutable set of destination rewrites, applied to the
// address libcurl is about to connect to — after DNS, CURLOPT_RESOLVE,
// CURLOPT_CONNECT_TO and redirects, so it sees what the transfer really
// reaches, whatever name the URL used.
//
// A rule is FROM=TO, where each side is one of
//
//	10.0.0.1:80  [2001:db8::1]:443  [fe80::1%eth0]:80   an IP address and port
//	10.0.0.1     2001:db8::1        [2001:db8::1]       an IP address alone
//	/run/app.sock  @abstract                            a unix socket
//
// A FROM of an address alone matches every port of that address. A TO of an
// address alone keeps the destination's port. An IP FROM may rewrite to a unix
// socket and a unix FROM to an IP address and port; IPv4 and IPv6 mix freely.
// Rules are applied once: a TO is not looked up again, so a→b and b→c send a
// to b. A rule with a port wins over a rule for the same address alone.
// Rules match whatever the socket type: HTTP/3's UDP destinations are
// rewritten too.
//
// IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) are their IPv4 address, on
// either side of the lookup. Zones must match as written; a numeric zone is
// read as the interface it names, as libcurl's scope ids are.
//
// A nil *RewriteTable rewrites nothing.
type RewriteTable struct {
	exact  map[netip.AddrPort]rewriteTo
	any    map[netip.Addr]rewriteTo
	path   map[string]rewriteTo
	rules  string
	nrules int
}

// rewriteTo is the destination a rule sends to: exactly one of addr, ip
// (keeping the destination's port) or path is set.
type rewriteTo struct {
	addr netip.AddrPort
	ip   netip.Addr
	path string
}

// ParseRewrite parses rules "FROM=TO" (see RewriteTable). FROM ends at the
// first "=", so a FROM path containing "=" needs NewRewriteTable. Empty rules
// are skipped, so that strings.Split of an empty setting gives an empty
// table. Two rules for the same FROM are an error unless they agree.
func ParseRewrite(rules ...string) (*RewriteTable, error) {
	b := newRewriteBuilder()
	for _, rule := range rules {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		from, to, ok := strings.Cut(rule, "=")
		if !ok {
			return nil, fmt.Errorf("%w %q: want FROM=TO", ErrInvalidRewrite, rule)
		}
		if err := b.add(from, to); err != nil {
			return nil, err
		}
	}
	return b.table(), nil
}

// NewRewriteTable is ParseRewrite for rules given as a map from FROM to TO.
func NewRewriteTable(m map[string]string) (*RewriteTable, error) {
	b := newRewriteBuilder()
	// Sorted, so that which of two bad rules is reported does not depend on
	// map order.
	for _, from := range slices.Sorted(maps.Keys(m)) {
		if err := b.add(from, m[from]); err != nil {
			return nil, err
		}
	}
	return b.table(), nil
}

type rewriteBuilder struct {
	t     *RewriteTable
	rules map[string]string // canonical FROM → canonical TO
}

func newRewriteBuilder() *rewriteBuilder {
	return &rewriteBuilder{
		t: &RewriteTable{
			exact: map[netip.AddrPort]rewriteTo{},
			any:   map[netip.Addr]rewriteTo{},
			path:  map[string]rewriteTo{},
		},
		rules: map[string]string{},
	}
}

func (b *rewriteBuilder) add(fromS, toS string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidRewrite, fromS+"="+toS, fmt.Sprintf(format, args...))
	}
	from, err := parseRewriteSide(fromS)
	if err != nil {
		return bad("FROM: %v", err)
	}
	to, err := parseRewriteSide(toS)
	if err != nil {
		return bad("TO: %v", err)
	}
	if from.path != "" && to.ip.IsValid() {
		return bad("TO %s has no port, and unix socket %s has none to keep", to, from)
	}
	// Zones are checked here rather than when writing the address back,
	// where a typo would fail every transfer instead of once at startup,
	// or, in a FROM, silently never match.
	if _, err := zoneIndex(from.zone()); err != nil {
		return bad("FROM: %v", err)
	}
	if _, err := zoneIndex(to.zone()); err != nil {
		return bad("TO: %v", err)
	}
	key, val := from.String(), to.String()
	if prev, ok := b.rules[key]; ok {
		if prev == val {
			return nil
		}
		return bad("FROM %s is already rewritten to %s", key, prev)
	}
	b.rules[key] = val
	switch {
	case from.addr.IsValid():
		b.t.exact[from.addr] = to
	case from.ip.IsValid():
		b.t.any[from.ip] = to
	default:
		b.t.path[from.path] = to
	}
	return nil
}

func (b *rewriteBuilder) table() *RewriteTable {
	rules := make([]string, 0, len(b.rules))
	for from, to := range b.rules {
		rules = append(rules, from+"="+to)
	}
	slices.Sort(rules)
	b.t.rules = strings.Join(rules, ",")
	b.t.nrules = len(rules)
	return b.t
}

// parseRewriteSide parses one side of a rule into its canonical form.
func parseRewriteSide(s string) (rewriteTo, error) {
	switch {
	case s == "":
		return rewriteTo{}, errors.New("empty")
	case s == "@":
		return rewriteTo{}, errors.New("empty abstract socket name")
	case s[0] == '/' || s[0] == '@':
		if err := checkUnixPath(s); err != nil {
			return rewriteTo{}, err
		}
		return rewriteTo{path: s}, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return rewriteTo{}, fmt.Errorf("%s: port 0", s)
		}
		return rewriteTo{addr: netip.AddrPortFrom(canonicalIP(ap.Addr()), ap.Port())}, nil
	}
	ipS := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		ipS = s[1 : len(s)-1]
	}
	ip, err := netip.ParseAddr(ipS)
	if err != nil {
		if h, p, err := net.SplitHostPort(s); err == nil {
			if _, err := netip.ParseAddr(h); err == nil {
				return rewriteTo{}, fmt.Errorf("invalid port %q", p)
			}
		}
		return rewriteTo{}, errors.New("not an IP address, IP:port or unix socket path (starting with / or @)")
	}
	return rewriteTo{ip: canonicalIP(ip)}, nil
}

// canonicalIP unmaps IPv4-mapped addresses, as the lookup does with
// destinations, and names a numeric zone's interface, as decodeAddr does
// with libcurl's scope ids, so that both sides of the lookup compare equal.
func canonicalIP(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if z := ip.Zone(); z != "" {
		if n, err := strconv.ParseUint(z, 10, 32); err == nil {
			// Scope id 0 is no zone at all in a sockaddr_in6.
			name := ""
			if n != 0 {
				name = zoneName(uint32(n))
			}
			ip = ip.WithZone(name)
		}
	}
	return ip
}

func (r rewriteTo) zone() string {
	if r.ip.IsValid() {
		return r.ip.Zone()
	}
	return r.addr.Addr().Zone()
}

func (r rewriteTo) String() string {
	switch {
	case r.addr.IsValid():
		return r.addr.String()
	case r.ip.IsValid():
		return r.ip.String()
	}
	return r.path
}

// Rewrite changes sa's destination (Addr or Path) if a rule matches it and
// reports whether one did. Destinations with port 0 — the local address of
// libcurl's FTP active-mode listen socket — are never rewritten. Family,
// Socktype and Protocol are left alone: the open-socket binding derives the
// family and protocol from the new destination when it writes it back.
//
// Rewrite is safe for concurrent use and does not allocate when no rule
// matches.
func (t *RewriteTable) Rewrite(sa *Sockaddr) bool {
	if t == nil || sa == nil || t.nrules == 0 {
		return false
	}
	var to rewriteTo
	var ok bool
	var port uint16
	switch {
	case sa.Path != "" && !sa.Addr.IsValid():
		to, ok = t.path[sa.Path]
	case sa.Addr.IsValid() && sa.Path == "":
		port = sa.Addr.Port()
		if port == 0 {
			return false
		}
		ip := sa.Addr.Addr().Unmap()
		if to, ok = t.exact[netip.AddrPortFrom(ip, port)]; !ok {
			to, ok = t.any[ip]
		}
	}
	if !ok {
		return false
	}
	switch {
	case to.addr.IsValid():
		sa.Addr, sa.Path = to.addr, ""
	case to.ip.IsValid():
		// Only IP FROMs reach here: a unix FROM with a portless TO is
		// refused when parsing.
		sa.Addr, sa.Path = netip.AddrPortFrom(to.ip, port), ""
	default:
		sa.Addr, sa.Path = netip.AddrPort{}, to.path
	}
	return true
}

// Len returns the number of rules.
func (t *RewriteTable) Len() int {
	if t == nil {
		return 0
	}
	return t.nrules
}

// String returns the rules in canonical form, sorted, as "FROM=TO" joined by
// commas; ParseRewrite(strings.Split(s, ",")...) gives the same table back
// unless a path contains "," or "=".
func (t *RewriteTable) String() string {
	if t == nil {
		return ""
	}
	return t.rules
}
