//go:build linux

package curl_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// In an open-socket callback, a table sends a transfer to a stub server; here
// the URL's address (TEST-NET-1) is never contacted.
func ExampleOpenSocket_rewrite() {
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "stub answering", r.URL.Path)
	}))
	defer stub.Close()
	rt, err := sock.ParseRewrite("192.0.2.1:80=" + stub.Listener.Addr().String())
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

// FromSocketOptions makes a sockopt callback from socket options. Options
// for TCP skip other sockets, so one list serves every transfer.
func ExampleFromSocketOptions() {
	sockopt := curl.FromSocketOptions(
		sock.TCPUserTimeout(1500*time.Millisecond),
		sock.KeepAlive(net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: 10 * time.Second, Count: 3}),
		sock.SendBuffer(256<<10),
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

	us, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(us)
	code, err = sockopt(nil, us, curl.SOCKTYPE_IPCXN)
	fmt.Println(code == curl.SOCKOPT_OK, err)

	// The first failing option fails the connection attempt, naming itself.
	code, err = curl.FromSocketOptions(sock.BindToDevice("nosuchif0"), sock.Mark(1))(nil, tcp, curl.SOCKTYPE_IPCXN)
	fmt.Println(code == curl.SOCKOPT_ERROR, err)
	// Output:
	// true <nil>
	// TCP_USER_TIMEOUT 1500 TCP_KEEPIDLE 30
	// true <nil>
	// true curlsock: socket option SO_BINDTODEVICE: no such device
}
