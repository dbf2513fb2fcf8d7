//go:build !(darwin || dragonfly || freebsd || netbsd || openbsd)

package sock

import "encoding/binary"

// putFamily writes the head of a raw sockaddr: sa_family, in host order
// (Linux has no sa_len).
func putFamily(buf []byte, family, _ int) {
	binary.NativeEndian.PutUint16(buf[0:2], uint16(family))
}
