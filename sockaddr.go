//go:build linux

package curl

/*
#include <string.h>
#include <sys/socket.h>
#include <curl/curl.h>
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/curlsock/curlsock/sock"
)

// Sockaddr is the destination libcurl is about to open a socket for: the
// decoded form of libcurl's struct curl_sockaddr (see sock.Sockaddr, which
// it is). An open-socket callback may rewrite it; the Sockaddr is valid only
// until the callback returns.
//
// curlsock keeps per-call state on it that the fields do not show — the
// socket type's flags, the original destination, the socket OpenSocket made
// — behind sock.Sockaddr's methods (Decode, Changed, Encode, Socket, Made):
// this package reaches it through them, not through the fields.
type Sockaddr = sock.Sockaddr

// SockType is the purpose libcurl gives a socket (curlsocktype); see
// sock.SockType.
type SockType = sock.SockType

const (
	// SOCKTYPE_IPCXN: a socket for a connection libcurl makes. The only
	// purpose the open-socket callback ever receives.
	SOCKTYPE_IPCXN SockType = C.CURLSOCKTYPE_IPCXN
	// SOCKTYPE_ACCEPT: a socket accept()ed for an FTP active-mode data
	// connection. Only the sockopt callback receives it.
	SOCKTYPE_ACCEPT SockType = C.CURLSOCKTYPE_ACCEPT
)

// sockaddrStorage is how many bytes libcurl's storage behind
// curl_sockaddr.addr holds: its Curl_sockaddr_ex embeds a struct
// sockaddr_storage, although the public struct only declares a struct
// sockaddr. libcurl never checks addrlen against it, so every length read or
// written here is clamped to it.
const sockaddrStorage = C.sizeof_struct_sockaddr_storage

// decodeSockaddr reads libcurl's curl_sockaddr into sa.
func decodeSockaddr(sa *Sockaddr, p *C.struct_curl_sockaddr) {
	n := min(int(p.addrlen), sockaddrStorage)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&p.addr)), n)
	sa.Decode(int(p.family), int(p.socktype), int(p.protocol), raw)
}

// writeBack stores a rewritten destination into libcurl's curl_sockaddr.
func writeBack(sa *Sockaddr, p *C.struct_curl_sockaddr) error {
	// Encoded in place: libcurl's curl_sockaddr ends in a sockaddr_storage
	// (Curl_sockaddr_ex). Bytes written before an error do not matter: the
	// attempt is refused, and libcurl builds the next one afresh.
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&p.addr)), sockaddrStorage)
	family, protocol, n, err := sa.Encode(buf)
	if err != nil {
		return err
	}
	p.family = C.int(family)
	p.protocol = C.int(protocol)
	p.addrlen = C.uint(n)
	return nil
}

// OpenSocket opens the socket libcurl itself would open for addr (with
// close-on-exec set), following a rewrite of addr's destination: it is
// addr.Socket(), with SOCKET_BAD for a failure. It lets an open-socket
// callback that only filters or rewrites stay one line:
//
//	return curl.OpenSocket(addr)
func OpenSocket(addr *Sockaddr) (int, error) {
	if addr == nil {
		return SOCKET_BAD, fmt.Errorf("%w: nil Sockaddr", sock.ErrInvalidAddress)
	}
	fd, err := addr.Socket()
	if err != nil {
		return SOCKET_BAD, err
	}
	return fd, nil
}
