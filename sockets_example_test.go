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
)

// The whole toolkit on one handle: a rewrite, the guard on the rewritten
// address, a socket option and a trace, in that order.
func ExampleSockets() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	rt, _ := curl.ParseRewrite("192.0.2.1:80=" + srv.Listener.Addr().String())
	trace := curl.NewTrace(nil) // stats only; NewTrace(os.Stderr) also logs
	s := &curl.Sockets{
		Rewrite: rt,
		Guard: curl.NewGuard(
			curl.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), // the local stand-in
			curl.WithAnyPort(),
		),
		Options: []curl.SocketOption{curl.SendBuffer(64 << 10)},
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
	fmt.Println(errors.Is(easy.Perform(), curl.ErrProhibitedIP))
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
	var control func(network, address string, c syscall.RawConn) error = curl.NewGuard(curl.WithAnyPort()).Control
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, srv.URL)
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, curl.FromControl(control))
	err := easy.Perform()
	fmt.Println(errors.Is(err, curl.ErrProhibitedIP))
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
