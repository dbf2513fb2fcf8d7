// Package sock is curlsock's socket policy, in pure Go: the destination
// guard (NewGuard, an SSRF filter), the destination rewrite table
// (ParseRewrite), the socket trace (NewTrace), socket options (KeepAlive,
// TCPUserTimeout, ...; ApplyOptions) and Sockaddr, the Go form of the
// address a socket is about to be opened for.
//
// It needs neither cgo nor libcurl, and builds with CGO_ENABLED=0 on Linux
// and other unix systems (macOS, FreeBSD, NetBSD, DragonFly; the options
// TCPUserTimeout, Mark and BindToDevice are Linux-only and fail elsewhere).
// Package curl (github.com/curlsock/curlsock) puts these pieces on libcurl's
// socket callbacks with curl.Sockets; a program that dials with Go's own net
// package uses them directly. The guard's Control method has
// net.Dialer.Control's signature, so guarding net/http takes one line:
//
//	dialer := &net.Dialer{Control: sock.NewGuard().Control}
//	client := &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
//
// The guard then judges every address the dialer is about to connect to,
// after DNS: a name that resolves to a private, loopback or link-local
// address (or any other of the guard's deny-list) is refused before any
// packet leaves, with an error wrapping ErrProhibitedIP (ErrProhibitedPort,
// ErrProhibitedNetwork, ErrProhibitedFamily) that names the rule.
package sock
