//go:build linux

package curl

import (
	"errors"
	"net/netip"
	"runtime"
	"testing"

	"github.com/curlsock/curlsock/internal/ftptest"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func newFTP(t *testing.T) *ftptest.Server {
	t.Helper()
	s := ftptest.New(map[string][]byte{"hello.txt": []byte("hello over ftp\n")})
	t.Cleanup(s.Close)
	return s
}

// FTP active mode: the listen socket comes through the open-socket callback
// as IPCXN with the local address and port 0, and gets no sockopt call; the
// accepted data socket gets sockopt with ACCEPT and never reaches the
// close-socket callback.
func TestFTPActive(t *testing.T) {
	for _, port := range []string{"-", "127.0.0.1"} {
		t.Run(port, func(t *testing.T) {
			noLeaks(t)
			srv := newFTP(t)
			var rec recorder
			e, body := newEasy(t)
			rec.install(t, e)
			must(t, e.Setopt(OPT_FTPPORT, port))
			must(t, e.Setopt(OPT_URL, srv.URL()+"hello.txt"))
			must(t, e.Perform())
			e.Cleanup()
			if body.String() != "hello over ftp\n" {
				t.Fatalf("body %q", body.String())
			}
			ev := rec.Events()
			var opens, sockopts, closes []event
			for _, x := range ev {
				switch x.Kind {
				case "open":
					opens = append(opens, x)
				case "sockopt":
					sockopts = append(sockopts, x)
				case "close":
					closes = append(closes, x)
				}
			}
			if len(opens) != 2 || len(sockopts) != 2 {
				t.Fatalf("events %+v, want 2 opens and 2 sockopts", ev)
			}
			ctrl, listen := opens[0], opens[1]
			wantListen := event{Kind: "open", FD: listen.FD, Purpose: SOCKTYPE_IPCXN, Family: unix.AF_INET,
				Socktype: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Addr: "127.0.0.1:0"}
			if diff := cmp.Diff(wantListen, listen); diff != "" {
				t.Fatalf("listen socket open (-want +got):\n%s", diff)
			}
			if ctrl.Addr != srv.Addr() {
				t.Fatalf("control connection to %s, want %s", ctrl.Addr, srv.Addr())
			}
			accepted := sockopts[1]
			if sockopts[0].FD != ctrl.FD || sockopts[0].Purpose != SOCKTYPE_IPCXN {
				t.Fatalf("first sockopt %+v, want the control socket", sockopts[0])
			}
			if accepted.Purpose != SOCKTYPE_ACCEPT || accepted.FD == listen.FD {
				t.Fatalf("second sockopt %+v, want ACCEPT on the accepted socket", accepted)
			}
			var closed []int
			for _, c := range closes {
				closed = append(closed, c.FD)
			}
			if diff := cmp.Diff([]int{listen.FD, ctrl.FD}, closed); diff != "" {
				t.Fatalf("closed fds (-want +got):\n%s", diff)
			}
		})
	}
}

// libcurl ignores rewrites of the listen socket's address; a rewriting
// callback must not break active mode.
func TestFTPActiveRewriteIgnored(t *testing.T) {
	noLeaks(t)
	srv := newFTP(t)
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		if a.Addr.Port() == 0 {
			a.Addr = netip.MustParseAddrPort("127.0.0.1:9")
		}
		return OpenSocket(a)
	}))
	must(t, e.Setopt(OPT_FTPPORT, "-"))
	must(t, e.Setopt(OPT_URL, srv.URL()+"hello.txt"))
	must(t, e.Perform())
	if body.String() != "hello over ftp\n" {
		t.Fatalf("body %q", body.String())
	}
}

// Any failure for an accepted socket aborts the transfer, and
// SOCKOPT_ALREADY_CONNECTED is not a valid answer for it.
func TestFTPActiveAcceptSockopt(t *testing.T) {
	for _, tc := range []struct {
		name string
		code int
		want error
	}{
		{"error", SOCKOPT_ERROR, ErrSockoptFailed},
		{"already-connected", SOCKOPT_ALREADY_CONNECTED, ErrInvalidSockopt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := newFTP(t)
			e, _ := newEasy(t)
			must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(_ any, _ int, p SockType) (int, error) {
				if p == SOCKTYPE_ACCEPT {
					return tc.code, nil
				}
				return SOCKOPT_OK, nil
			}))
			must(t, e.Setopt(OPT_FTPPORT, "-"))
			must(t, e.Setopt(OPT_URL, srv.URL()+"hello.txt"))
			err := e.Perform()
			if !errors.Is(err, tc.want) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
				t.Fatalf("Perform = %v, want %v and E_ABORTED_BY_CALLBACK", err, tc.want)
			}
			var ce *CallbackError
			if !errors.As(err, &ce) || ce.Purpose != SOCKTYPE_ACCEPT || ce.Addr == "" {
				t.Fatalf("Perform = %v, want an ACCEPT sockopt error naming the peer", err)
			}
		})
	}
}

// B reuses A's FTP control connection in a multi: the passive data socket is
// opened by B's open-socket callback and closed by A's close-socket callback,
// after A was cleaned up.
func TestFTPPassiveOnReusedConnection(t *testing.T) {
	noLeaks(t)
	srv := ftptest.New(map[string][]byte{"a.txt": []byte("A\n"), "b.txt": []byte("B\n")})
	t.Cleanup(srv.Close)
	m := MultiInit()
	var recA, recB recorder
	a, _ := newEasy(t)
	recA.install(t, a)
	must(t, a.Setopt(OPT_OPENSOCKETDATA, "A"))
	must(t, a.Setopt(OPT_CLOSESOCKETDATA, "A"))
	must(t, a.Setopt(OPT_URL, srv.URL()+"a.txt"))
	must(t, m.AddHandle(a))
	runAll(t, m)
	must(t, m.RemoveHandle(a))
	a.Cleanup()
	runtime.GC()
	aCloses := recA.count("close")

	b, body := newEasy(t)
	recB.install(t, b)
	must(t, b.Setopt(OPT_OPENSOCKETDATA, "B"))
	must(t, b.Setopt(OPT_CLOSESOCKETDATA, "B"))
	must(t, b.Setopt(OPT_URL, srv.URL()+"b.txt"))
	must(t, m.AddHandle(b))
	for _, msg := range runAll(t, m) {
		must(t, msg.Result())
	}
	must(t, m.RemoveHandle(b))
	if body.String() != "B\n" || srv.ControlConns() != 1 {
		t.Fatalf("body %q over %d control connections, want B over 1", body.String(), srv.ControlConns())
	}
	opensB := recB.Events()
	if len(opensB) == 0 || opensB[0].Kind != "open" || opensB[0].Data != "B" {
		t.Fatalf("B's events %+v: want B's open for the data connection", opensB)
	}
	dataFD := opensB[0].FD
	closedByA := recA.Events()[len(recA.Events())-1]
	if recA.count("close") != aCloses+1 || closedByA.FD != dataFD || closedByA.Data != "A" {
		t.Fatalf("A's events %+v: want A's close of B's data socket %d", recA.Events(), dataFD)
	}
	if recB.count("close") != 0 {
		t.Fatalf("B's close callback ran: %+v", recB.Events())
	}
	b.Cleanup()
	must(t, m.Cleanup())
	runtime.GC()
	if got := Registrations(); got.CloseCallbacks != 0 || got.Sockets != 0 {
		t.Fatalf("registrations after the multi's cleanup: %+v", got)
	}
}
