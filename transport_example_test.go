//go:build linux

package curl_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/sock"
)

// The guard in front of any Go HTTP client: every connection libcurl makes
// for the client, redirects included, is checked against it.
func ExampleTransport() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))
	defer srv.Close()

	// The default guard refuses loopback, private and metadata addresses.
	client := &http.Client{Transport: &curl.Transport{Sockets: &curl.Sockets{Guard: sock.NewGuard()}}}
	defer client.CloseIdleConnections()
	_, err := client.Get(srv.URL + "/internal")
	fmt.Println(errors.Is(err, sock.ErrProhibitedIP))

	// This one allows the test server's loopback address.
	loopback := sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), sock.WithAnyPort())
	tr := &curl.Transport{Sockets: &curl.Sockets{Guard: loopback}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL + "/public")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Proto, resp.StatusCode, string(body))
	// Output:
	// true
	// HTTP/1.1 200 hello from /public
}

// Libcurl's options per request, through Setup: here the request goes to
// another address than the URL's host, as curl --connect-to does.
func ExampleTransport_setup() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		fmt.Fprintf(w, "served for %s", host)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()

	eng := curl.NewEngine()
	defer eng.Close()
	tr := &curl.Transport{
		Engine: eng,
		Setup: func(e *curl.CURL) error {
			return e.Setopt(curl.OPT_CONNECT_TO, []string{fmt.Sprintf("example.test:%d:127.0.0.1:%d", port, port)})
		},
	}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("http://example.test:%d/", port))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: served for example.test
}

// CloseIdleConnections on an engine of the Transport's own closes exactly
// the connections its requests left.
func ExampleTransport_CloseIdleConnections() {
	var closed atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	eng := curl.NewEngine()
	defer eng.Close()
	tr := &curl.Transport{Engine: eng}
	client := &http.Client{Transport: tr}
	for range 3 {
		resp, err := client.Get(srv.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		resp.Body.Close()
	}
	client.CloseIdleConnections() // calls tr.CloseIdleConnections
	for i := 0; closed.Load() == 0 && i < 1000; i++ {
		time.Sleep(time.Millisecond) // the server sees the close a moment later
	}
	fmt.Println("connections closed:", closed.Load())
	// Output: connections closed: 1
}
