package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
)

// errNotLoopback comes from the demo's safety net, never from the guard.
var errNotLoopback = errors.New("demo safety net: only loopback may be reached")

// loopbackOnly is a net.Dialer.Control hook the demo adds after the guard:
// should the guard ever let a non-loopback address through, the socket is
// still refused before it connects. The demo must not send a packet anywhere
// but this machine.
func loopbackOnly(network, address string, _ syscall.RawConn) error {
	if strings.HasPrefix(network, "unix") {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().IsLoopback() {
		return fmt.Errorf("%w: %s", errNotLoopback, address)
	}
	return nil
}

// demo runs three transfers against a server it starts on loopback: a normal
// fetch with its socket trace, a rewritten destination, and a redirect to a
// private address that the guard stops.
func demo(stdout, stderr io.Writer) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "curlsock: demo: %v\n", err)
		return exitUsage
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from the demo server (you asked for %s)\n", r.Host)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		// Where an SSRF would go: an internal service on a private address.
		http.Redirect(w, r, "http://10.0.0.1/latest/meta-data/", http.StatusFound)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	fmt.Fprintf(stdout, "curlsock demo: libcurl transfers against a server on %s\n", addr)
	scenarios := []struct {
		title string
		want  int // the exit status that shows the scenario worked
		args  []string
	}{
		{"1. A normal fetch, guarded, with its socket trace", 0, []string{
			"--trace-sockets", "--guard", "--allow", "127.0.0.1", "--port", port,
			"http://" + addr + "/hello"}},
		{"2. A rewritten destination: 192.0.2.1:80 is sent to the local server", 0, []string{
			"--trace-sockets", "--map", "192.0.2.1:80=" + addr,
			"http://192.0.2.1/hello"}},
		{"3. A redirect to a private address, stopped by the guard", 7, []string{
			"-L", "--trace-sockets", "--guard", "--allow", "127.0.0.1", "--port", port, "--port", "80",
			"http://" + addr + "/redirect"}},
	}
	failed := 0
	for _, sc := range scenarios {
		fmt.Fprintf(stdout, "\n== %s\n$ curlsock %s\n", sc.title, strings.Join(sc.args, " "))
		o, err := parseArgs(sc.args)
		if err != nil {
			fmt.Fprintf(stderr, "curlsock: demo: %v\n", err)
			return exitUsage
		}
		code := fetch(o, nil, stdout, stdout, []func(string, string, syscall.RawConn) error{loopbackOnly})
		fmt.Fprintf(stdout, "exit status %d\n", code)
		if code != sc.want {
			fmt.Fprintf(stdout, "(expected exit status %d)\n", sc.want)
			failed = 1
		}
	}
	return failed
}
