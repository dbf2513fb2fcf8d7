package sock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unsafe"

	"github.com/curlsock/curlsock/internal/sockmark"
	"golang.org/x/sys/unix"
)

// Address families, as Sockaddr.Family holds them: this system's values.
const (
	AF_INET  = unix.AF_INET
	AF_INET6 = unix.AF_INET6
	AF_UNIX  = unix.AF_UNIX
)

// SockType is the purpose libcurl gives a socket (curlsocktype): why it was
// opened. Its two values are libcurl's.
type SockType int

const (
	// SockTypeIPCXN: a socket for a connection libcurl makes
	// (CURLSOCKTYPE_IPCXN). The only purpose the open-socket callback ever
	// receives.
	SockTypeIPCXN SockType = 0
	// SockTypeAccept: a socket accept()ed for an FTP active-mode data
	// connection (CURLSOCKTYPE_ACCEPT). Only the sockopt callback receives it.
	SockTypeAccept SockType = 1
)

func (t SockType) String() string {
	switch t {
	case SockTypeIPCXN:
		return "IPCXN"
	case SockTypeAccept:
		return "ACCEPT"
	}
	return fmt.Sprintf("SockType(%d)", int(t))
}

// sunPathMax is the size of sockaddr_un.sun_path on this system.
const sunPathMax = len(unix.RawSockaddrUnix{}.Path)

// offsetofSunPath is offsetof(struct sockaddr_un, sun_path).
const offsetofSunPath = 2

// ErrInvalidAddress is wrapped by the errors of a destination that cannot be
// encoded as a sockaddr (Encode), nor opened (Socket).
var ErrInvalidAddress = errors.New("curlsock: invalid destination address")

// Sockaddr is the destination of a socket about to be opened: the Go form of
// libcurl's struct curl_sockaddr, as its open-socket callback receives it,
// and of a raw struct sockaddr with the socket(2) arguments that go with it.
//
// An open-socket callback may rewrite the destination by changing Addr (or
// Path, for AF_UNIX): libcurl then connects to the new address. Family and
// Protocol follow the new address (a rewrite from TCP to a unix socket gives
// protocol 0); Family, Socktype and Protocol themselves are read-only, and
// changes to them are ignored. An address that cannot be written back (an
// invalid Addr, a Path longer than sun_path, both Addr and Path set) fails the
// attempt with an error wrapping ErrInvalidAddress.
//
// The Sockaddr libcurl's callback gets belongs to libcurl's call: it is valid
// only until the callback returns. For the FTP active-mode listen socket
// libcurl passes the local address to bind with port 0 and ignores rewrites.
//
// Besides its fields, a Sockaddr remembers what Decode gave it — the socket
// type's flags and the original destination, which Changed compares with —
// and the socket Socket last opened for it (Made). That state is unexported
// and reached only through these methods, so that package curl (which holds
// a *Sockaddr of this type under the alias curl.Sockaddr) needs no access
// to the fields: Decode fills a Sockaddr from libcurl's struct, Changed and
// Encode write a rewrite back, and Made spares the check that the fd an
// open-socket callback returns is a socket when Socket made it. A Sockaddr
// built as a literal has no original destination: Changed reports true as
// soon as Addr or Path is set.
type Sockaddr struct {
	Family   int // AF_INET, AF_INET6, AF_UNIX, ...
	Socktype int // unix.SOCK_STREAM or unix.SOCK_DGRAM, without SOCK_CLOEXEC/SOCK_NONBLOCK
	Protocol int // unix.IPPROTO_TCP, unix.IPPROTO_UDP, or 0 for AF_UNIX

	// Addr is the IP destination (AF_INET, AF_INET6). For AF_INET6 a
	// non-zero scope id is the zone: the interface name where it resolves,
	// else the number.
	Addr netip.AddrPort
	// Path is the AF_UNIX destination. An abstract socket name is written
	// with a leading "@", as Go's net package does.
	Path string

	flags    int // the socket type's flags Decode was given (SOCK_CLOEXEC, SOCK_NONBLOCK)
	origAddr netip.AddrPort
	origPath string
	// opened is 1 + the socket Socket last created for this Sockaddr. An
	// open-socket callback that returns it needs no check that it is a
	// socket (a syscall per connection); anything else is checked. A callback
	// that closed that socket and returns its number, reused meanwhile by a
	// file, is believed: the check is for mistakes such as (0, nil). Decode
	// resets the Sockaddr, so the mark never carries over to the next call.
	opened int
}

// Decode sets sa to the destination in raw, a struct sockaddr of family
// (the family in raw itself is not read) with the socket(2) type and
// protocol that go with it. Flags in socktype (SOCK_CLOEXEC, SOCK_NONBLOCK,
// which libcurl ≥ 8.19 passes) are left out of Socktype and kept for Socket.
// An unknown family or a raw too short for it decodes to no Addr and no
// Path. Everything sa held before is forgotten; the decoded destination is
// the original that Changed compares with.
func (sa *Sockaddr) Decode(family, socktype, protocol int, raw []byte) {
	// One function, not a call to decodeAddr: it runs for every connection
	// attempt, and package curl's caller cannot inline it.
	*sa = Sockaddr{
		Family:   family,
		Socktype: socktype &^ socktypeFlags,
		Protocol: protocol,
		flags:    socktype & socktypeFlags,
	}
	switch family {
	case unix.AF_INET:
		if len(raw) >= unix.SizeofSockaddrInet4 {
			ip := netip.AddrFrom4([4]byte(raw[4:8]))
			sa.Addr = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(raw[2:4]))
		}
	case unix.AF_INET6:
		if len(raw) >= unix.SizeofSockaddrInet6 {
			ip := netip.AddrFrom16([16]byte(raw[8:24]))
			if scope := binary.NativeEndian.Uint32(raw[24:28]); scope != 0 {
				ip = ip.WithZone(zoneName(scope))
			}
			sa.Addr = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(raw[2:4]))
		}
	case unix.AF_UNIX:
		if len(raw) > offsetofSunPath {
			path := raw[offsetofSunPath:]
			if path[0] == 0 {
				// Abstract: the name is every byte after the leading NUL.
				sa.Path = "@" + string(path[1:])
				break
			}
			for i, b := range path {
				if b == 0 {
					path = path[:i]
					break
				}
			}
			sa.Path = string(path)
		}
	}
	sa.origAddr, sa.origPath = sa.Addr, sa.Path
}

// decodeAddr decodes a raw sockaddr of the given family, as Decode does.
// Unknown families and short buffers decode to the zero values.
func decodeAddr(family int, raw []byte) (netip.AddrPort, string) {
	var sa Sockaddr
	sa.Decode(family, 0, 0, raw)
	return sa.Addr, sa.Path
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

// Changed reports whether the destination (Addr or Path) differs from the
// one Decode set: whether an open-socket callback rewrote it.
func (sa *Sockaddr) Changed() bool {
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
		if !sa.Changed() {
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

// Encode renders the current destination as a raw struct sockaddr in
// buf[:n], and returns the family and protocol the socket for it needs:
// those of the new destination after a rewrite (Changed), else the ones
// Decode was given. Its errors wrap ErrInvalidAddress: no destination, both
// Addr and Path, a zone that names no interface, a unix path that does not
// fit sun_path, port 0 after a rewrite, or a buf too short (128 bytes, a
// struct sockaddr_storage, always suffice). Only buf[:n] is written (padding
// zeroed), and, after an error, possibly part of it.
func (sa *Sockaddr) Encode(buf []byte) (family, protocol, n int, err error) {
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
		if len(buf) < unix.SizeofSockaddrInet4 {
			return 0, 0, 0, shortBuffer(len(buf), unix.SizeofSockaddrInet4)
		}
		clear(buf[:unix.SizeofSockaddrInet4])
		putFamily(buf, family, unix.SizeofSockaddrInet4)
		binary.BigEndian.PutUint16(buf[2:4], sa.Addr.Port())
		a4 := sa.Addr.Addr().As4()
		copy(buf[4:8], a4[:])
		n = unix.SizeofSockaddrInet4
	case unix.AF_INET6:
		scope, err := zoneIndex(sa.Addr.Addr().Zone())
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%w: %v", ErrInvalidAddress, err)
		}
		if len(buf) < unix.SizeofSockaddrInet6 {
			return 0, 0, 0, shortBuffer(len(buf), unix.SizeofSockaddrInet6)
		}
		clear(buf[:unix.SizeofSockaddrInet6])
		putFamily(buf, family, unix.SizeofSockaddrInet6)
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
		if len(buf) < off+len(name)+1 {
			return 0, 0, 0, shortBuffer(len(buf), off+len(name)+1)
		}
		clear(buf[:off+len(name)+1])
		copy(buf[off:], name)
		// libcurl counts the trailing NUL of a pathname (Curl_unix2addr).
		n = off + len(name)
		if !abstract {
			n++
		}
		putFamily(buf, family, n)
	default:
		return 0, 0, 0, fmt.Errorf("%w: family %d", ErrInvalidAddress, family)
	}
	if sa.Addr.IsValid() && sa.Addr.Port() == 0 && sa.Changed() {
		return 0, 0, 0, fmt.Errorf("%w: port 0", ErrInvalidAddress)
	}
	return family, protocol, n, nil
}

func shortBuffer(have, need int) error {
	return fmt.Errorf("%w: a buffer of %d bytes cannot hold a sockaddr of %d", ErrInvalidAddress, have, need)
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

// Socket opens the socket for the current destination (with close-on-exec
// set), as libcurl itself would: the family and protocol of the destination
// after any rewrite, Socktype with the flags Decode was given, and
// remembers it for Made. package curl's OpenSocket is this method.
func (sa *Sockaddr) Socket() (int, error) {
	family, protocol, err := sa.destination()
	if err != nil {
		return -1, err
	}
	fd, err := socket(family, sa.Socktype|sa.flags, protocol)
	if err != nil {
		return -1, fmt.Errorf("curlsock: socket(%d, %d, %d): %w", family, sa.Socktype, protocol, err)
	}
	sa.opened = fd + 1
	return fd, nil
}

// Made reports whether fd is the socket the last Socket call on sa opened,
// since sa was last decoded.
func (sa *Sockaddr) Made(fd int) bool {
	return sa.opened == fd+1 && sa.opened != 0
}

func init() {
	// For curlsock's dispatch benchmarks only (see internal/sockmark).
	sockmark.OpenedOffset = unsafe.Offsetof(Sockaddr{}.opened)
}
