//go:build linux

package sock

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func mustRewrite(t *testing.T, rules ...string) *RewriteTable {
	t.Helper()
	rt, err := ParseRewrite(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func tcpDest(s string) Sockaddr {
	ap := netip.MustParseAddrPort(s)
	fam := unix.AF_INET6
	if ap.Addr().Is4() {
		fam = unix.AF_INET
	}
	return Sockaddr{Family: fam, Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: ap}
}

func unixDest(path string) Sockaddr {
	return Sockaddr{Family: unix.AF_UNIX, Socktype: unix.SOCK_STREAM, Path: path}
}

func TestRewriteTableLookup(t *testing.T) {
	lo1, err := net.InterfaceByIndex(1)
	if err != nil {
		t.Fatal(err)
	}
	rt := mustRewrite(t,
		"10.0.0.1:80=127.0.0.1:8080",
		"10.0.0.1=127.0.0.2",             // any other port of 10.0.0.1, port kept
		"10.0.0.3=127.0.0.3:9000",        // every port to one
		"10.0.0.4=/run/app.sock",         // every port to a unix socket
		"[2001:db8::1]:443=[::1]:8443",   // v6 → v6
		"[2001:db8::2]:443=10.9.9.9:443", // v6 → v4
		"2001:db8::3=::1",                // bare v6 FROM, port kept
		"[2001:db8::4]=[::2]",            // bracketed bare v6
		"[::ffff:10.0.0.5]:80=127.0.0.5:80",
		"10.0.0.6:80=[::ffff:127.0.0.6]:81", // mapped TO is its IPv4 address
		"[fe80::1%1]:80=127.0.0.7:80",       // numeric zone: the interface it names
		"/run/old.sock=/run/new.sock",
		"@old=@new",
		"/run/api.sock=127.0.0.1:7000",
	)
	for _, tc := range []struct {
		in   Sockaddr
		want string // "" for no rewrite
	}{
		{tcpDest("10.0.0.1:80"), "127.0.0.1:8080"},
		{tcpDest("10.0.0.1:443"), "127.0.0.2:443"},
		{tcpDest("[::ffff:10.0.0.1]:80"), "127.0.0.1:8080"},
		{tcpDest("[::ffff:10.0.0.1]:81"), "127.0.0.2:81"},
		{tcpDest("10.0.0.1:0"), ""}, // FTP active-mode listen address
		{tcpDest("10.0.0.2:80"), ""},
		{tcpDest("10.0.0.3:1"), "127.0.0.3:9000"},
		{tcpDest("10.0.0.4:80"), "unix:/run/app.sock"},
		{tcpDest("[2001:db8::1]:443"), "[::1]:8443"},
		{tcpDest("[2001:db8::1]:80"), ""},
		{tcpDest("[2001:db8::2]:443"), "10.9.9.9:443"},
		{tcpDest("[2001:db8::3]:22"), "[::1]:22"},
		{tcpDest("[2001:db8::4]:23"), "[::2]:23"},
		{tcpDest("10.0.0.5:80"), "127.0.0.5:80"},
		{tcpDest("10.0.0.6:80"), "127.0.0.6:81"},
		{tcpDest("[fe80::1%" + lo1.Name + "]:80"), "127.0.0.7:80"},
		{tcpDest("[fe80::1]:80"), ""}, // zones must match
		{unixDest("/run/old.sock"), "unix:/run/new.sock"},
		{unixDest("@old"), "unix:@new"},
		{unixDest("/run/api.sock"), "127.0.0.1:7000"},
		{unixDest("/run/other.sock"), ""},
		{unixDest("old"), ""},
		{Sockaddr{Family: unix.AF_PACKET}, ""},
	} {
		sa := tc.in
		before := sa.String()
		got := rt.Rewrite(&sa)
		if got != (tc.want != "") {
			t.Errorf("Rewrite(%s) = %v, want %v", before, got, !got)
			continue
		}
		want := tc.want
		if want == "" {
			want = before
		}
		if sa.String() != want {
			t.Errorf("Rewrite(%s) → %s, want %s", before, sa.String(), want)
		}
		if sa.Family != tc.in.Family || sa.Protocol != tc.in.Protocol || sa.Socktype != tc.in.Socktype {
			t.Errorf("Rewrite(%s) changed family/type/protocol: %+v", before, sa)
		}
		if sa.Addr.IsValid() && sa.Path != "" {
			t.Errorf("Rewrite(%s) left both Addr and Path: %+v", before, sa)
		}
	}
}

func TestRewriteTableExactBeatsAnyPort(t *testing.T) {
	// Either order: precedence is by specificity, not by rule order.
	for _, rules := range [][]string{
		{"10.0.0.1=127.0.0.2", "10.0.0.1:80=127.0.0.1:8080"},
		{"10.0.0.1:80=127.0.0.1:8080", "10.0.0.1=127.0.0.2"},
	} {
		rt := mustRewrite(t, rules...)
		sa := tcpDest("10.0.0.1:80")
		if !rt.Rewrite(&sa) || sa.String() != "127.0.0.1:8080" {
			t.Errorf("%v: 10.0.0.1:80 → %s", rules, sa.String())
		}
	}
}

func TestRewriteTableNotChained(t *testing.T) {
	rt := mustRewrite(t, "10.0.0.1:80=10.0.0.2:80", "10.0.0.2:80=10.0.0.3:80")
	sa := tcpDest("10.0.0.1:80")
	rt.Rewrite(&sa)
	if sa.String() != "10.0.0.2:80" {
		t.Fatalf("10.0.0.1:80 → %s, want one step to 10.0.0.2:80", sa.String())
	}
}

func TestRewriteTableParseErrors(t *testing.T) {
	long := "/" + strings.Repeat("x", sunPathMax)
	for _, tc := range []struct {
		rule, want string
	}{
		{"10.0.0.1:80", "want FROM=TO"},
		{"=127.0.0.1:80", "FROM: empty"},
		{"10.0.0.1:80=", "TO: empty"},
		{"example.com:80=127.0.0.1:80", "FROM: not an IP address"},
		{"10.0.0.1:80=localhost:80", "TO: not an IP address"},
		{"10.0.0.1:99999=127.0.0.1:80", `invalid port "99999"`},
		{"10.0.0.1:0=127.0.0.1:80", "port 0"},
		{"10.0.0.1:80=127.0.0.1:0", "port 0"},
		{"/run/a.sock=127.0.0.1", "has no port"},
		{"@=/run/a.sock", "empty abstract socket name"},
		{"/a\x00b=/c", "NUL"},
		{"/run/a.sock=" + long, "exceeds"},
		{"10.0.0.1:80=[fe80::1%nosuchif0]:80", `TO: zone "nosuchif0": no such interface`},
		{"[fe80::1%nosuchif0]:80=10.0.0.1:80", `FROM: zone "nosuchif0": no such interface`},
		{"fe80::1%nosuchif0=10.0.0.1:80", "FROM:"},
		{"10.0.0.1:80=10.0.0.2:http", `TO: invalid port "http"`},
		{"[::1]:65536=10.0.0.2:80", `FROM: invalid port "65536"`},
		{"10.0.0.1%eth0:80=127.0.0.1:80", "FROM:"},
		{"run/a.sock=/run/b.sock", "FROM: not an IP address"},
		{"[::1=[::2]", "FROM:"},
	} {
		_, err := ParseRewrite("10.9.9.9:1=10.9.9.8:1", tc.rule)
		if err == nil {
			t.Errorf("ParseRewrite(%q) succeeded", tc.rule)
			continue
		}
		if !errors.Is(err, ErrInvalidRewrite) {
			t.Errorf("ParseRewrite(%q) = %v, not ErrInvalidRewrite", tc.rule, err)
		}
		// The rule is named as given, quoted.
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.rule)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseRewrite(%q) = %v, want the rule and %q", tc.rule, err, tc.want)
		}
	}
}

func TestRewriteTableDuplicates(t *testing.T) {
	// The same FROM twice, written differently, agreeing: fine.
	rt := mustRewrite(t, "10.0.0.1:80=127.0.0.1:80", "[::ffff:10.0.0.1]:80=127.0.0.1:80")
	if rt.Len() != 1 {
		t.Fatalf("Len = %d, want 1", rt.Len())
	}
	_, err := ParseRewrite("10.0.0.1:80=127.0.0.1:80", "[::ffff:10.0.0.1]:80=127.0.0.1:81")
	if err == nil || !strings.Contains(err.Error(), "already rewritten to 127.0.0.1:80") {
		t.Fatalf("conflicting rules: %v", err)
	}
}

func TestRewriteTableString(t *testing.T) {
	rt := mustRewrite(t,
		" 10.0.0.2=127.0.0.1 ",
		"",
		"[::ffff:10.0.0.1]:80=[0:0::1]:8080",
		"@b=/run/x.sock",
		"/run/a.sock=10.0.0.3:1",
	)
	const want = "/run/a.sock=10.0.0.3:1,10.0.0.1:80=[::1]:8080,10.0.0.2=127.0.0.1,@b=/run/x.sock"
	if got := rt.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	again := mustRewrite(t, strings.Split(rt.String(), ",")...)
	if again.String() != want {
		t.Fatalf("round trip: %q", again.String())
	}
	empty := mustRewrite(t, strings.Split("", ",")...)
	if empty.String() != "" || empty.Len() != 0 {
		t.Fatalf("empty table: %q", empty.String())
	}
}

func TestRewriteTableFromMap(t *testing.T) {
	rt, err := NewRewriteTable(map[string]string{
		"/run/a=b.sock": "/run/c=d.sock", // "=" in paths: only a map can say this
		"10.0.0.1:80":   "127.0.0.1:8080",
	})
	if err != nil {
		t.Fatal(err)
	}
	sa := unixDest("/run/a=b.sock")
	if !rt.Rewrite(&sa) || sa.Path != "/run/c=d.sock" {
		t.Fatalf("unix rewrite → %s", sa.String())
	}
	sa = tcpDest("10.0.0.1:80")
	if !rt.Rewrite(&sa) || sa.String() != "127.0.0.1:8080" {
		t.Fatalf("tcp rewrite → %s", sa.String())
	}
	_, err = NewRewriteTable(map[string]string{"10.0.0.1:80": "nope", "10.0.0.2:80": "nope"})
	if err == nil || !strings.Contains(err.Error(), `"10.0.0.1:80=nope"`) {
		t.Fatalf("bad map: %v, want the first bad rule in sorted order", err)
	}
}

func TestRewriteTableNil(t *testing.T) {
	var rt *RewriteTable
	sa := tcpDest("10.0.0.1:80")
	if rt.Rewrite(&sa) || rt.String() != "" || rt.Len() != 0 {
		t.Fatal("nil table rewrote")
	}
	if mustRewrite(t, "10.0.0.1:80=127.0.0.1:80").Rewrite(nil) {
		t.Fatal("nil Sockaddr rewritten")
	}
}

func TestRewriteTableAllocs(t *testing.T) {
	rt := mustRewrite(t, "10.0.0.1:80=127.0.0.1:8080", "10.0.0.2=/run/x.sock", "/run/a.sock=/run/b.sock")
	miss4, miss6, missU := tcpDest("10.0.0.9:80"), tcpDest("[2001:db8::9]:80"), unixDest("/run/z.sock")
	if n := testing.AllocsPerRun(100, func() {
		a, b, c := miss4, miss6, missU
		rt.Rewrite(&a)
		rt.Rewrite(&b)
		rt.Rewrite(&c)
	}); n != 0 {
		t.Fatalf("%v allocations per miss", n)
	}
	hit := tcpDest("[::ffff:10.0.0.1]:80")
	if n := testing.AllocsPerRun(100, func() {
		a := hit
		rt.Rewrite(&a)
	}); n != 0 {
		t.Fatalf("%v allocations per hit", n)
	}
}

func TestRewriteTableConcurrent(t *testing.T) {
	rt := mustRewrite(t, "10.0.0.1:80=127.0.0.1:8080", "10.0.0.2=[::1]")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 1000 {
				sa := tcpDest(fmt.Sprintf("10.0.0.%d:%d", 1+(i+j)%3, 80))
				want := map[int]string{0: "127.0.0.1:8080", 1: "[::1]:80", 2: "10.0.0.3:80"}[(i+j)%3]
				rt.Rewrite(&sa)
				if sa.String() != want {
					t.Errorf("→ %s, want %s", sa.String(), want)
					return
				}
				_ = rt.String()
			}
		})
	}
	wg.Wait()
}
