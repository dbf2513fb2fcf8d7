//go:build linux

package curl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// A sockopt failure fails the attempt with E_ABORTED_BY_CALLBACK (not
// E_COULDNT_CONNECT, whatever libcurl's man page says), closes the socket
// through the close-socket callback and moves on to the next address.
func TestSockoptError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		code    int
		err     error
		wantErr error
	}{
		{"error-code", SOCKOPT_ERROR, nil, ErrSockoptFailed},
		{"go-error", SOCKOPT_OK, errors.New("no options for you"), nil},
		{"bad-code", 7, nil, ErrInvalidSockopt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, "tcp4")
			_, port, _ := net.SplitHostPort(srv.Addr)
			var rec recorder
			e, _ := newEasy(t)
			rec.install(t, e)
			must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) { return tc.code, tc.err }))
			must(t, e.Setopt(OPT_RESOLVE, []string{"two.test:" + port + ":127.0.0.1,127.0.0.1"}))
			must(t, e.Setopt(OPT_URL, "http://two.test:"+port+"/"))
			err := e.Perform()
			want := tc.wantErr
			if want == nil {
				want = tc.err
			}
			if !errors.Is(err, want) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
				t.Fatalf("Perform = %v, want %v and E_ABORTED_BY_CALLBACK", err, want)
			}
			var ce *CallbackError
			if !errors.As(err, &ce) || ce.Callback != "sockopt" || ce.Addr != srv.Addr {
				t.Fatalf("Perform = %v, want a sockopt error naming %s", err, srv.Addr)
			}
			if o, c := rec.count("open"), rec.count("close"); o != 2 || c != 2 {
				t.Fatalf("%d opens and %d closes, want one of each per address", o, c)
			}
			if srv.Conns() != 0 {
				t.Fatalf("server saw %d connections", srv.Conns())
			}
		})
	}
}

// An option set in the sockopt callback is on the socket libcurl connects.
func TestSockoptSetsOption(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, body := newEasy(t)
	const tos = 0x28
	var seen int
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(_ any, fd int, _ SockType) (int, error) {
		return SOCKOPT_OK, unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS, tos)
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		seen, _ = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TOS)
		return unix.Close(fd)
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/tos")))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	must(t, e.Perform())
	if seen != tos {
		t.Fatalf("IP_TOS on the connected socket = %#x, want %#x", seen, tos)
	}
	if body.String() != "hello tcp4 /tos" {
		t.Fatalf("body %q", body.String())
	}
}

// SOCKOPT_ALREADY_CONNECTED hands libcurl a socket the application connected.
// libcurl 7.88.0–7.88.1 connect it again and fail (curl #10626): there
// curlsock refuses it with an error naming the version.
func TestSockoptAlreadyConnected(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	ap := netip.MustParseAddrPort(srv.Addr)
	e, body := newEasy(t)
	var closed []int
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return SOCKET_BAD, err
		}
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
			unix.Close(fd)
			return SOCKET_BAD, err
		}
		return fd, nil
	}))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) {
		return SOCKOPT_ALREADY_CONNECTED, nil
	}))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		closed = append(closed, fd)
		return unix.Close(fd)
	}))
	// The URL names a port nothing listens on: only the handed-over socket
	// can reach the server.
	must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/pre", closedPort(t))))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	err := e.Perform()
	if alreadyConnectedBroken {
		if !errors.Is(err, ErrAlreadyConnectedUnsupported) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
			t.Fatalf("libcurl %s: Perform = %v, want ErrAlreadyConnectedUnsupported", versionString(), err)
		}
	} else {
		must(t, err)
		if body.String() != "hello tcp4 /pre" {
			t.Fatalf("body %q", body.String())
		}
	}
	if len(closed) != 1 {
		t.Fatalf("closesocket called %d times, want once for the handed-over socket", len(closed))
	}
}

func TestSockoptNilUnsets(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) { return SOCKOPT_ERROR, nil }))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, nil))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
}

// go-curl's own Duphandle copies the callback ids: two handles then run
// callbacks of one registration on two threads at once. What the open
// callback keeps for a sockopt error belongs to the thread's frame, not to
// the registration (`make test` runs this under the race detector).
func TestSockoptGoCurlDuphandleConcurrent(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	var mu sync.Mutex
	calls := 0
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return SOCKOPT_OK, nil
	}))
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, addr *Sockaddr) (int, error) { return OpenSocket(addr) }))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_FORBID_REUSE, 1))
	// Both copies write here: the test's body buffer would race.
	must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	d := Wrap(e.CURL.Duphandle())
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for _, h := range []*CURL{e, d} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				errs <- h.Perform()
			}
		}()
	}
	wg.Wait()
	d.Cleanup()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if calls != 2*n {
		t.Fatalf("%d sockopt calls, want %d", calls, 2*n)
	}
}
