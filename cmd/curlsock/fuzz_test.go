package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// parseArgs never panics on any argv, and returns exactly one of options and
// an error. Accepted options are consistent: the address flags imply the
// guard, and nothing negative gets through. The fuzz input is the argv
// joined by NUL bytes.
func FuzzParseArgs(f *testing.F) {
	for _, argv := range [][]string{
		{},
		{"http://127.0.0.1:8080/"},
		{"-s", "-L", "-o", "out.html", "http://example.test/"},
		{"--guard", "--allow", "127.0.0.1", "--allow", "10.0.0.0/8", "--port", "8080", "http://127.0.0.1:8080/"},
		{"http://a/", "--deny", "::1/128", "--allow-unix", "-v"},
		{"--map", "10.0.0.1:80=127.0.0.1:8080", "--map", "10.0.0.2=/run/stub.sock", "http://10.0.0.1/"},
		{"--resolve", "a.test:80:127.0.0.1,::1", "--unix-socket", "/run/x.sock", "http://a.test/"},
		{"--keepalive", "30s", "--tcp-user-timeout", "5s", "--mark", "7", "--bind-device", "lo", "--sndbuf", "65536", "--rcvbuf", "1", "http://x/"},
		{"--max-time", "-1s", "http://x/"},
		{"--mark", "-1", "http://x/"},
		{"--port", "0", "http://x/"},
		{"--port", "65536", "http://x/"},
		{"--allow", "not-a-cidr", "http://x/"},
		{"--map", "=", "http://x/"},
		{"--resolve", "nocolons", "http://x/"},
		{"http://one/", "http://two/"},
		{"--", "-s"},
		{"-h"},
		{"--help"},
		{"-unknown-flag"},
		{"--map"},
		{"-o"},
	} {
		f.Add(strings.Join(argv, "\x00"))
	}
	f.Fuzz(func(t *testing.T, joined string) {
		var argv []string
		if joined != "" {
			argv = strings.Split(joined, "\x00")
		}
		o, err := parseArgs(argv, io.Discard)
		if (o == nil) == (err == nil) {
			t.Fatalf("parseArgs(%q) = %v, %v: want exactly one of options and an error", argv, o, err)
		}
		if err != nil {
			var ue usageError
			if !errors.As(err, &ue) && !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("parseArgs(%q) = %v (%T): neither a usage error nor flag.ErrHelp", argv, err, err)
			}
			return
		}
		if (len(o.allow)+len(o.deny)+len(o.ports) > 0 || o.allowUnix) && !o.guard {
			t.Fatalf("parseArgs(%q): address flags without the guard", argv)
		}
		for _, p := range o.ports {
			if p == 0 {
				t.Fatalf("parseArgs(%q) accepted port 0", argv)
			}
		}
		if o.mark < 0 || o.sndbuf < 0 || o.rcvbuf < 0 || o.keepalive < 0 || o.userTO < 0 || o.maxTime < 0 {
			t.Fatalf("parseArgs(%q) accepted a negative value: %+v", argv, o)
		}
		for _, p := range slices.Concat(o.allow, o.deny) {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("parseArgs(%q) gave the prefix %v", argv, p)
			}
		}
	})
}
