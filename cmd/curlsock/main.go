// Command curlsock is a curl-like fetcher built on curlsock: libcurl does the
// transfer, and curlsock's socket toolkit decides where its sockets may go
// (a destination guard), where they really go (a rewrite table), how they
// are configured (socket options) and what happened to each (a trace).
//
//	curlsock [flags] URL
//
// Its curl flags parse and behave as curl's. Without arguments it runs a
// self-contained demo against servers it starts on loopback. Exit codes are
// curl's: libcurl's result code, 7 when the guard refused every address, 23
// when the output cannot be written, 2 for bad usage.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Else Go kills the process with SIGPIPE on a write to a closed stdout
	// pipe; ignored, the write fails and curlsock exits 23 as curl does.
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
