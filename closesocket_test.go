//go:build linux

package curl

import (
	"errors"
	"testing"

	"github.com/curlsock/curlsock/internal/cbench"
	"golang.org/x/sys/unix"
)

// A close-socket callback alone sees the sockets libcurl would have opened
// itself: connected to the server, closed once.
func TestCloseSocketAlone(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	var peers []string
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(data any, fd int) error {
		if data != "c" {
			t.Errorf("clientp %v, want c", data)
		}
		sa, err := unix.Getpeername(fd)
		if err != nil {
			t.Errorf("getpeername(%d): %v", fd, err)
		} else {
			peers = append(peers, sockaddrString(sa))
		}
		return unix.Close(fd)
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "c"))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	if len(peers) != 0 {
		t.Fatalf("closed %v during Perform: the connection should stay cached", peers)
	}
	e.Cleanup()
	if len(peers) != 1 || peers[0] != srv.Addr {
		t.Fatalf("closed %v at Cleanup, want [%s]", peers, srv.Addr)
	}
}

// libcurl ignores the close-socket callback's result: an error does not fail
// the transfer.
func TestCloseSocketErrorDoesNotFailTransfer(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, body := newEasy(t)
	calls := 0
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		calls++
		unix.Close(fd)
		return errors.New("close failed")
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/ok")))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	must(t, e.Perform())
	if calls != 1 || body.String() != "hello tcp4 /ok" {
		t.Fatalf("calls %d, body %q", calls, body.String())
	}
}

// When the transfer fails, a close-socket error during it is reported with
// the others.
func TestCloseSocketErrorReportedOnFailure(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	closeErr := errors.New("close failed")
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) { return SOCKOPT_ERROR, nil }))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		unix.Close(fd)
		return closeErr
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	err := e.Perform()
	if !errors.Is(err, closeErr) || !errors.Is(err, ErrSockoptFailed) {
		t.Fatalf("Perform = %v, want the sockopt and the close error", err)
	}
}

// CONNECT_ONLY keeps the socket open until Cleanup.
func TestCloseSocketConnectOnly(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	var rec recorder
	e, _ := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_CONNECT_ONLY, 1))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	if n := rec.count("close"); n != 0 {
		t.Fatalf("%d closes after a CONNECT_ONLY Perform, want 0", n)
	}
	e.Cleanup()
	if o, c := rec.count("open"), rec.count("close"); o != 1 || c != 1 {
		t.Fatalf("%d opens, %d closes after Cleanup, want 1 and 1", o, c)
	}
}

func TestCloseSocketNilUnsets(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	calls := 0
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		calls++
		return unix.Close(fd)
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, nil))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	must(t, e.Perform())
	if calls != 0 {
		t.Fatalf("unset callback ran %d times", calls)
	}
	if got := Registrations().CloseCallbacks; got != 0 {
		t.Fatalf("%d close registrations after unsetting the only one", got)
	}
}

// Setting new close-socket data makes a new registration: a connection keeps
// the data it was made with.
func TestCloseSocketDataPerConnection(t *testing.T) {
	noLeaks(t)
	s1 := newServer(t, "tcp4")
	s2 := newServer(t, "tcp4")
	var rec recorder
	e, _ := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "first"))
	must(t, e.Setopt(OPT_URL, s1.url("/")))
	must(t, e.Perform())
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "second"))
	must(t, e.Setopt(OPT_URL, s2.url("/")))
	must(t, e.Perform())
	e.Cleanup()
	got := map[string]any{}
	opened := map[int]string{}
	for _, ev := range rec.Events() {
		switch ev.Kind {
		case "open":
			opened[ev.FD] = ev.Addr
		case "close":
			got[opened[ev.FD]] = ev.Data
		}
	}
	if got[s1.Addr] != "first" || got[s2.Addr] != "second" {
		t.Fatalf("close data by server: %v, want %s→first, %s→second", got, s1.Addr, s2.Addr)
	}
}

// Close-socket data changed while a transfer in a multi has created its
// connection (holding the old id) but not yet opened its socket, as when it
// waits for an asynchronous resolve: the socket opened after the change must
// keep the old registration alive after RemoveHandle, for the connection
// cached in the multi closes it with the old id. libcurl's side is played by
// cbench, which calls the trampolines as libcurl would.
func TestCloseSocketDataChangedBeforeOpen(t *testing.T) {
	noLeaks(t)
	m := newMulti(t)
	e, _ := newEasy(t)
	var closedWith []any
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(data any, fd int) error {
		closedWith = append(closedWith, data)
		return unix.Close(fd)
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "old"))
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, addr *Sockaddr) (int, error) { return OpenSocket(addr) }))
	must(t, m.AddHandle(e))
	oldID := closerID(e)
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "new"))
	fd := cbench.Open(e.reg.id, 1, 80)
	if fd < 0 {
		t.Fatal("open refused")
	}
	must(t, m.RemoveHandle(e))
	if got := Registrations().CloseCallbacks; got != 2 {
		t.Fatalf("%d close registrations after RemoveHandle, want 2: the socket opened after the change may be closed with the old id", got)
	}
	cbench.Close(0, oldID, fd, 1)
	if len(closedWith) != 1 || closedWith[0] != "old" {
		t.Fatalf("close callback called with %v, want [old]", closedWith)
	}
	if got := Registrations().CloseCallbacks; got != 1 {
		t.Fatalf("%d close registrations after the close, want 1", got)
	}
}

// A connect attempt abandoned on timeout. libcurl before 8.2.0 closes such a
// socket with close() instead of the callback (fixed by PR #11439); curlsock
// must still release what it kept for that socket.
func TestCloseSocketConnectTimeout(t *testing.T) {
	noLeaks(t)
	addr := blackHole(t, "tcp4", 0)
	var rec recorder
	e, _ := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_CONNECTTIMEOUT_MS, 300))
	must(t, e.Setopt(OPT_URL, "http://"+addr+"/"))
	err := e.Perform()
	if !errors.Is(err, CurlError(E_OPERATION_TIMEDOUT)) {
		t.Fatalf("Perform = %v, want E_OPERATION_TIMEDOUT", err)
	}
	wantCloses := 1
	if versionNum < 0x080200 {
		wantCloses = 0
	}
	if o, c := rec.count("open"), rec.count("close"); o != 1 || c != wantCloses {
		t.Fatalf("libcurl %s: %d opens, %d closes; want 1 and %d", versionString(), o, c, wantCloses)
	}
	e.Cleanup()
	if r := Registrations(); r.Sockets != 0 {
		t.Fatalf("%d sockets still accounted after libcurl closed them", r.Sockets)
	}
}
