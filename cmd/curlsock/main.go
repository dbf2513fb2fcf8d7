// Command curlsock is a curl-like fetcher built on curlsock: libcurl does the
// transfer, and curlsock's socket toolkit decides where its sockets may go
// (a destination guard), where they really go (a rewrite table), how they
// are configured (socket options) and what happened to each (a trace).
//
//	curlsock [flags] URL
//
// Without a URL it runs a self-contained demo against servers it starts on
// loopback. Exit codes are curl's: libcurl's result code, 7 when the guard
// refused every address, 2 for bad usage.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
