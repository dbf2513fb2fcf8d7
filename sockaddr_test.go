//go:build linux

package curl

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"unsafe"

	"github.com/curlsock/curlsock/internal/sockmark"
	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// An abstract unix socket end to end: libcurl's address (leading NUL, no
// trailing one) decodes to Go's "@name".
func TestAbstractUnixSocket(t *testing.T) {
	noLeaks(t)
	name := fmt.Sprintf("curlsock-test-%d", os.Getpid())
	ln, err := net.Listen("unix", "@"+name)
	if err != nil {
		t.Skipf("no abstract unix sockets: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "abstract") })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	var rec recorder
	e, body := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_ABSTRACT_UNIX_SOCKET, name))
	must(t, e.Setopt(OPT_URL, "http://localhost/"))
	must(t, e.Perform())
	if body.String() != "abstract" {
		t.Fatalf("body %q", body.String())
	}
	ev := rec.Events()
	if len(ev) == 0 || ev[0].Addr != "unix:@"+name || ev[0].Family != unix.AF_UNIX {
		t.Fatalf("open event %+v, want unix:@%s", ev, name)
	}
}

// Package sock's SockType values are libcurl's, which curl declares from C.
func TestSockTypeValues(t *testing.T) {
	if SOCKTYPE_IPCXN != sock.SockTypeIPCXN || SOCKTYPE_ACCEPT != sock.SockTypeAccept {
		t.Fatalf("SOCKTYPE_IPCXN %d, SOCKTYPE_ACCEPT %d; sock has %d, %d",
			SOCKTYPE_IPCXN, SOCKTYPE_ACCEPT, sock.SockTypeIPCXN, sock.SockTypeAccept)
	}
	if SOCKTYPE_IPCXN.String() != "IPCXN" || SOCKTYPE_ACCEPT.String() != "ACCEPT" {
		t.Fatalf("String: %s %s", SOCKTYPE_IPCXN, SOCKTYPE_ACCEPT)
	}
}

// OpenSocket refuses what Sockaddr.Socket refuses, with SOCKET_BAD.
func TestOpenSocketInvalid(t *testing.T) {
	if fd, err := OpenSocket(nil); fd != SOCKET_BAD || !errors.Is(err, sock.ErrInvalidAddress) {
		t.Fatalf("OpenSocket(nil) = %d, %v", fd, err)
	}
	both := &Sockaddr{Addr: netip.MustParseAddrPort("127.0.0.1:1"), Path: "/x"}
	if fd, err := OpenSocket(both); fd != SOCKET_BAD || !errors.Is(err, sock.ErrInvalidAddress) {
		t.Fatalf("OpenSocket(Addr and Path) = %d, %v", fd, err)
	}
}

// The benchmarks' hook marks a socket as Socket would (internal/sockmark).
func TestSockmarkMarksMade(t *testing.T) {
	var sa Sockaddr
	sa.Decode(unix.AF_INET, unix.SOCK_STREAM, unix.IPPROTO_TCP, nil)
	if sa.Made(7) {
		t.Fatal("Made(7) before any mark")
	}
	sockmark.MarkMade(unsafe.Pointer(&sa), 7)
	if !sa.Made(7) || sa.Made(8) {
		t.Fatal("MarkMade(7) did not mark 7 alone")
	}
}
