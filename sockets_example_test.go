//go:build linux

package curl_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"syscall"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/sock"
)

// The whole toolkit on one handle: a rewrite, the guard on the rewritten
// address, a socket option and a trace, in that order.
func ExampleSockets() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rt, _ := sock.ParseRewrite("192.0.2.1:80=" + srv.Listener.Addr().String())
	trace := sock.NewTrace(nil) // stats only; NewTrace(os.Stderr) also logs
	s := &curl.Sockets{
		Rewrite: rt,
		Guard: sock.NewGuard(
			sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), // the local stand-in
			sock.WithAnyPort(),
		),
		Options: []sock.SocketOption{sock.SendBuffer(64 << 10)},
		Trace:   trace,
	}
	easy := curl.EasyInit()
	defer easy.Cleanup()
	if err := s.Install(easy); err != nil {
		fmt.Println(err)
		return
	}
	easy.Setopt(curl.OPT_URL, "http://192.0.2.1/")
	fmt.Println(easy.Perform())
	easy.Setopt(curl.OPT_URL, "http://10.0.0.1/")
	fmt.Println(errors.Is(easy.Perform(), sock.ErrProhibitedIP))
	fmt.Printf("%+v\n", trace.Stats())
	// Output:
	// <nil>
	// true
	// {Opened:1 Refused:1 Closed:0 Open:1 Errors:0}
}

// Any net.Dialer.Control function works as an open-socket callback: here the
// guard's own, refusing loopback.
func ExampleFromControl() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	var control func(network, address string, c syscall.RawConn) error = sock.NewGuard(sock.WithAnyPort()).Control
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, srv.URL)
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, curl.FromControl(control))
	err := easy.Perform()
	fmt.Println(errors.Is(err, sock.ErrProhibitedIP))
	// Output: true
}

// A connection dialed by Go, handed to libcurl (libcurl ≥ 8.0; 7.88.x cannot
// take connected sockets, curl #10626).
func ExampleHandOver() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, srv.URL)
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		conn, err := net.Dial(addr.Network(), addr.Addr.String())
		if err != nil {
			return curl.SOCKET_BAD, err
		}
		return curl.HandOver(conn.(*net.TCPConn)) // conn is closed; libcurl owns the socket
	})
	easy.Setopt(curl.OPT_SOCKOPTFUNCTION, func(any, int, curl.SockType) (int, error) {
		return curl.SOCKOPT_ALREADY_CONNECTED, nil
	})
	err := easy.Perform()
	fmt.Println(err == nil || errors.Is(err, curl.ErrAlreadyConnectedUnsupported))
	// Output: true
}

// The handle's own socket callbacks compose with an installation, set before
// or after it: the guard judges each destination before the open-socket
// callback runs, so a denied one never reaches it.
func ExampleSockets_Install() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	easy := curl.EasyInit()
	defer easy.Cleanup()
	if err := (&curl.Sockets{Guard: sock.NewGuard(sock.WithAnyPort())}).Install(easy); err != nil {
		fmt.Println(err)
		return
	}
	opened := 0
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		opened++
		return curl.OpenSocket(addr)
	})
	easy.Setopt(curl.OPT_URL, srv.URL) // loopback: denied by the default guard
	err := easy.Perform()
	fmt.Println(errors.Is(err, sock.ErrProhibitedIP), opened)
	// A protocol list may narrow the installation's, not widen it.
	fmt.Println(errors.Is(easy.Setopt(curl.OPT_PROTOCOLS_STR, "http,file"), curl.ErrInstallConflict))
	// Output:
	// true 0
	// true
}

// Uninstall removes an installation; Reset would keep it.
func ExampleCURL_Uninstall() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	easy := curl.EasyInit()
	defer easy.Cleanup()
	(&curl.Sockets{Guard: sock.NewGuard(sock.WithAnyPort())}).Install(easy)
	easy.Setopt(curl.OPT_URL, srv.URL)
	easy.Reset()
	easy.Setopt(curl.OPT_URL, srv.URL)
	easy.Setopt(curl.OPT_WRITEFUNCTION, func([]byte, any) bool { return true })
	fmt.Println(errors.Is(easy.Perform(), sock.ErrProhibitedIP))
	easy.Uninstall()
	fmt.Println(easy.Perform())
	// Output:
	// true
	// <nil>
}

// A failed Install leaves the handle refusing transfers: a guard that could
// not be installed as asked never fails open.
func ExampleSockets_Install_failed() {
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		return curl.OpenSocket(addr)
	})
	// A Dialer makes the sockets itself: it cannot sit next to an open-socket callback.
	err := (&curl.Sockets{Guard: sock.NewGuard(), Dialer: &net.Dialer{}}).Install(easy)
	fmt.Println(errors.Is(err, curl.ErrInstallConflict))
	easy.Setopt(curl.OPT_URL, "http://127.0.0.1:1/")
	err = easy.Perform()
	fmt.Println(errors.Is(err, curl.ErrInstallFailed), errors.Is(err, curl.ErrInstallConflict))
	// Output:
	// true
	// true true
}
