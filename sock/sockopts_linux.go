package sock

import "golang.org/x/sys/unix"

const tcpKeepIdle = unix.TCP_KEEPIDLE

// socketKind tells whether fd is an IP socket, and a TCP (or MPTCP) one.
func socketKind(fd int) (ip, tcp bool, err error) {
	domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil {
		return false, false, err
	}
	proto, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	if err != nil {
		return false, false, err
	}
	ip = domain == unix.AF_INET || domain == unix.AF_INET6
	return ip, ip && (proto == unix.IPPROTO_TCP || proto == unix.IPPROTO_MPTCP), nil
}

func setTCPUserTimeout(fd, ms int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, ms)
}

func setMark(fd, mark int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, mark)
}

func bindToDevice(fd int, ifname string) error {
	return unix.BindToDevice(fd, ifname)
}
