package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/sock"
)

// options is the parsed command line.
type options struct {
	url    string
	hasURL bool // "" is a URL too: libcurl rejects it, as curl's exit 3 shows

	output    string // "-" is stdout
	hasOutput bool
	silent    bool
	showError bool
	follow    bool
	maxRedirs int
	verbose   bool
	fail      bool
	head      bool
	include   bool
	writeOut  string
	hasWrite  bool

	maxTime        float64 // seconds; 0 is none
	connectTimeout float64

	cacert   string
	capath   string
	insecure bool
	httpVer  int // CURLOPT_HTTP_VERSION; 0 leaves libcurl's default

	headers   []string
	data      []string // each -d, "@file" still unread
	hasData   bool
	method    string
	userAgent *string
	user      *string

	resolve    []string
	unixSocket string
	guard      bool
	guardFTP   bool
	allow      []netip.Prefix
	deny       []netip.Prefix
	ports      []uint16
	anyPort    bool
	allowUnix  bool
	maps       []string
	rewrite    *sock.RewriteTable // maps, parsed
	trace      bool
	keepalive  time.Duration
	userTO     time.Duration
	mark       int
	device     string
	sndbuf     int
	rcvbuf     int
}

// usageError is a command line curlsock cannot run: exit 2, as curl's
// "option ... is unknown".
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usageWarning is a usage error curl reports as a warning: -s mutes it
// (-S does not bring it back), and no pointer to --help follows.
type usageWarning struct {
	msg    string
	silent bool
}

func (w usageWarning) Error() string { return w.msg }

// errHelp is -h or --help.
var errHelp = errors.New("help requested")

// flagDef is one flag: a boolean (on) or one taking a value (set).
type flagDef struct {
	short byte   // 0: long form only
	long  string // without the dashes
	arg   string // the value's name in the usage text
	help  string
	// negatable booleans also take curl's --no- form.
	negatable bool
	on        func(o *options, on bool)
	set       func(o *options, v string) error
}

// flagTable lists every flag; the usage text follows its order.
var flagTable = []flagDef{
	{short: 'o', long: "output", arg: "FILE", help: `write the body to FILE ("-" is stdout); created by the first byte`,
		set: func(o *options, v string) error {
			if v == "" {
				return errors.New("is badly used here (output file name has no length)")
			}
			o.output, o.hasOutput = v, true
			return nil
		}},
	{short: 's', long: "silent", help: "no error messages or warnings", negatable: true,
		on: func(o *options, on bool) { o.silent = on }},
	{short: 'S', long: "show-error", help: "error messages despite -s", negatable: true,
		on: func(o *options, on bool) { o.showError = on }},
	{short: 'L', long: "location", help: "follow redirects", negatable: true,
		on: func(o *options, on bool) { o.follow = on }},
	{long: "max-redirs", arg: "NUM", help: "follow at most NUM redirects (default 50; -1: no limit)",
		set: func(o *options, v string) error {
			n, err := curlInt(v)
			if err == nil && n < -1 {
				err = errBadNumber
			}
			o.maxRedirs = int(n)
			return err
		}},
	{short: 'm', long: "max-time", arg: "SECONDS", help: "give up on the transfer after SECONDS (fractions allowed)",
		set: func(o *options, v string) (err error) { o.maxTime, err = curlSeconds(v); return err }},
	{long: "connect-timeout", arg: "SECONDS", help: "give up connecting after SECONDS (fractions allowed)",
		set: func(o *options, v string) (err error) { o.connectTimeout, err = curlSeconds(v); return err }},
	{short: 'f', long: "fail", help: "fail with exit 22 on an HTTP status of 400 or more, without the body", negatable: true,
		on: func(o *options, on bool) { o.fail = on }},
	{short: 'I', long: "head", help: "HEAD request; print the response headers", negatable: true,
		on: func(o *options, on bool) { o.head = on }},
	{short: 'i', long: "include", help: "print the response headers before the body", negatable: true,
		on: func(o *options, on bool) { o.include = on }},
	{short: 'w', long: "write-out", arg: "FORMAT", help: "print FORMAT after the transfer: %{http_code}, %{size_download}, ... and \\n (@FILE reads it)",
		set: func(o *options, v string) error { o.writeOut, o.hasWrite = v, true; return nil }},
	{short: 'H', long: "header", arg: "LINE", help: `add the request header LINE ("Name: value"; "Name:" removes it) (repeatable)`,
		set: func(o *options, v string) error { o.headers = append(o.headers, v); return nil }},
	{short: 'd', long: "data", arg: "DATA", help: "POST DATA as application/x-www-form-urlencoded; several are joined with &; @FILE reads FILE without its newlines (@- stdin)",
		set: func(o *options, v string) error { o.data, o.hasData = append(o.data, v), true; return nil }},
	{short: 'X', long: "request", arg: "METHOD", help: "use METHOD instead of GET or POST",
		set: func(o *options, v string) error { o.method = v; return nil }},
	{short: 'A', long: "user-agent", arg: "NAME", help: "send User-Agent: NAME",
		set: func(o *options, v string) error { o.userAgent = &v; return nil }},
	{short: 'u', long: "user", arg: "USER:PASSWORD", help: "server user and password (basic auth)",
		set: func(o *options, v string) error { o.user = &v; return nil }},
	{long: "cacert", arg: "FILE", help: "verify the server with the CA certificates in FILE (PEM)",
		set: func(o *options, v string) error { o.cacert = v; return nil }},
	{long: "capath", arg: "DIR", help: "verify the server with the CA certificates in DIR (hashed names, as c_rehash makes)",
		set: func(o *options, v string) error { o.capath = v; return nil }},
	{short: 'k', long: "insecure", help: "do not verify the server's certificate or name", negatable: true,
		on: func(o *options, on bool) { o.insecure = on }},
	{long: "http1.1", help: "use HTTP/1.1",
		on: func(o *options, _ bool) { o.httpVer = curl.HTTP_VERSION_1_1 }},
	{long: "http2", help: "use HTTP/2 (over http://, ask for an upgrade)",
		on: func(o *options, _ bool) { o.httpVer = 3 }}, // CURL_HTTP_VERSION_2_0
	{short: 'v', long: "verbose", help: "libcurl's verbose output on stderr", negatable: true,
		on: func(o *options, on bool) { o.verbose = on }},
	{long: "resolve", arg: "HOST:PORT:ADDR[,ADDR...]", help: "pin a name to addresses (repeatable)",
		set: func(o *options, v string) error {
			if strings.Count(v, ":") < 2 {
				return errors.New("want HOST:PORT:ADDR[,ADDR...]")
			}
			o.resolve = append(o.resolve, v)
			return nil
		}},
	{long: "unix-socket", arg: "PATH", help: "connect through the unix socket at PATH",
		set: func(o *options, v string) error { o.unixSocket = v; return nil }},
	{long: "url", arg: "URL", help: "the URL, as an argument of its own",
		set: func(o *options, v string) error { return o.setURL(v) }},
	{short: 'h', long: "help", help: "this text"},

	{long: "guard", help: "refuse destinations on the default deny-list (private, loopback, link-local, ...), ports other than 80 and 443, unix sockets, and schemes other than http and https", negatable: true,
		on: func(o *options, on bool) { o.guard = on }},
	{long: "guard-ftp", help: "let the guard allow ftp:// too (implies --guard); FTP's ports still need --port 21 and the passive data ports, or --any-port", negatable: true,
		on: func(o *options, on bool) { o.guardFTP = on }},
	{long: "allow", arg: "CIDR", help: "allow CIDR despite the deny-list (repeatable; implies --guard)",
		set: func(o *options, v string) error { return appendPrefix(&o.allow, v) }},
	{long: "deny", arg: "CIDR", help: "deny CIDR, whatever else allows it (repeatable; implies --guard)",
		set: func(o *options, v string) error { return appendPrefix(&o.deny, v) }},
	{long: "port", arg: "N", help: "allow port N instead of 80 and 443 (repeatable; implies --guard)",
		set: func(o *options, v string) error {
			n, err := strconv.ParseUint(v, 10, 16)
			if err != nil || n == 0 {
				return errors.New("not a port number")
			}
			o.ports = append(o.ports, uint16(n))
			return nil
		}},
	{long: "any-port", help: "let the guard allow every port (implies --guard): FTP's passive data ports are the server's choice", negatable: true,
		on: func(o *options, on bool) { o.anyPort = on }},
	{long: "allow-unix", help: "let the guard allow unix sockets (implies --guard)", negatable: true,
		on: func(o *options, on bool) { o.allowUnix = on }},
	{long: "map", arg: "FROM=TO", help: "rewrite the destination FROM to TO after DNS: ip:port or a unix socket path on each side (repeatable)",
		set: func(o *options, v string) error { o.maps = append(o.maps, v); return nil }},
	{long: "trace-sockets", help: "print every socket open, refusal, sockopt and close on stderr", negatable: true,
		on: func(o *options, on bool) { o.trace = on }},
	{long: "keepalive", arg: "TIME", help: "TCP keepalive with this idle TIME (seconds, or a Go duration such as 30s)",
		set: func(o *options, v string) (err error) { o.keepalive, err = duration(v); return err }},
	{long: "tcp-user-timeout", arg: "TIME", help: "TCP_USER_TIMEOUT (seconds, or a Go duration such as 2s)",
		set: func(o *options, v string) (err error) { o.userTO, err = duration(v); return err }},
	{long: "mark", arg: "N", help: "SO_MARK N on every socket",
		set: func(o *options, v string) (err error) { o.mark, err = count(v); return err }},
	{long: "bind-device", arg: "IFACE", help: "SO_BINDTODEVICE IFACE",
		set: func(o *options, v string) error { o.device = v; return nil }},
	{long: "sndbuf", arg: "BYTES", help: "SO_SNDBUF BYTES",
		set: func(o *options, v string) (err error) { o.sndbuf, err = count(v); return err }},
	{long: "rcvbuf", arg: "BYTES", help: "SO_RCVBUF BYTES",
		set: func(o *options, v string) (err error) { o.rcvbuf, err = count(v); return err }},
}

func lookupLong(name string) *flagDef {
	for i := range flagTable {
		if flagTable[i].long == name {
			return &flagTable[i]
		}
	}
	return nil
}

func lookupShort(c byte) *flagDef {
	for i := range flagTable {
		if flagTable[i].short == c {
			return &flagTable[i]
		}
	}
	return nil
}

func (o *options) setURL(u string) error {
	if o.hasURL {
		return fmt.Errorf("more than one URL (%q and %q): curlsock fetches one", o.url, u)
	}
	o.url, o.hasURL = u, true
	return nil
}

// parseArgs parses a command line as curl does: short flags combine (-sSL),
// a short flag's value is the rest of its argument or the next one (-ofile,
// -o file), a long flag's value is the next argument, "--" ends the flags, and the URL may come anywhere. Every
// address flag is checked before anything connects; files named by -d @FILE
// and -w @FILE are read by the transfer.
func parseArgs(args []string) (*options, error) {
	o := &options{maxRedirs: 50}
	flagsDone := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if flagsDone || len(a) < 2 || a[0] != '-' {
			if !flagsDone && a == "-" {
				return nil, usageError{"option -: is unknown"}
			}
			if err := o.setURL(a); err != nil {
				return nil, usageError{err.Error()}
			}
			continue
		}
		if a == "--" {
			flagsDone = true
			continue
		}
		// next takes the following argument as a value.
		next := func(name string) (string, error) {
			if i+1 >= len(args) {
				return "", usageError{fmt.Sprintf("option %s: requires parameter", name)}
			}
			i++
			return args[i], nil
		}
		if strings.HasPrefix(a, "--") {
			// As curl: "--max-time=5" is an unknown option, not a value.
			name := a[2:]
			f, on := lookupLong(name), true
			if f == nil && strings.HasPrefix(name, "no-") {
				if f = lookupLong(name[3:]); f != nil && !f.negatable {
					return nil, usageError{fmt.Sprintf("option %s: used '--no-' for option that isn't a boolean", a)}
				}
				on = false
			}
			if f == nil {
				return nil, usageError{fmt.Sprintf("option %s: is unknown", a)}
			}
			if f.set == nil {
				if f.on == nil {
					return nil, errHelp
				}
				f.on(o, on)
				continue
			}
			value, err := next("--" + name)
			if err != nil {
				return nil, err
			}
			if err := f.set(o, value); err != nil {
				return nil, valueError("--"+name, err)
			}
			continue
		}
		for j := 1; j < len(a); j++ {
			f := lookupShort(a[j])
			if f == nil {
				return nil, usageError{fmt.Sprintf("option %s: is unknown", a)}
			}
			if f.set == nil {
				if f.on == nil {
					return nil, errHelp
				}
				f.on(o, true)
				continue
			}
			value := a[j+1:]
			if value == "" {
				var err error
				if value, err = next(a); err != nil {
					return nil, err
				}
			}
			if err := f.set(o, value); err != nil {
				return nil, valueError(a, err)
			}
			break
		}
	}
	if !o.hasURL && len(args) > 0 {
		return nil, usageError{"no URL specified!"}
	}
	if o.head && o.hasData {
		return nil, usageWarning{"You can only select one HTTP request method! You asked for both POST (-d, --data) and HEAD (-I, --head).", o.silent}
	}
	if len(o.allow)+len(o.deny)+len(o.ports) > 0 || o.anyPort || o.allowUnix || o.guardFTP {
		o.guard = true
	}
	if len(o.maps) > 0 {
		var err error
		if o.rewrite, err = sock.ParseRewrite(o.maps...); err != nil {
			return nil, usageError{fmt.Sprintf("option --map: %v", err)}
		}
	}
	return o, nil
}

func valueError(name string, err error) error {
	return usageError{fmt.Sprintf("option %s: %v", name, err)}
}

// curl's messages for a bad number.
var (
	errBadNumber = errors.New("expected a proper numerical parameter")
	errNegative  = errors.New("expected a positive numerical parameter")
	errTooLarge  = errors.New("too large number")
)

// cSpace is what C's isspace skips before a number.
const cSpace = " \t\n\v\f\r"

// decimal is what curlSeconds accepts after the spaces: strtod's decimal
// form. strtod's hexadecimal and inf/nan forms are refused.
var decimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// curlSeconds parses seconds as curl's -m does (str2udouble): fractions
// allowed, not negative, at most LONG_MAX milliseconds.
func curlSeconds(v string) (float64, error) {
	v = strings.TrimLeft(v, cSpace)
	if !decimal.MatchString(v) {
		return 0, errBadNumber
	}
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil || f > math.MaxInt64/1000:
		return 0, errTooLarge
	case f < 0:
		return 0, errNegative
	}
	return f, nil
}

// curlInt parses a number as curl's str2num does (strtol, base 10).
func curlInt(v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimLeft(v, cSpace), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, errTooLarge
	}
	if err != nil {
		return 0, errBadNumber
	}
	return n, nil
}

// duration is plain seconds or a Go duration, not negative.
func duration(v string) (time.Duration, error) {
	s, err := curlSeconds(v)
	switch {
	case err == nil && s*float64(time.Second) >= math.MaxInt64:
		return 0, errTooLarge
	case err == nil:
		return time.Duration(s * float64(time.Second)), nil
	case err != errBadNumber:
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("want seconds or a duration such as 30s")
	}
	if d < 0 {
		return 0, errNegative
	}
	return d, nil
}

// count is a non-negative int, in Go's syntax (0x10 too).
func count(v string) (int, error) {
	n, err := strconv.ParseInt(v, 0, 32)
	if err != nil {
		return 0, errBadNumber
	}
	if n < 0 {
		return 0, errNegative
	}
	return int(n), nil
}

func appendPrefix(list *[]netip.Prefix, s string) error {
	p, err := parsePrefix(s)
	if err != nil {
		return err
	}
	*list = append(*list, p)
	return nil
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

// usage prints the help text, made from flagTable.
func usage(w io.Writer) {
	fmt.Fprint(w, `usage: curlsock [flags] URL
       curlsock             (no arguments: run the demo)

Flags as in curl: short ones combine (-sSLo FILE), a value may be attached
(-oFILE) or the next argument; long ones take the next argument; "--"
ends the flags; booleans also take --no-FLAG.

`)
	for _, f := range flagTable {
		if f.long == "guard" {
			fmt.Fprint(w, "\ncurlsock's socket toolkit:\n")
		}
		name := "    "
		if f.short != 0 {
			name = "-" + string(f.short) + ", "
		}
		name += "--" + f.long
		if f.arg != "" {
			name += " " + f.arg
		}
		fmt.Fprintf(w, "  %s\n        %s\n", name, f.help)
	}
	fmt.Fprint(w, `
Exit statuses are curl's: libcurl's result code (7 when the guard refused
every address, 1 for a scheme it closes, 22 for --fail, 28 for a timeout,
47 for too many redirects), 23 for an output that cannot be written, 2 for
bad usage.
`)
}
