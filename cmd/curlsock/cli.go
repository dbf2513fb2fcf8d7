package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	curl "github.com/curlsock/curlsock"
)

// Exit codes beyond libcurl's own, as curl uses them.
const (
	exitUsage = 2  // curl: "failed to initialize" / bad option
	exitWrite = 23 // CURLE_WRITE_ERROR: the output file
)

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// options is the parsed command line.
type options struct {
	url        string
	output     string
	silent     bool
	follow     bool
	verbose    bool
	resolve    listFlag
	unixSocket string
	guard      bool
	allow      []netip.Prefix
	deny       []netip.Prefix
	ports      []uint16
	allowUnix  bool
	maps       listFlag
	rewrite    *curl.RewriteTable // maps, parsed
	trace      bool
	keepalive  time.Duration
	userTO     time.Duration
	mark       int
	device     string
	sndbuf     int
	rcvbuf     int
	maxTime    time.Duration
}

// usageError is a command line curlsock cannot run.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// parseArgs parses curl-style arguments: flags may come before or after the
// URL, and every address flag is validated before anything connects.
func parseArgs(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("curlsock", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var allow, deny, ports listFlag
	fs.StringVar(&o.output, "o", "", "write the body to `FILE` instead of stdout")
	fs.BoolVar(&o.silent, "s", false, "silent: no error messages")
	fs.BoolVar(&o.follow, "L", false, "follow redirects")
	fs.BoolVar(&o.verbose, "v", false, "libcurl's verbose output on stderr")
	fs.Var(&o.resolve, "resolve", "`HOST:PORT:ADDR[,ADDR...]` pins a name to addresses, as curl's (repeatable)")
	fs.StringVar(&o.unixSocket, "unix-socket", "", "connect through the unix socket at `PATH`")
	fs.BoolVar(&o.guard, "guard", false, "refuse destinations on the default deny-list (private, loopback, link-local, ...), ports other than 80 and 443, unix sockets")
	fs.Var(&allow, "allow", "allow `CIDR` despite the deny-list (repeatable; implies --guard)")
	fs.Var(&deny, "deny", "deny `CIDR`, whatever else allows it (repeatable; implies --guard)")
	fs.Var(&ports, "port", "allow port `N` instead of 80 and 443 (repeatable; implies --guard)")
	fs.BoolVar(&o.allowUnix, "allow-unix", false, "let the guard allow unix sockets")
	fs.Var(&o.maps, "map", "rewrite destination `FROM=TO` after DNS: ip:port or a unix socket path on each side (repeatable)")
	fs.BoolVar(&o.trace, "trace-sockets", false, "print every socket open, refusal, sockopt and close on stderr")
	fs.DurationVar(&o.keepalive, "keepalive", 0, "TCP keepalive with this idle `time` (e.g. 30s)")
	fs.DurationVar(&o.userTO, "tcp-user-timeout", 0, "TCP_USER_TIMEOUT `time`")
	fs.IntVar(&o.mark, "mark", 0, "SO_MARK `value` on every socket")
	fs.StringVar(&o.device, "bind-device", "", "SO_BINDTODEVICE `interface`")
	fs.IntVar(&o.sndbuf, "sndbuf", 0, "SO_SNDBUF `bytes`")
	fs.IntVar(&o.rcvbuf, "rcvbuf", 0, "SO_RCVBUF `bytes`")
	fs.DurationVar(&o.maxTime, "max-time", 0, "give up after this `time` (curl's -m)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: curlsock [flags] URL\n       curlsock            (no URL: run the demo)\n\nflags:\n")
		fs.PrintDefaults()
	}
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "" {
			return nil, usageError{"empty URL"}
		}
		if o.url != "" {
			return nil, usageError{fmt.Sprintf("more than one URL: %q and %q", o.url, args[0])}
		}
		o.url, args = args[0], args[1:]
	}
	if o.url == "" && fs.NFlag() > 0 {
		return nil, usageError{"flags but no URL (the demo, run without a URL, takes no flags)"}
	}
	for _, s := range allow {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--allow %s: %v", s, err)}
		}
		o.allow = append(o.allow, p)
	}
	for _, s := range deny {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, usageError{fmt.Sprintf("--deny %s: %v", s, err)}
		}
		o.deny = append(o.deny, p)
	}
	for _, s := range ports {
		n, err := strconv.ParseUint(s, 10, 16)
		if err != nil || n == 0 {
			return nil, usageError{fmt.Sprintf("--port %s: not a port number", s)}
		}
		o.ports = append(o.ports, uint16(n))
	}
	if len(o.allow)+len(o.deny)+len(o.ports) > 0 || o.allowUnix {
		o.guard = true
	}
	for _, r := range o.resolve {
		if strings.Count(r, ":") < 2 {
			return nil, usageError{fmt.Sprintf("--resolve %s: want HOST:PORT:ADDR[,ADDR...]", r)}
		}
	}
	if len(o.maps) > 0 {
		var err error
		if o.rewrite, err = curl.ParseRewrite(o.maps...); err != nil {
			return nil, usageError{fmt.Sprintf("--map: %v", err)}
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"--mark", o.mark}, {"--sndbuf", o.sndbuf}, {"--rcvbuf", o.rcvbuf}} {
		if n.v < 0 {
			return nil, usageError{fmt.Sprintf("%s %d: must not be negative", n.name, n.v)}
		}
	}
	if o.keepalive < 0 || o.userTO < 0 || o.maxTime < 0 {
		return nil, usageError{"durations must not be negative"}
	}
	return o, nil
}

// parsePrefix accepts a CIDR or a single address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// run is the whole command: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "curlsock: %v\n", err)
		return exitUsage
	}
	if o.url == "" {
		return demo(stdout, stderr)
	}
	return fetch(o, stdout, stderr, nil)
}

// fetch performs one transfer. extraControl hooks (the demo's safety net)
// run on every socket after the guard.
func fetch(o *options, stdout, stderr io.Writer, extraControl []func(string, string, syscall.RawConn) error) int {
	out := stdout
	var file *lazyFile
	if o.output != "" {
		// As curl: the file is created by the first write, so that a
		// transfer that fails before any data leaves an existing file alone.
		file = &lazyFile{path: o.output}
		out = file
	}
	e := curl.EasyInit()
	if e == nil {
		fmt.Fprintln(stderr, "curlsock: (2) libcurl could not create a handle")
		return exitUsage
	}
	defer e.Cleanup()

	s := &curl.Sockets{Rewrite: o.rewrite}
	if o.guard {
		var gopts []curl.GuardOption
		if len(o.allow) > 0 {
			gopts = append(gopts, curl.WithAllowedPrefixes(o.allow...))
		}
		if len(o.deny) > 0 {
			gopts = append(gopts, curl.WithDeniedPrefixes(o.deny...))
		}
		if len(o.ports) > 0 {
			gopts = append(gopts, curl.WithPorts(o.ports...))
		}
		if o.allowUnix {
			gopts = append(gopts, curl.WithUnixSockets())
		}
		s.Guard = curl.NewGuard(gopts...)
	}
	if o.keepalive > 0 {
		s.Options = append(s.Options, curl.KeepAlive(net.KeepAliveConfig{Enable: true, Idle: o.keepalive, Interval: o.keepalive}))
	}
	if o.userTO > 0 {
		s.Options = append(s.Options, curl.TCPUserTimeout(o.userTO))
	}
	if o.mark > 0 {
		s.Options = append(s.Options, curl.Mark(o.mark))
	}
	if o.device != "" {
		s.Options = append(s.Options, curl.BindToDevice(o.device))
	}
	if o.sndbuf > 0 {
		s.Options = append(s.Options, curl.SendBuffer(o.sndbuf))
	}
	if o.rcvbuf > 0 {
		s.Options = append(s.Options, curl.RecvBuffer(o.rcvbuf))
	}
	if o.trace {
		s.Trace = curl.NewTrace(stderr)
	}
	for _, f := range extraControl {
		s.Control = append(s.Control, f)
	}

	var werr error
	type setopt struct {
		opt int
		v   any
	}
	opts := []setopt{
		{curl.OPT_URL, o.url},
		{curl.OPT_NOSIGNAL, 1},
		// A write error must end the transfer at once: false would pause it
		// (go-curl's meaning), so the data is dropped and the progress
		// callback aborts.
		{curl.OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
			if werr == nil {
				_, werr = out.Write(b)
			}
			return true
		}},
		{curl.OPT_NOPROGRESS, 0},
		{curl.OPT_PROGRESSFUNCTION, func(_, _, _, _ float64, _ any) bool { return werr == nil }},
	}
	if o.follow {
		opts = append(opts, setopt{curl.OPT_FOLLOWLOCATION, 1})
	}
	if o.verbose {
		opts = append(opts, setopt{curl.OPT_VERBOSE, 1})
	}
	if len(o.resolve) > 0 {
		opts = append(opts, setopt{curl.OPT_RESOLVE, []string(o.resolve)})
	}
	if o.unixSocket != "" {
		opts = append(opts, setopt{curl.OPT_UNIX_SOCKET_PATH, o.unixSocket})
	}
	if o.maxTime > 0 {
		// Rounded up: 0 would mean no timeout at all.
		ms := o.maxTime / time.Millisecond
		if o.maxTime%time.Millisecond != 0 {
			ms++
		}
		opts = append(opts, setopt{curl.OPT_TIMEOUT_MS, int(ms)})
	}
	for _, kv := range opts {
		if err := e.Setopt(kv.opt, kv.v); err != nil {
			fmt.Fprintf(stderr, "curlsock: (2) %v\n", err)
			return exitUsage
		}
	}
	if err := s.Install(e); err != nil {
		fmt.Fprintf(stderr, "curlsock: (2) %v\n", err)
		return exitUsage
	}
	err := e.Perform()
	if file != nil {
		if err == nil && werr == nil {
			_, werr = file.Write(nil) // an empty body still makes the file
		}
		if cerr := file.Close(); werr == nil {
			werr = cerr
		}
	}
	if werr != nil {
		if !o.silent {
			fmt.Fprintf(stderr, "curlsock: (%d) writing output: %v\n", exitWrite, werr)
		}
		return exitWrite
	}
	if err == nil {
		return 0
	}
	code := exitCode(err)
	if !o.silent {
		// As curl prints it: "curl: (7) Failed to connect ...".
		fmt.Fprintf(stderr, "curlsock: (%d) %s\n", code, strings.TrimPrefix(err.Error(), "curl: "))
	}
	return code
}

// exitCode is libcurl's result code, as curl's exit status.
func exitCode(err error) int {
	var ce curl.CurlError
	if errors.As(err, &ce) {
		return int(ce)
	}
	return exitUsage
}

// lazyFile creates path on the first Write.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Write(b []byte) (int, error) {
	if l.f == nil {
		f, err := os.Create(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(b)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
