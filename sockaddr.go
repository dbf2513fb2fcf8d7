//go:build linux

package curl

/*
#include <string.h>
#include <sys/socket.h>
#include <curl/curl.h>
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockaddrStorage is how many bytes libcurl's storage behind
// curl_sockaddr.addr holds: its Curl_sockaddr_ex embeds a struct
// sockaddr_storage, although the public struct only declares a struct
// sockaddr. libcurl never checks addrlen against it, so every length read or
// written here is clamped to it.
const sockaddrStorage = C.sizeof_struct_sockaddr_storage

// sunPathMax is the size of sockaddr_un.sun_path on Linux.
const sunPathMax = len(unix.RawSockaddrUnix{}.Path)

// offsetofSunPath is offsetof(struct sockaddr_un, sun_path).
const offsetofSunPath = 2

// socktypeFlags are the flags libcurl ≥ 8.19 ORs into socktype before calling
// the open-socket callback. They belong in socket(2)'s type argument but not in
// comparisons.
const socktypeFlags = unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK

// ErrInvalidAddress is wrapped by the error of an open-socket attempt whose
// callback left a destination that cannot be written back to libcurl.
var ErrInvalidAddress = errors.New("curlsock: invalid destination address")

// Sockaddr is the destination libcurl is about to open a socket for: the
// decoded form of libcurl's struct curl_sockaddr.
//
// An open-socket callback may rewrite the destination by changing Addr (or
// Path, for AF_UNIX): libcurl then connects to the new address. Family and
// Protocol follow the new address (a rewrite from TCP to a unix socket gives
// protocol 0); Family, Socktype and Protocol themselves are read-only, and
// changes to them are ignored. An address that cannot be written back (an
// invalid Addr, a Path longer than sun_path, both Addr and Path set) fails the
// attempt with an error wrapping ErrInvalidAddress.
//
// The Sockaddr belongs to libcurl's call: it is valid only until the callback
// returns. For the FTP active-mode listen socket libcurl passes the local
// address to bind with port 0 and ignores rewrites.
type Sockaddr struct {
	Family   int // unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, ...
	Socktype int // unix.SOCK_STREAM or unix.SOCK_DGRAM, without SOCK_CLOEXEC/SOCK_NONBLOCK
	Protocol int // unix.IPPROTO_TCP, unix.IPPROTO_UDP, or 0 for AF_UNIX

	// Addr is the IP destination (AF_INET, AF_INET6). For AF_INET6 a
	// non-zero scope id is the zone: the interface name where it resolves,
	// else the number.
	Addr netip.AddrPort
	// Path is the AF_UNIX destination. An abstract socket name is written
	// with a leading "@", as Go's net package does.
	Path string

	rawSocktype int // socktype as libcurl passed it, flags included
	origAddr    netip.AddrPort
	origPath    string
	// opened is 1 + the socket OpenSocket last created for this Sockaddr.
	// An open-socket callback that returns it needs no check that it is a
	// socket (a syscall per connection); anything else is checked. A callback
	// that closed that socket and returns its number, reused meanwhile by a
	// file, is believed: the check is for mistakes such as (0, nil).
	// Sockaddr is reset for every callback, so the mark never carries over.
	opened int
}

// decodeSockaddr reads libcurl's curl_sockaddr into sa.
func decodeSockaddr(sa *Sockaddr, p *C.struct_curl_sockaddr) {
	*sa = Sockaddr{
		Family:      int(p.family),
		rawSocktype: int(p.socktype),
		Socktype:    int(p.socktype) &^ socktypeFlags,
		Protocol:    int(p.protocol),
	}
	n := min(int(p.addrlen), sockaddrStorage)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&p.addr)), n)
	sa.Addr, sa.Path = decodeAddr(sa.Family, raw)
	sa.origAddr, sa.origPath = sa.Addr, sa.Path
}

// decodeAddr decodes a raw sockaddr of the given family. Unknown families and
// short buffers decode to the zero values.
func decodeAddr(family int, raw []byte) (netip.AddrPort, string) {
	switch family {
	case unix.AF_INET:
		if len(raw) < unix.SizeofSockaddrInet4 {
			return netip.AddrPort{}, ""
		}
		ip := netip.AddrFrom4([4]byte(raw[4:8]))
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(raw[2:4])), ""
	case unix.AF_INET6:
		if len(raw) < unix.SizeofSockaddrInet6 {
			return netip.AddrPort{}, ""
		}
		ip := netip.AddrFrom16([16]byte(raw[8:24]))
		if scope := binary.NativeEndian.Uint32(raw[24:28]); scope != 0 {
			ip = ip.WithZone(zoneName(scope))
		}
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(raw[2:4])), ""
	case unix.AF_UNIX:
		if len(raw) <= offsetofSunPath {
			return netip.AddrPort{}, ""
		}
		path := raw[offsetofSunPath:]
		if path[0] == 0 {
			// Abstract: the name is every byte after the leading NUL.
			return netip.AddrPort{}, "@" + string(path[1:])
		}
		for i, b := range path {
			if b == 0 {
				path = path[:i]
				break
			}
		}
		return netip.AddrPort{}, string(path)
	}
	return netip.AddrPort{}, ""
}

func zoneName(scope uint32) string {
	if ifi, err := net.InterfaceByIndex(int(scope)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(scope), 10)
}

func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("zone %q: no such interface", zone)
	}
	return uint32(ifi.Index), nil
}

// checkUnixPath checks that a unix socket path ("@name" for an abstract
// one) fits in sun_path: room for a pathname's NUL, or an abstract name's
// leading NUL, and no NUL inside a pathname.
func checkUnixPath(path string) error {
	name, abstract := strings.CutPrefix(path, "@")
	switch {
	case path == "":
		return errors.New("no unix socket path")
	case len(name)+1 > sunPathMax:
		return fmt.Errorf("unix socket path of %d bytes exceeds %d", len(name), sunPathMax-1)
	case !abstract && strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("unix socket path %q contains NUL", name)
	}
	return nil
}

// changed reports whether the callback rewrote the destination.
func (sa *Sockaddr) changed() bool {
	return sa.Addr != sa.origAddr || sa.Path != sa.origPath
}

// destination returns the family and protocol that the current Addr or Path
// calls for.
func (sa *Sockaddr) destination() (family, protocol int, err error) {
	switch {
	case sa.Path != "" && sa.Addr.IsValid():
		return 0, 0, fmt.Errorf("%w: both Addr %s and Path %q are set", ErrInvalidAddress, sa.Addr, sa.Path)
	case sa.Path != "":
		return unix.AF_UNIX, 0, nil
	case !sa.Addr.IsValid():
		if !sa.changed() {
			return sa.Family, sa.Protocol, nil // a family we do not decode
		}
		return 0, 0, fmt.Errorf("%w: no address", ErrInvalidAddress)
	}
	family = unix.AF_INET6
	if sa.Addr.Addr().Is4() {
		family = unix.AF_INET
	}
	protocol = sa.Protocol
	if sa.Family == unix.AF_UNIX || protocol == 0 {
		// Leaving a unix socket: pick the IP protocol the socket type implies.
		protocol = unix.IPPROTO_TCP
		if sa.Socktype == unix.SOCK_DGRAM {
			protocol = unix.IPPROTO_UDP
		}
	}
	return family, protocol, nil
}

// encode renders the current destination as a raw sockaddr.
func (sa *Sockaddr) encode(buf *[sockaddrStorage]byte) (family, protocol, n int, err error) {
	family, protocol, err = sa.destination()
	if err != nil {
		return 0, 0, 0, err
	}
	if (family == unix.AF_INET || family == unix.AF_INET6) && !sa.Addr.IsValid() {
		return 0, 0, 0, fmt.Errorf("%w: no address", ErrInvalidAddress)
	}
	// Only buf[:n] is used: zero that much (padding, flowinfo), not all.
	switch family {
	case unix.AF_INET:
		if sa.Addr.Addr().Zone() != "" {
			return 0, 0, 0, fmt.Errorf("%w: IPv4 address %s has a zone", ErrInvalidAddress, sa.Addr)
		}
		clear(buf[:unix.SizeofSockaddrInet4])
		binary.NativeEndian.PutUint16(buf[0:2], uint16(family))
		binary.BigEndian.PutUint16(buf[2:4], sa.Addr.Port())
		a4 := sa.Addr.Addr().As4()
		copy(buf[4:8], a4[:])
		n = unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		scope, err := zoneIndex(sa.Addr.Addr().Zone())
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
		}
		clear(buf[:unix.SizeofSockaddrInet6])
		binary.NativeEndian.PutUint16(buf[0:2], uint16(family))
		binary.BigEndian.PutUint16(buf[2:4], sa.Addr.Port())
		a16 := sa.Addr.Addr().As16()
		copy(buf[8:24], a16[:])
		binary.NativeEndian.PutUint32(buf[24:28], scope)
		n = unix.SizeofSockaddrInet6
	case unix.AF_UNIX:
		if err := checkUnixPath(sa.Path); err != nil {
			return 0, 0, 0, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
		}
		name, abstract := strings.CutPrefix(sa.Path, "@")
		off := offsetofSunPath
		if abstract {
			off++ // the leading NUL
		}
		clear(buf[:off+len(name)+1])
		binary.NativeEndian.PutUint16(buf[0:2], uint16(family))
		copy(buf[off:], name)
		// libcurl counts the trailing NUL of a pathname (Curl_unix2addr).
		n = off + len(name)
		if !abstract {
			n++
		}
	default:
		return 0, 0, 0, fmt.Errorf("%w: family %d", ErrInvalidAddress, family)
	}
	if sa.Addr.IsValid() && sa.Addr.Port() == 0 && sa.changed() {
		return 0, 0, 0, fmt.Errorf("%w: port 0", ErrInvalidAddress)
	}
	return family, protocol, n, nil
}

// writeBack stores a rewritten destination into libcurl's curl_sockaddr.
func (sa *Sockaddr) writeBack(p *C.struct_curl_sockaddr) error {
	// Encoded in place: libcurl's curl_sockaddr ends in a sockaddr_storage
	// (Curl_sockaddr_ex). Bytes written before an error do not matter: the
	// attempt is refused, and libcurl builds the next one afresh.
	family, protocol, n, err := sa.encode((*[sockaddrStorage]byte)(unsafe.Pointer(&p.addr)))
	if err != nil {
		return err
	}
	p.family = C.int(family)
	p.protocol = C.int(protocol)
	p.addrlen = C.uint(n)
	return nil
}

// Sockaddr returns the current destination in golang.org/x/sys/unix form,
// or nil for a family it cannot express.
func (sa *Sockaddr) Sockaddr() unix.Sockaddr {
	family, _, err := sa.destination()
	if err != nil || (family == unix.AF_INET || family == unix.AF_INET6) && !sa.Addr.IsValid() {
		return nil // a family curlsock does not decode, left as libcurl gave it
	}
	switch family {
	case unix.AF_INET:
		return &unix.SockaddrInet4{Port: int(sa.Addr.Port()), Addr: sa.Addr.Addr().As4()}
	case unix.AF_INET6:
		scope, _ := zoneIndex(sa.Addr.Addr().Zone())
		return &unix.SockaddrInet6{Port: int(sa.Addr.Port()), ZoneId: scope, Addr: sa.Addr.Addr().As16()}
	case unix.AF_UNIX:
		// x/sys/unix, like net, writes an abstract name as "@name".
		return &unix.SockaddrUnix{Name: sa.Path}
	}
	return nil
}

// Network returns the Go network name of the current destination: "tcp4",
// "tcp6", "udp4", "udp6", "unix", "unixgram" or "unixpacket"; "" when the
// family or socket type has none.
func (sa *Sockaddr) Network() string {
	network, _ := sockaddrNetwork(sa)
	return network
}

// sockaddrNetwork is sa.Network() and what that network asks for, as the
// guard parses network names, without building or parsing the name.
func sockaddrNetwork(sa *Sockaddr) (string, netKind) {
	family, _, err := sa.destination()
	if err != nil || family == 0 {
		return "", netKind{}
	}
	for _, n := range networks {
		if n.family == family && n.socktype == sa.Socktype {
			return n.name, kindOf(family, sa.Socktype)
		}
	}
	return "", netKind{}
}

// String returns the current destination: "127.0.0.1:80", "[::1]:443",
// "unix:/run/app.sock", "unix:@abstract".
func (sa *Sockaddr) String() string {
	switch {
	case sa.Path != "":
		return "unix:" + sa.Path
	case sa.Addr.IsValid():
		return sa.Addr.String()
	}
	return fmt.Sprintf("family(%d)", sa.Family)
}

// OpenSocket opens the socket libcurl itself would open for addr (with
// close-on-exec set), following a rewrite of addr's destination. It lets an
// open-socket callback that only filters or rewrites stay one line:
//
//	return curl.OpenSocket(addr)
func OpenSocket(addr *Sockaddr) (int, error) {
	if addr == nil {
		return SOCKET_BAD, fmt.Errorf("%w: nil Sockaddr", ErrInvalidAddress)
	}
	family, protocol, err := addr.destination()
	if err != nil {
		return SOCKET_BAD, err
	}
	// Keep the flags libcurl asked for (≥ 8.19 passes SOCK_CLOEXEC itself).
	socktype := addr.Socktype | addr.rawSocktype&socktypeFlags | unix.SOCK_CLOEXEC
	fd, err := unix.Socket(family, socktype, protocol)
	if err != nil {
		return SOCKET_BAD, fmt.Errorf("curlsock: socket(%d, %d, %d): %w", family, addr.Socktype, protocol, err)
	}
	addr.opened = fd + 1
	return fd, nil
}
