//go:build !linux

package sock

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// socketKind tells whether fd is an IP socket, and a TCP one: an IP stream
// socket, by its local address and SO_TYPE (no SO_DOMAIN or SO_PROTOCOL here).
func socketKind(fd int) (ip, tcp bool, err error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false, false, err
	}
	switch sa.(type) {
	case *unix.SockaddrInet4, *unix.SockaddrInet6:
		ip = true
	}
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return false, false, err
	}
	return ip, ip && typ == unix.SOCK_STREAM, nil
}

// errLinuxOnly fails the options that only Linux has.
var errLinuxOnly = fmt.Errorf("not available on %s: %w", runtime.GOOS, errors.ErrUnsupported)

func setTCPUserTimeout(fd, ms int) error { return errLinuxOnly }

func setMark(fd, mark int) error { return errLinuxOnly }

func bindToDevice(fd int, ifname string) error { return errLinuxOnly }
