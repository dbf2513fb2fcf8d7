package sock

import "golang.org/x/sys/unix"

// tcpKeepIdle is TCP_KEEPIDLE under its Darwin name.
const tcpKeepIdle = unix.TCP_KEEPALIVE
