//go:build linux

package curl

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

// The prereq callback runs for new and reused connections alike, with the
// connected peer; its error aborts the transfer.
func TestPrereq(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	host, port, _ := net.SplitHostPort(srv.Addr)
	e, _ := newEasy(t)
	var seen []string
	refuse := false
	errNo := errors.New("not this peer")
	must(t, e.Setopt(OPT_PREREQDATA, "p"))
	must(t, e.Setopt(OPT_PREREQFUNCTION, func(data any, primary, local string, pport, lport int) error {
		seen = append(seen, net.JoinHostPort(primary, strconv.Itoa(pport)))
		if data != "p" || local != "127.0.0.1" || lport == 0 {
			t.Errorf("prereq data %v, local %s:%d", data, local, lport)
		}
		if refuse {
			return errNo
		}
		return nil
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	must(t, e.Perform()) // reuses the connection: no open, but prereq again
	refuse = true
	err := e.Perform()
	if !errors.Is(err, errNo) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
		t.Fatalf("Perform = %v, want the prereq error and E_ABORTED_BY_CALLBACK", err)
	}
	if srv.Conns() != 1 || len(seen) != 3 || seen[2] != net.JoinHostPort(host, port) {
		t.Fatalf("%d connections, prereq saw %v", srv.Conns(), seen)
	}
	if srv.Hits() != 2 {
		t.Fatalf("server got %d requests, want 2 (the third aborted before sending)", srv.Hits())
	}
	must(t, e.Setopt(OPT_PREREQFUNCTION, nil))
	must(t, e.Perform())
	if err := e.Setopt(OPT_PREREQFUNCTION, func() {}); !errors.Is(err, ErrOptionType) {
		t.Fatalf("wrong type: %v", err)
	}
}
