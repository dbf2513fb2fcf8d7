//go:build linux

package curl

import (
	"fmt"
	"testing"

	"github.com/curlsock/curlsock/sock"
)

// The table as an open-socket callback of a real transfer: the URL names an
// address nothing listens on (TEST-NET-1), and the rewrite sends libcurl to
// the loopback server instead.
func TestRewriteTableTransfer(t *testing.T) {
	for _, network := range []string{"tcp4", "tcp6", "unix"} {
		t.Run(network, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, network)
			rt := mustRewrite(t, "192.0.2.1:80="+srv.Addr)
			e, body := newEasy(t)
			var seen []string
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
				from := a.String()
				if !rt.Rewrite(a) {
					return SOCKET_BAD, fmt.Errorf("no rule for %s", from)
				}
				seen = append(seen, from+"→"+a.String())
				return OpenSocket(a)
			}))
			must(t, e.Setopt(OPT_URL, "http://192.0.2.1/rw"))
			must(t, e.Perform())
			if got, want := body.String(), "hello "+network+" /rw"; got != want {
				t.Fatalf("body %q, want %q", got, want)
			}
			want := "192.0.2.1:80→" + srv.Addr
			if network == "unix" {
				want = "192.0.2.1:80→unix:" + srv.Addr
			}
			if len(seen) != 1 || seen[0] != want {
				t.Fatalf("rewrites %v, want [%s]", seen, want)
			}
		})
	}
}

// FTP active mode: a rule for every port of the local address leaves the
// listen socket (port 0) alone.
func TestRewriteTableFTPActive(t *testing.T) {
	noLeaks(t)
	srv := newFTP(t)
	rt := mustRewrite(t, "127.0.0.1="+srv.Addr())
	e, body := newEasy(t)
	var rewritten []string
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		from := a.String()
		rewritten = append(rewritten, fmt.Sprint(from, " ", rt.Rewrite(a)))
		return OpenSocket(a)
	}))
	must(t, e.Setopt(OPT_FTPPORT, "127.0.0.1"))
	must(t, e.Setopt(OPT_URL, srv.URL()+"hello.txt"))
	must(t, e.Perform())
	if body.String() != "hello over ftp\n" {
		t.Fatalf("body %q", body.String())
	}
	want := fmt.Sprint([]string{srv.Addr() + " true", "127.0.0.1:0 false"})
	if fmt.Sprint(rewritten) != want {
		t.Fatalf("opens %v, want %v", rewritten, want)
	}
}

func mustRewrite(t *testing.T, rules ...string) *sock.RewriteTable {
	t.Helper()
	rt, err := sock.ParseRewrite(rules...)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}
