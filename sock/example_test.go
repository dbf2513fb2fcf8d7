package sock_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// The default guard allows TCP to ports 80 and 443 of global unicast
// addresses only; options carve exceptions out of that or add denials.
func ExampleNewGuard() {
	guard := sock.NewGuard()
	for _, dest := range []string{
		"8.8.8.8:443",
		"[2606:4700::1111]:80",
		"10.1.2.3:443",
		"[::ffff:169.254.169.254]:80", // IPv4-mapped, as libcurl passes it
		"[fe80::1%eth0]:443",
		"8.8.8.8:22",
	} {
		err := guard.Check("tcp", netip.MustParseAddrPort(dest))
		fmt.Printf("%-28s %v\n", dest, orAllowed(err))
	}

	internal := sock.NewGuard(
		sock.WithAllowedPrefixes(netip.MustParsePrefix("10.0.0.0/8")),
		sock.WithDeniedPrefixes(netip.MustParsePrefix("10.66.0.0/16")),
		sock.WithPorts(8443),
	)
	fmt.Println(internal)
	for _, dest := range []string{"10.1.2.3:8443", "10.66.0.1:8443", "10.1.2.3:443"} {
		err := internal.Check("tcp4", netip.MustParseAddrPort(dest))
		fmt.Printf("%-28s %v\n", dest, orAllowed(err))
	}
	// Output:
	// 8.8.8.8:443                  allowed
	// [2606:4700::1111]:80         allowed
	// 10.1.2.3:443                 curlsock: prohibited IP: 10.1.2.3 is in 10.0.0.0/8 (private-use, RFC 1918)
	// [::ffff:169.254.169.254]:80  curlsock: prohibited IP: ::ffff:169.254.169.254 (IPv4-mapped 169.254.169.254) is in 169.254.0.0/16 (link-local, cloud metadata 169.254.169.254 included; RFC 3927)
	// [fe80::1%eth0]:443           curlsock: prohibited IP: fe80::1%eth0 is outside 2000::/3 (not global unicast), in fe80::/10 (link-local)
	// 8.8.8.8:22                   curlsock: prohibited port: port 22 of 8.8.8.8:22 is not allowed (the default ports 80, 443; see WithPorts)
	// sock.Guard{ports: 8443; sockets: stream; unix: denied; nat64: denied; allow: [10.0.0.0/8]; deny: [10.66.0.0/16]}
	// 10.1.2.3:8443                allowed
	// 10.66.0.1:8443               curlsock: prohibited IP: 10.66.0.1 is denied by WithDeniedPrefixes 10.66.0.0/16
	// 10.1.2.3:443                 curlsock: prohibited port: port 443 of 10.1.2.3:443 is not allowed (WithPorts allows 8443)
}

func orAllowed(err error) any {
	if err == nil {
		return "allowed"
	}
	return err
}

// Guard Go's own dialer, without libcurl or cgo: Control has
// net.Dialer.Control's signature, so a net/http client judges every address
// it is about to connect to (after DNS) before connect(2). This guard allows
// 127.0.0.1 (and any port, for the test server); every other loopback,
// private or link-local address stays refused.
func ExampleGuard_Control() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from", r.Host)
	}))
	defer srv.Close()

	guard := sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), sock.WithAnyPort())
	dialer := &net.Dialer{Control: guard.Control}
	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}

	resp, err := client.Get(srv.URL + "/hi")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(strings.Replace(string(body), srv.Listener.Addr().String(), "127.0.0.1:PORT", 1))

	// 127.0.0.2 is loopback too, but not allowed: refused before connect(2).
	_, err = client.Get("http://127.0.0.2/")
	fmt.Println(err)
	fmt.Println(errors.Is(err, sock.ErrProhibitedIP))
	// Output:
	// hello from 127.0.0.1:PORT
	// Get "http://127.0.0.2/": dial tcp 127.0.0.2:80: curlsock: prohibited IP: 127.0.0.2 is in 127.0.0.0/8 (loopback, RFC 1122)
	// true
}

// A rewrite table maps the addresses a transfer resolves to onto others:
// an IP and port, every port of an IP, or a unix socket.
func ExampleParseRewrite() {
	rt, err := sock.ParseRewrite(
		"10.0.0.1:80=127.0.0.1:8080",
		"10.0.0.2=/run/stub.sock", // every port of 10.0.0.2
		"[2001:db8::1]:443=[::1]:8443",
		"2001:db8::2=::1", // every port, kept
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rt)
	for _, dest := range []string{"10.0.0.1:80", "[::ffff:10.0.0.2]:25", "[2001:db8::2]:22", "192.0.2.7:80"} {
		addr := &sock.Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Addr: netip.MustParseAddrPort(dest)}
		from := addr.String()
		if rt.Rewrite(addr) {
			fmt.Println(from, "→", addr)
		} else {
			fmt.Println(from, "unchanged")
		}
	}

	_, err = sock.ParseRewrite("intranet.example:80=127.0.0.1:80")
	fmt.Println(err)
	// Output:
	// 10.0.0.1:80=127.0.0.1:8080,10.0.0.2=/run/stub.sock,2001:db8::2=::1,[2001:db8::1]:443=[::1]:8443
	// 10.0.0.1:80 → 127.0.0.1:8080
	// [::ffff:10.0.0.2]:25 → unix:/run/stub.sock
	// [2001:db8::2]:22 → [::1]:22
	// 192.0.2.7:80 unchanged
	// curlsock: invalid rewrite rule "intranet.example:80=127.0.0.1:80": FROM: not an IP address, IP:port or unix socket path (starting with / or @)
}

// A trace logs socket events one line each and counts them. The socket
// callbacks record events; here they are recorded by hand.
func ExampleNewTrace() {
	tr := sock.NewTrace(os.Stdout)
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tr.Record(sock.TraceEvent{Time: at, Handle: 1, Kind: sock.TraceOpen, FD: 7, Purpose: sock.SockTypeIPCXN,
		Addr: "127.0.0.1:8080", Rewrite: "10.0.0.1:80"})
	// The sockopt and close callbacks see only the fd: the trace names the
	// destination from the open.
	tr.Record(sock.TraceEvent{Time: at.Add(120 * time.Microsecond), Handle: 1, Kind: sock.TraceSockopt, FD: 7})
	tr.Record(sock.TraceEvent{Time: at.Add(time.Millisecond), Handle: 2, Kind: sock.TraceRefuse, FD: -1,
		Addr: "192.168.1.1:80", Err: errors.New("private address")})
	fmt.Println(len(tr.OpenSockets()), "open")
	tr.Record(sock.TraceEvent{Time: at.Add(time.Second), Handle: 1, Kind: sock.TraceClose, FD: 7})
	fmt.Printf("%+v\n", tr.Stats())
	// Output:
	// 12:00:00.000000 #1 open fd=7 IPCXN 127.0.0.1:8080 (rewritten from 10.0.0.1:80)
	// 12:00:00.000120 #1 sockopt fd=7 IPCXN 127.0.0.1:8080 (rewritten from 10.0.0.1:80)
	// 12:00:00.001000 #2 refuse IPCXN 192.168.1.1:80: private address
	// 1 open
	// 12:00:01.000000 #1 close fd=7 127.0.0.1:8080 (rewritten from 10.0.0.1:80)
	// {Opened:1 Refused:1 Closed:1 Open:0 Errors:0}
}
