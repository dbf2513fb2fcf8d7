//go:build dragonfly || freebsd || linux || netbsd || openbsd

package sock

import "golang.org/x/sys/unix"

// socktypeFlags are the flags libcurl ≥ 8.19 ORs into socktype before calling
// the open-socket callback. They belong in socket(2)'s type argument but not in
// comparisons.
const socktypeFlags = unix.SOCK_CLOEXEC | unix.SOCK_NONBLOCK

// socket is socket(2) with close-on-exec set atomically.
func socket(family, socktype, protocol int) (int, error) {
	return unix.Socket(family, socktype|unix.SOCK_CLOEXEC, protocol)
}
