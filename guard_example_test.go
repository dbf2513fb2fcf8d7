//go:build linux

package curl_test

import (
	"errors"
	"fmt"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/sock"
)

// Guard libcurl's connections: the open-socket callback sees every address
// libcurl is about to connect to, after DNS, CURLOPT_RESOLVE and redirects.
func ExampleOpenSocket_guard() {
	guard := sock.NewGuard()

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
	fmt.Println(errors.Is(err, sock.ErrProhibitedIP))
	// Output:
	// opensocket 127.0.0.1:80: curlsock: prohibited IP: 127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122)
	// true
}
