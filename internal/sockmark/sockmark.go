// Package sockmark lets curlsock's own benchmarks reach one piece of
// sock.Sockaddr's unexported state: the mark Socket leaves on the socket it
// made (sock.Sockaddr.Made), without the socket(2) call. Package sock sets
// OpenedOffset in its init; nothing outside the module can import this
// package, and the library itself never uses it.
package sockmark

import "unsafe"

// OpenedOffset is the offset of sock.Sockaddr's mark, set by package sock.
var OpenedOffset uintptr

// MarkMade records fd as the socket (*sock.Sockaddr)(sa).Socket made, as if
// it had: a plain store, so that a benchmark pays what OpenSocket's own mark
// costs and no more.
func MarkMade(sa unsafe.Pointer, fd int) {
	*(*int)(unsafe.Add(sa, OpenedOffset)) = fd + 1
}
