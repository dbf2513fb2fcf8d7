//go:build linux

package curl_test

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	curl "github.com/curlsock/curlsock"
)

// The default guard allows TCP to ports 80 and 443 of global unicast
// addresses only; options carve exceptions out of that or add denials.
func ExampleNewGuard() {
	guard := curl.NewGuard()
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

	internal := curl.NewGuard(
		curl.WithAllowedPrefixes(netip.MustParsePrefix("10.0.0.0/8")),
		curl.WithDeniedPrefixes(netip.MustParsePrefix("10.66.0.0/16")),
		curl.WithPorts(8443),
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
	// curl.Guard{ports: 8443; sockets: stream; unix: denied; nat64: denied; allow: [10.0.0.0/8]; deny: [10.66.0.0/16]}
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

// Guard libcurl's connections: the open-socket callback sees every address
// libcurl is about to connect to, after DNS, CURLOPT_RESOLVE and redirects.
func ExampleGuard_CheckSockaddr() {
	guard := curl.NewGuard()

	easy := curl.EasyInit()
	defer easy.Cleanup()
	// A name that resolves to loopback: the guard refuses it before any
	// socket exists.
	easy.Setopt(curl.OPT_RESOLVE, []string{"intranet.test:80:127.0.0.1"})
	easy.Setopt(curl.OPT_URL, "http://intranet.test/")
	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
		if err := guard.CheckSockaddr(addr); err != nil {
			return curl.SOCKET_BAD, err
		}
		return curl.OpenSocket(addr)
	})
	err := easy.Perform()
	var cbErr *curl.CallbackError
	errors.As(err, &cbErr)
	fmt.Println(cbErr)
	fmt.Println(errors.Is(err, curl.ErrProhibitedIP))
	// Output:
	// opensocket 127.0.0.1:80: curlsock: prohibited IP: 127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122)
	// true
}

// Guard Go's own dialer: Control has net.Dialer.Control's signature.
func ExampleGuard_Control() {
	dialer := &net.Dialer{Control: curl.NewGuard().Control}
	_, err := dialer.Dial("tcp", "127.0.0.1:80") // refused before connect(2)
	fmt.Println(err)
	fmt.Println(errors.Is(err, curl.ErrProhibitedIP))
	// Output:
	// dial tcp 127.0.0.1:80: curlsock: prohibited IP: 127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122)
	// true
}
