//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package sock

// putFamily writes the head of a raw sockaddr of n bytes: BSD's sa_len and
// sa_family bytes.
func putFamily(buf []byte, family, n int) {
	buf[0] = byte(n)
	buf[1] = byte(family)
}
