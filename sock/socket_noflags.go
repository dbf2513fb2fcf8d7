//go:build !(dragonfly || freebsd || linux || netbsd || openbsd)

package sock

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// socktypeFlags: socket(2) on this system takes no flags in its type.
const socktypeFlags = 0

// socket is socket(2) with close-on-exec set, under syscall.ForkLock as Go's
// net package does where it cannot be set atomically.
func socket(family, socktype, protocol int) (int, error) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Socket(family, socktype, protocol)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}
