//go:build linux

package curl

import (
	"bytes"
	"strings"
	"testing"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// A trace fed by the three socket callbacks of a real transfer: every socket
// opened is closed by Cleanup.
func TestTraceTransfer(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	rt := mustRewrite(t, "192.0.2.1:80="+srv.Addr)
	var log bytes.Buffer
	tr := sock.NewTrace(&log)
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, purpose SockType, a *Sockaddr) (int, error) {
		from := a.String()
		if !rt.Rewrite(a) {
			from = ""
		}
		fd, err := OpenSocket(a)
		if err != nil {
			tr.Record(sock.TraceEvent{Handle: 1, Kind: sock.TraceRefuse, FD: -1, Purpose: purpose, Addr: a.String(), Rewrite: from, Err: err})
			return SOCKET_BAD, err
		}
		tr.Record(sock.TraceEvent{Handle: 1, Kind: sock.TraceOpen, FD: fd, Purpose: purpose, Addr: a.String(), Rewrite: from})
		return fd, nil
	}))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(_ any, fd int, purpose SockType) (int, error) {
		tr.Record(sock.TraceEvent{Handle: 1, Kind: sock.TraceSockopt, FD: fd, Purpose: purpose})
		return SOCKOPT_OK, nil
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		err := unix.Close(fd)
		tr.Record(sock.TraceEvent{Handle: 1, Kind: sock.TraceClose, FD: fd, Err: err})
		return err
	}))
	must(t, e.Setopt(OPT_URL, "http://192.0.2.1/trace"))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /trace" {
		t.Fatalf("body %q", body.String())
	}
	if got, want := tr.Stats(), (sock.TraceStats{Opened: 1, Open: 1}); got != want {
		t.Fatalf("after Perform: %+v, want %+v (the connection is cached)", got, want)
	}
	e.Cleanup()
	if got, want := tr.Stats(), (sock.TraceStats{Opened: 1, Closed: 1}); got != want {
		t.Fatalf("after Cleanup: %+v, want %+v", got, want)
	}
	lines := strings.Split(strings.TrimSuffix(log.String(), "\n"), "\n")
	suffix := srv.Addr + " (rewritten from 192.0.2.1:80)"
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "IPCXN "+suffix) || !strings.Contains(lines[0], " #1 open fd=") ||
		!strings.Contains(lines[1], " sockopt fd=") || !strings.HasSuffix(lines[2], suffix) || !strings.Contains(lines[2], " close fd=") {
		t.Fatalf("log:\n%s", log.String())
	}
}
