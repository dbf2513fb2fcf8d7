package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/sock"
)

// Exit codes beyond libcurl's own, as curl uses them.
const (
	exitUsage = 2  // curl: "option ... is unknown", "no URL specified!"
	exitWrite = 23 // CURLE_WRITE_ERROR: the output cannot be written
)

// writeFailure is curl's message for exit 23 (libcurl 7.88.1's, for a short
// write): curlsock's write callback cannot return a short count, so it
// aborts the transfer and says the same.
const writeFailure = "Failure writing output to destination"

// run is the whole command: it returns the exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if errors.Is(err, errHelp) {
		usage(stdout)
		return 0
	}
	var warning usageWarning
	switch {
	case errors.As(err, &warning):
		if !warning.silent {
			fmt.Fprintf(stderr, "Warning: %s\n", warning.msg)
		}
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "curlsock: %v\ncurlsock: try 'curlsock --help' for more information\n", err)
		return exitUsage
	}
	if !o.hasURL {
		return demo(stdout, stderr)
	}
	return fetch(o, stdin, stdout, stderr, nil)
}

// fetch performs one transfer. extraControl hooks (the demo's safety net)
// run on every socket after the guard.
func fetch(o *options, stdin io.Reader, stdout, stderr io.Writer, extraControl []func(string, string, syscall.RawConn) error) int {
	warn := func(format string, a ...any) {
		if !o.silent {
			fmt.Fprintf(stderr, "Warning: "+format+"\n", a...)
		}
	}
	out := stdout
	var file *lazyFile
	if o.hasOutput && o.output != "-" {
		// As curl: the file is created by the first write, so that a
		// transfer that fails before any data leaves an existing file alone.
		file = &lazyFile{path: o.output}
		out = file
	}
	var post string
	if o.hasData {
		parts := make([]string, len(o.data))
		for i, d := range o.data {
			if name, ok := strings.CutPrefix(d, "@"); ok {
				b, err := readArgFile(name, stdin)
				if err != nil {
					warn(`Couldn't read data from file "%s", this makes an empty POST.`, name)
				}
				d = stripLines(b)
			}
			parts[i] = d
		}
		post = strings.Join(parts, "&")
	}
	format := o.writeOut
	if name, ok := strings.CutPrefix(format, "@"); ok && o.hasWrite {
		b, err := readArgFile(name, stdin)
		if err != nil {
			warn("Failed to read %s", name)
		}
		format = stripLines(b)
	}

	e := curl.EasyInit()
	if e == nil {
		fmt.Fprintln(stderr, "curlsock: (2) libcurl could not create a handle")
		return exitUsage
	}
	defer e.Cleanup()

	s := &curl.Sockets{Rewrite: o.rewrite}
	var protocols []string
	if o.guard {
		protocols = []string{"http", "https"}
		if o.guardFTP {
			protocols = append(protocols, "ftp")
		}
		s.Protocols = protocols
		var gopts []sock.GuardOption
		if len(o.allow) > 0 {
			gopts = append(gopts, sock.WithAllowedPrefixes(o.allow...))
		}
		if len(o.deny) > 0 {
			gopts = append(gopts, sock.WithDeniedPrefixes(o.deny...))
		}
		if o.anyPort {
			gopts = append(gopts, sock.WithAnyPort())
		} else if len(o.ports) > 0 {
			gopts = append(gopts, sock.WithPorts(o.ports...))
		}
		if o.allowUnix {
			gopts = append(gopts, sock.WithUnixSockets())
		}
		s.Guard = sock.NewGuard(gopts...)
	}
	if o.keepalive > 0 {
		s.Options = append(s.Options, sock.KeepAlive(net.KeepAliveConfig{Enable: true, Idle: o.keepalive, Interval: o.keepalive}))
	}
	if o.userTO > 0 {
		s.Options = append(s.Options, sock.TCPUserTimeout(o.userTO))
	}
	if o.mark > 0 {
		s.Options = append(s.Options, sock.Mark(o.mark))
	}
	if o.device != "" {
		s.Options = append(s.Options, sock.BindToDevice(o.device))
	}
	if o.sndbuf > 0 {
		s.Options = append(s.Options, sock.SendBuffer(o.sndbuf))
	}
	if o.rcvbuf > 0 {
		s.Options = append(s.Options, sock.RecvBuffer(o.rcvbuf))
	}
	if o.trace {
		s.Trace = sock.NewTrace(stderr)
	}
	s.Control = append(s.Control, extraControl...)

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
		{curl.OPT_MAXREDIRS, o.maxRedirs},
	}
	add := func(opt int, v any) { opts = append(opts, setopt{opt, v}) }
	if o.follow {
		add(curl.OPT_FOLLOWLOCATION, 1)
	}
	if o.verbose {
		add(curl.OPT_VERBOSE, 1)
	}
	if len(o.resolve) > 0 {
		add(curl.OPT_RESOLVE, o.resolve)
	}
	if o.unixSocket != "" {
		add(curl.OPT_UNIX_SOCKET_PATH, o.unixSocket)
	}
	// Truncated to milliseconds as curl does: below one, no limit at all.
	if ms := int(o.maxTime * 1000); ms > 0 {
		add(curl.OPT_TIMEOUT_MS, ms)
	}
	if ms := int(o.connectTimeout * 1000); ms > 0 {
		add(curl.OPT_CONNECTTIMEOUT_MS, ms)
	}
	if o.fail {
		add(curl.OPT_FAILONERROR, 1)
	}
	if o.head {
		add(curl.OPT_NOBODY, 1)
	}
	if o.head || o.include {
		add(curl.OPT_HEADER, 1)
	}
	if o.cacert != "" {
		add(curl.OPT_CAINFO, o.cacert)
	}
	if o.capath != "" {
		add(curl.OPT_CAPATH, o.capath)
	}
	if o.insecure {
		add(curl.OPT_SSL_VERIFYPEER, 0)
		add(curl.OPT_SSL_VERIFYHOST, 0)
	}
	if o.httpVer != 0 {
		add(curl.OPT_HTTP_VERSION, o.httpVer)
	}
	if len(o.headers) > 0 {
		add(curl.OPT_HTTPHEADER, o.headers)
	}
	if o.hasData {
		add(curl.OPT_POSTFIELDSIZE, len(post))
		add(curl.OPT_COPYPOSTFIELDS, post)
	}
	if o.method != "" {
		add(curl.OPT_CUSTOMREQUEST, o.method)
	}
	if o.userAgent != nil {
		add(curl.OPT_USERAGENT, *o.userAgent)
	}
	if o.user != nil {
		add(curl.OPT_USERPWD, *o.user)
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
	code, msg := 0, ""
	switch {
	case werr != nil:
		code, msg = exitWrite, fmt.Sprintf("%s (%v)", writeFailure, werr)
	case err != nil:
		code, msg = exitCode(err), errorText(e, err)
		if code == int(curl.E_UNSUPPORTED_PROTOCOL) && o.guard {
			msg += guardHint(msg, protocols)
		}
	}
	if code != 0 && (!o.silent || o.showError) {
		// As curl prints it: "curl: (7) Failed to connect to ...".
		fmt.Fprintf(stderr, "curlsock: (%d) %s\n", code, msg)
	}
	if o.hasWrite {
		writeOut(format, &transfer{e: e, o: o, code: code, msg: msg}, stdout, stderr)
	}
	return code
}

// errorText is the detail of a failed transfer: libcurl's own text, with
// the socket callbacks' errors (the guard's reasons) after it.
func errorText(e *curl.CURL, err error) string {
	var ce *curl.Error
	if errors.As(err, &ce) && len(ce.Callbacks) > 0 {
		return strings.TrimPrefix(ce.Error(), "curl: ")
	}
	if t := e.ErrorText(); t != "" {
		return t
	}
	return strings.TrimPrefix(err.Error(), "curl: ")
}

// guardHint says that a scheme libcurl supports was closed by the guard,
// which libcurl's "Protocol "ftp" not supported or disabled" leaves open.
func guardHint(detail string, allowed []string) string {
	_, rest, ok := strings.Cut(detail, `Protocol "`)
	if !ok {
		return ""
	}
	proto, _, _ := strings.Cut(rest, `"`)
	proto = strings.ToLower(proto)
	if slices.Contains(allowed, proto) || !slices.Contains(curl.VersionInfo(curl.VERSION_NOW).Protocols, proto) {
		return ""
	}
	hint := fmt.Sprintf(" (closed by --guard, which allows %s", strings.Join(allowed, ", "))
	if proto == "ftp" {
		hint += "; --guard-ftp opens ftp"
	}
	return hint + ")"
}

// readArgFile reads the FILE of -d @FILE or -w @FILE; "-" is stdin.
func readArgFile(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" {
		if stdin == nil {
			return nil, nil
		}
		return io.ReadAll(stdin)
	}
	return os.ReadFile(name)
}

// stripLines is what curl makes of -d @FILE and -w @FILE (file2string):
// the file read as fgets lines of at most 255 bytes, each cut at its first
// CR, LF or NUL.
func stripLines(b []byte) string {
	var out strings.Builder
	for len(b) > 0 {
		n := min(len(b), 255)
		if i := slices.Index(b[:n], '\n'); i >= 0 {
			n = i + 1
		}
		line := b[:n]
		b = b[n:]
		if i := slices.IndexFunc(line, func(c byte) bool { return c == '\r' || c == '\n' || c == 0 }); i >= 0 {
			line = line[:i]
		}
		out.Write(line)
	}
	return out.String()
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
