//go:build linux

package curl_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"time"

	curl "github.com/curlsock/curlsock"
	"golang.org/x/sys/unix"
)

// A rewrite table maps the addresses a transfer resolves to onto others:
// an IP and port, every port of an IP, or a unix socket.
func ExampleParseRewrite() {
	rt, err := curl.ParseRewrite(
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
		addr := &curl.Sockaddr{Family: unix.AF_INET6, Socktype: unix.SOCK_STREAM, Addr: netip.MustParseAddrPort(dest)}
		from := addr.String()
		if rt.Rewrite(addr) {
			fmt.Println(from, "→", addr)
		} else {
			fmt.Println(from, "unchanged")
		}
	}

	_, err = curl.ParseRewrite("intranet.example:80=127.0.0.1:80")
	fmt.Println(err)
	// Output:
	// 10.0.0.1:80=127.0.0.1:8080,10.0.0.2=/run/stub.sock,2001:db8::2=::1,[2001:db8::1]:443=[::1]:8443
	// 10.0.0.1:80 → 127.0.0.1:8080
	// [::ffff:10.0.0.2]:25 → unix:/run/stub.sock
	// [2001:db8::2]:22 → [::1]:22
	// 192.0.2.7:80 unchanged
	// curlsock: invalid rewrite rule "intranet.example:80=127.0.0.1:80": FROM: not an IP address, IP:port or unix socket path (starting with / or @)
}

// In an open-socket callback, a table sends a transfer to a stub server; here
// the URL's address (TEST-NET-1) is never contacted.
func ExampleRewriteTable_Rewrite() {
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "stub answering", r.URL.Path)
	}))
	defer stub.Close()
	rt, err := curl.ParseRewrite("192.0.2.1:80=" + stub.Listener.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	errNoRule := errors.New("no rewrite rule")

	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, "http://192.0.2.1/hello")
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		if !rt.Rewrite(addr) {
			return curl.SOCKET_BAD, errNoRule // a test that must not leave loopback
		}
		return curl.OpenSocket(addr)
	})
	easy.Setopt(curl.OPT_WRITEFUNCTION, func(b []byte, _ any) bool { os.Stdout.Write(b); return true })
	if err := easy.Perform(); err != nil {
		fmt.Println(err)
	}
	// Output:
	// stub answering /hello
}

// Options makes a sockopt callback from socket options. Options for TCP
// skip other sockets, so one list serves every transfer.
func ExampleFromOptions() {
	sockopt := curl.FromOptions(
		curl.TCPUserTimeout(1500*time.Millisecond),
		curl.KeepAlive(net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}),
		curl.SendBuffer(256<<10),
	)
	// easy.Setopt(curl.OPT_SOCKOPTFUNCTION, sockopt) has libcurl call it
	// with every socket; here it gets sockets of our own.
	tcp, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(tcp)
	code, err := sockopt(nil, tcp, curl.SOCKTYPE_IPCXN)
	fmt.Println(code == curl.SOCKOPT_OK, err)
	ms, _ := unix.GetsockoptInt(tcp, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	idle, _ := unix.GetsockoptInt(tcp, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
	fmt.Println("TCP_USER_TIMEOUT", ms, "TCP_KEEPIDLE", idle)

	sock, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(sock)
	code, err = sockopt(nil, sock, curl.SOCKTYPE_IPCXN)
	fmt.Println(code == curl.SOCKOPT_OK, err)

	// The first failing option fails the connection attempt, naming itself.
	code, err = curl.FromOptions(curl.BindToDevice("nosuchif0"), curl.Mark(1))(nil, tcp, curl.SOCKTYPE_IPCXN)
	fmt.Println(code == curl.SOCKOPT_ERROR, err)
	// Output:
	// true <nil>
	// TCP_USER_TIMEOUT 1500 TCP_KEEPIDLE 30
	// true <nil>
	// true curlsock: socket option SO_BINDTODEVICE: no such device
}

// A trace logs socket events one line each and counts them. The socket
// callbacks record events; here they are recorded by hand.
func ExampleNewTrace() {
	tr := curl.NewTrace(os.Stdout)
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tr.Record(curl.TraceEvent{Time: at, Handle: 1, Kind: curl.TraceOpen, FD: 7, Purpose: curl.SOCKTYPE_IPCXN,
		Addr: "127.0.0.1:8080", Rewrite: "10.0.0.1:80"})
	// The sockopt and close callbacks see only the fd: the trace names the
	// destination from the open.
	tr.Record(curl.TraceEvent{Time: at.Add(120 * time.Microsecond), Handle: 1, Kind: curl.TraceSockopt, FD: 7})
	tr.Record(curl.TraceEvent{Time: at.Add(time.Millisecond), Handle: 2, Kind: curl.TraceRefuse, FD: -1,
		Addr: "192.168.1.1:80", Err: errors.New("private address")})
	fmt.Println(len(tr.OpenSockets()), "open")
	tr.Record(curl.TraceEvent{Time: at.Add(time.Second), Handle: 1, Kind: curl.TraceClose, FD: 7})
	fmt.Printf("%+v\n", tr.Stats())
	// Output:
	// 12:00:00.000000 #1 open fd=7 IPCXN 127.0.0.1:8080 (rewritten from 10.0.0.1:80)
	// 12:00:00.000120 #1 sockopt fd=7 IPCXN 127.0.0.1:8080 (rewritten from 10.0.0.1:80)
	// 12:00:00.001000 #2 refuse IPCXN 192.168.1.1:80: private address
	// 1 open
	// 12:00:01.000000 #1 close fd=7 127.0.0.1:8080 (rewritten from 10.0.0.1:80)
	// {Opened:1 Refused:1 Closed:1 Open:0 Errors:0}
}
