//go:build linux

package curl

// End-to-end tests of the guard: installed with Sockets on an easy handle,
// judging what libcurl really connects to, against local servers. The
// guard's own rules are tested in guard_test.go.

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/curlsock/curlsock/sock"
)

// The guard sees the address libcurl really connects to, however the URL
// spells it: encoded IPv4 forms, mapped IPv6, 0.0.0.0, names pinned with
// RESOLVE. None of them reaches the server.
func TestGuardEndToEnd(t *testing.T) {
	srv := newServer(t, "tcp4")
	_, port, _ := net.SplitHostPort(srv.Addr)
	for _, tc := range []struct {
		name    string
		url     string
		resolve []string
	}{
		{"decimal", "http://2130706433:" + port + "/", nil},
		{"hex", "http://0x7f000001:" + port + "/", nil},
		{"octal", "http://0177.0.0.1:" + port + "/", nil},
		{"short", "http://127.1:" + port + "/", nil},
		{"mapped", "http://[::ffff:127.0.0.1]:" + port + "/", nil},
		{"zero", "http://0.0.0.0:" + port + "/", nil},
		{"resolve", "http://internal.test:" + port + "/", []string{"internal.test:" + port + ":127.0.0.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			e, _ := newEasy(t)
			must(t, (&Sockets{Guard: sock.NewGuard(sock.WithAnyPort())}).Install(e))
			must(t, e.Setopt(OPT_URL, tc.url))
			if tc.resolve != nil {
				must(t, e.Setopt(OPT_RESOLVE, tc.resolve))
			}
			err := e.Perform()
			if !errors.Is(err, sock.ErrProhibitedIP) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
				t.Fatalf("Perform = %v, want sock.ErrProhibitedIP and E_COULDNT_CONNECT", err)
			}
		})
	}
	if srv.Conns() != 0 {
		t.Fatalf("the server saw %d connections", srv.Conns())
	}
}

// A redirect to a denied address is stopped at its connection attempt; each
// refused address of the transfer is in the error.
func TestGuardEndToEndRedirect(t *testing.T) {
	noLeaks(t)
	target := newServer(t, "tcp6")
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+target.Addr+"/inside", http.StatusFound)
	}))
	e, _ := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	must(t, e.Setopt(OPT_FOLLOWLOCATION, 1))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	err := e.Perform()
	var perr *Error
	if !errors.As(err, &perr) || !errors.Is(err, sock.ErrProhibitedIP) || len(perr.Callbacks) != 1 || perr.Callbacks[0].Addr != target.Addr {
		t.Fatalf("Perform = %v, want one refusal of %s", err, target.Addr)
	}
	if srv.Hits() != 1 || target.Conns() != 0 {
		t.Fatalf("hits %d, target connections %d", srv.Hits(), target.Conns())
	}
}

// RESOLVE with a denied and an allowed address: the denied one is refused,
// the allowed one used, and the transfer succeeds.
func TestGuardEndToEndMixedResolve(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	_, port := splitPort(t, srv.Addr)
	e, body := newEasy(t)
	var tr bytes.Buffer
	must(t, (&Sockets{Guard: loopbackGuard(), Trace: sock.NewTrace(&tr)}).Install(e))
	must(t, e.Setopt(OPT_RESOLVE, []string{"mixed.test:" + port + ":10.9.8.7,127.0.0.1"}))
	must(t, e.Setopt(OPT_URL, "http://mixed.test:"+port+"/m"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /m" {
		t.Fatalf("body %q", body.String())
	}
	if !strings.Contains(tr.String(), "10.9.8.7") || !strings.Contains(tr.String(), "refuse") {
		t.Fatalf("trace lacks the refusal:\n%s", tr.String())
	}
}

// A connection made by an unguarded handle sits in a shared cache; a guarded
// handle must not reuse it to reach a denied address.
func TestGuardEndToEndConnectionReuse(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	sh := newShare(t, LOCK_DATA_CONNECT)
	defer func() { must(t, sh.Cleanup()) }()
	a, _ := newEasy(t)
	must(t, a.Setopt(OPT_SHARE, sh))
	must(t, a.Setopt(OPT_URL, srv.url("/a")))
	must(t, a.Perform())
	a.Cleanup()

	// The handle's own prereq callback composes with the guard's check,
	// which runs first, and the refusal is traced like one in open.
	g, _ := newEasy(t)
	must(t, g.Setopt(OPT_SHARE, sh))
	var log bytes.Buffer
	tr := sock.NewTrace(&log)
	must(t, (&Sockets{Guard: sock.NewGuard(sock.WithAnyPort()), Trace: tr}).Install(g))
	userPrereq := 0
	must(t, g.Setopt(OPT_PREREQFUNCTION, func(any, string, string, int, int) error { userPrereq++; return nil }))
	must(t, g.Setopt(OPT_URL, srv.url("/g")))
	err := g.Perform()
	if !errors.Is(err, sock.ErrProhibitedIP) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
		t.Fatalf("Perform over a reused connection = %v, want sock.ErrProhibitedIP", err)
	}
	if srv.Hits() != 1 || userPrereq != 0 {
		t.Fatalf("server got %d requests (want only the unguarded one), user prereq ran %d times (want 0)", srv.Hits(), userPrereq)
	}
	if st := tr.Stats(); st.Refused != 1 {
		t.Errorf("trace stats %+v, want the prereq refusal counted", st)
	}
	if !strings.Contains(log.String(), "refuse") || !strings.Contains(log.String(), srv.Addr) {
		t.Errorf("trace log %q, want the refusal of %s", log.String(), srv.Addr)
	}
	g.Cleanup()
}

// Unix sockets, by path or abstract, are denied unless allowed. An abstract
// one passes prereq too, where libcurl names its peer "" (sun_path starts
// with NUL).
func TestGuardEndToEndUnix(t *testing.T) {
	for _, network := range []string{"unix", "unix-abstract"} {
		t.Run(network, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, network)
			for _, allow := range []bool{false, true} {
				e, body := newEasy(t)
				g := loopbackGuard()
				if allow {
					g = loopbackGuard(sock.WithUnixSockets())
				}
				must(t, (&Sockets{Guard: g}).Install(e))
				if network == "unix" {
					must(t, e.Setopt(OPT_UNIX_SOCKET_PATH, srv.Addr))
				} else {
					must(t, e.Setopt(OPT_ABSTRACT_UNIX_SOCKET, strings.TrimPrefix(srv.Addr, "@")))
				}
				must(t, e.Setopt(OPT_URL, "http://localhost/u"))
				err := e.Perform()
				if allow {
					must(t, err)
					if body.String() != "hello "+network+" /u" {
						t.Fatalf("body %q", body.String())
					}
				} else if !errors.Is(err, sock.ErrProhibitedFamily) || srv.Hits() != 0 {
					t.Fatalf("Perform = %v after %d requests, want sock.ErrProhibitedFamily before any", err, srv.Hits())
				}
			}
		})
	}
}

// A rewrite that changes the port: prereq judges the port connected, not
// the URL's, which libcurl 7.88 still reports as the connection's.
func TestGuardEndToEndRewrittenPort(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	_, port := splitPort(t, srv.Addr)
	p, err := strconv.Atoi(port)
	must(t, err)
	rw, err := sock.ParseRewrite("127.0.0.1:1=127.0.0.1:" + port)
	must(t, err)
	g := sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), sock.WithPorts(uint16(p)))
	e, body := newEasy(t)
	must(t, (&Sockets{Rewrite: rw, Guard: g}).Install(e))
	must(t, e.Setopt(OPT_URL, "http://127.0.0.1:1/moved"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /moved" {
		t.Fatalf("body %q", body.String())
	}
	// The port that was not rewritten is still judged.
	must(t, e.Setopt(OPT_URL, "http://127.0.0.1:2/"))
	if err := e.Perform(); !errors.Is(err, sock.ErrProhibitedPort) {
		t.Fatalf("Perform to port 2 = %v, want sock.ErrProhibitedPort", err)
	}
}

// Port 0 marks libcurl's FTP listen socket only on a local address and when
// FTP may run: any other destination with port 0 meets the guard.
func TestGuardEndToEndPortZero(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name, url string
		protocols []string
		want      error
	}{
		{"loopback-http-only", "http://127.0.0.1:0/", nil, sock.ErrProhibitedPort},
		// With FTP allowed a loopback port 0 is taken for a listen socket:
		// the connect reaches nothing.
		{"loopback-ftp-allowed", "http://127.0.0.1:0/", []string{"http", "ftp"}, CurlError(E_COULDNT_CONNECT)},
		{"not-local-ftp-allowed", "http://192.0.2.1:0/", []string{"http", "ftp"}, sock.ErrProhibitedIP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newEasy(t)
			must(t, (&Sockets{Guard: loopbackGuard(sock.WithPorts(80)), Protocols: tc.protocols}).Install(e))
			// Should the guard let 192.0.2.1 through, the socket is bound
			// to lo and no packet leaves this host.
			must(t, e.Setopt(OPT_INTERFACE, "if!lo"))
			must(t, e.Setopt(OPT_URL, tc.url))
			if err := e.Perform(); !errors.Is(err, tc.want) {
				t.Fatalf("Perform = %v, want %v", err, tc.want)
			}
		})
	}
}

// Schemes other than http and https are closed by default (file:// opens no
// socket the guard could check), and proxies from the environment are
// ignored: a proxy would connect to the destination out of the guard's sight.
func TestGuardEndToEndProtocolsAndEnvProxy(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	must(t, e.Setopt(OPT_URL, "file:///etc/passwd"))
	if err := e.Perform(); err != CurlError(E_UNSUPPORTED_PROTOCOL) {
		t.Fatalf("file:// = %v, want E_UNSUPPORTED_PROTOCOL", err)
	}

	proxy := newServer(t, "tcp4")
	srv := newServer(t, "tcp4")
	t.Setenv("http_proxy", "http://"+proxy.Addr)
	e2, body := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e2))
	must(t, e2.Setopt(OPT_URL, srv.url("/direct")))
	must(t, e2.Perform())
	if proxy.Hits() != 0 || body.String() != "hello tcp4 /direct" {
		t.Fatalf("proxy hits %d, body %q: the environment's proxy was used", proxy.Hits(), body.String())
	}
}

// A proxy set explicitly is what the guard sees: it allows or refuses the
// proxy's address, never the destination's (which the proxy connects to).
func TestGuardEndToEndExplicitProxy(t *testing.T) {
	noLeaks(t)
	proxy := newServer(t, "tcp4") // answers the proxied request itself
	e, body := newEasy(t)
	must(t, (&Sockets{Guard: loopbackGuard()}).Install(e))
	must(t, e.Setopt(OPT_PROXY, "http://"+proxy.Addr))
	must(t, e.Setopt(OPT_URL, "http://10.0.0.1/through-proxy"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /through-proxy" {
		t.Fatalf("body %q", body.String())
	}
	e2, _ := newEasy(t)
	must(t, (&Sockets{Guard: sock.NewGuard(sock.WithAnyPort())}).Install(e2))
	must(t, e2.Setopt(OPT_PROXY, "http://"+proxy.Addr))
	must(t, e2.Setopt(OPT_URL, "http://example.test/"))
	if err := e2.Perform(); !errors.Is(err, sock.ErrProhibitedIP) {
		t.Fatalf("a denied proxy: %v", err)
	}
}
