//go:build linux

package curl_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"

	curl "github.com/curlsock/curlsock"
	"golang.org/x/sys/unix"
)

// Send a transfer somewhere else: the open-socket callback rewrites the
// destination after DNS, and libcurl connects there.
func ExampleCURL_Setopt_rewrite() {
	// A local server stands in for the real destination.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s reached the rewritten destination\n", r.URL.Path)
	}))
	defer srv.Close()
	to := netip.MustParseAddrPort(srv.Listener.Addr().String())

	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, "http://127.0.0.1:1/hello") // nothing listens on port 1
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		addr.Addr = to
		return curl.OpenSocket(addr)
	})
	easy.Setopt(curl.OPT_WRITEFUNCTION, func(b []byte, _ any) bool { os.Stdout.Write(b); return true })
	if err := easy.Perform(); err != nil {
		fmt.Println(err)
	}
	// Output: /hello reached the rewritten destination
}

var errNotLoopback = errors.New("not a loopback address")

// Refuse a destination: the callback's error and libcurl's code both come out
// of Perform. No socket is created for a refused address.
func ExampleCURL_Setopt_refuse() {
	easy := curl.EasyInit()
	defer easy.Cleanup()
	// The name resolves to a documentation address that must never be reached.
	easy.Setopt(curl.OPT_RESOLVE, []string{"intranet.test:80:192.0.2.10"})
	easy.Setopt(curl.OPT_URL, "http://intranet.test/")
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		if !addr.Addr.Addr().IsLoopback() {
			return curl.SOCKET_BAD, errNotLoopback
		}
		return curl.OpenSocket(addr)
	})
	err := easy.Perform()
	var cbErr *curl.CallbackError
	errors.As(err, &cbErr)
	fmt.Println(cbErr)
	fmt.Println(errors.Is(err, errNotLoopback), errors.Is(err, curl.CurlError(curl.E_COULDNT_CONNECT)))
	// Output:
	// opensocket 192.0.2.10:80: not a loopback address
	// true true
}

// Configure every socket before it connects, and see each one closed.
func ExampleCURL_Setopt_sockopt() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	easy := curl.EasyInit()
	easy.Setopt(curl.OPT_URL, srv.URL)
	easy.Setopt(curl.OPT_WRITEFUNCTION, func([]byte, any) bool { return true })
	easy.Setopt(curl.OPT_SOCKOPTFUNCTION, func(_ any, fd int, purpose curl.SockType) (int, error) {
		fmt.Println("configuring a socket for", purpose)
		return curl.SOCKOPT_OK, nil
	})
	easy.Setopt(curl.OPT_CLOSESOCKETDATA, "my-pool")
	easy.Setopt(curl.OPT_CLOSESOCKETFUNCTION, func(clientp any, fd int) error {
		fmt.Println("closing a socket of", clientp)
		return unix.Close(fd)
	})
	if err := easy.Perform(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("performed")
	easy.Cleanup() // the connection was cached until now
	// Output:
	// configuring a socket for IPCXN
	// performed
	// closing a socket of my-pool
}

// Registrations shows what curlsock keeps alive for libcurl; in a service
// whose handles are all cleaned up it is all zeros.
func ExampleRegistrations() {
	easy := curl.EasyInit()
	easy.Setopt(curl.OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error { return unix.Close(fd) })
	fmt.Printf("%+v\n", curl.Registrations())
	easy.Cleanup()
	fmt.Printf("%+v\n", curl.Registrations())
	// Output:
	// {Handles:1 Multis:0 Shares:0 Shards:0 CloseCallbacks:1 Sockets:0}
	// {Handles:0 Multis:0 Shares:0 Shards:0 CloseCallbacks:0 Sockets:0}
}

// Socket callbacks on handles driven by a multi; each finished transfer's
// result includes its callback errors.
func ExampleMultiInit() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	onlyLoopback := func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		if !addr.Addr.Addr().IsLoopback() {
			return curl.SOCKET_BAD, errNotLoopback
		}
		return curl.OpenSocket(addr)
	}

	m := curl.MultiInit()
	defer m.Cleanup()
	names := map[*curl.CURL]string{}
	for _, u := range []string{srv.URL + "/ok", "http://192.0.2.10/refused"} {
		e := curl.EasyInit()
		defer e.Cleanup()
		e.Setopt(curl.OPT_URL, u)
		e.Setopt(curl.OPT_WRITEFUNCTION, func([]byte, any) bool { return true })
		e.Setopt(curl.OPT_OPENSOCKETFUNCTION, onlyLoopback)
		m.AddHandle(e)
		names[e] = u[len(u)-3:]
	}
	results := map[string]error{}
	for running := 1; running > 0; {
		running, _ = m.Perform()
		for msg, _ := m.Info_read(); msg != nil; msg, _ = m.Info_read() {
			results[names[msg.Easy_handle]] = msg.Result()
			m.RemoveHandle(msg.Easy_handle)
		}
		m.Wait(1000)
	}
	fmt.Println("/ok:", results["/ok"])
	fmt.Println("sed:", errors.Is(results["sed"], errNotLoopback))
	// Output:
	// /ok: <nil>
	// sed: true
}

// libcurl's own words for a failure, as curl prints them: the CurlError
// says what went wrong, ErrorText says where.
func ExampleCURL_ErrorText() {
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, "http://127.0.0.1:1/") // nothing listens on port 1
	err := easy.Perform()
	fmt.Println(err == curl.CurlError(curl.E_COULDNT_CONNECT))
	fmt.Println(strings.Contains(easy.ErrorText(), "127.0.0.1 port 1 "))
	// Output:
	// true
	// true
}
