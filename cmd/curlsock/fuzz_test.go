package main

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// parseArgs never panics on any argv, and returns exactly one of options and
// an error. Accepted options are consistent: the URL is one of the
// arguments, the address flags imply the guard, nothing negative or out of
// range gets through, and the same argv parses the same way again. The fuzz
// input is the argv joined by NUL bytes.
func FuzzParseArgs(f *testing.F) {
	for _, argv := range [][]string{
		{},
		{"http://127.0.0.1:8080/"},
		{"-s", "-L", "-o", "out.html", "http://example.test/"},
		{"-sSLo", "out.html", "http://example.test/"},
		{"-sSLoout.html", "http://example.test/"},
		{"http://example.test/", "-sLo-", "-m1.5", "--connect-timeout", ".5", "--max-redirs", "-1"},
		{"--max-time=2", "--output", "-", "--url", "http://x/"},
		{"-sSfiIk", "--http1.1", "--http2", "--cacert", "ca.pem", "--capath", "/etc/ssl/certs", "http://x/"},
		{"-H", "X-A: 1", "-HX-B: 2", "-d", "a=1", "-d@file", "--data", "@-", "-XPUT", "-Aagent", "-uuser:pw", "http://x/"},
		{"-w", "%{http_code} %{size_download}\\n", "-w@fmt", "http://x/"},
		{"-I", "-d", "a", "http://x/"},
		{"--no-silent", "--no-location", "--no-max-time", "1", "http://x/"},
		{"--guard", "--guard-ftp", "--allow", "127.0.0.1", "--allow", "10.0.0.0/8", "--port", "8080", "ftp://127.0.0.1:8080/"},
		{"http://a/", "--deny", "::1/128", "--allow-unix", "-v"},
		{"--map", "10.0.0.1:80=127.0.0.1:8080", "--map", "10.0.0.2=/run/stub.sock", "http://10.0.0.1/"},
		{"--resolve", "a.test:80:127.0.0.1,::1", "--unix-socket", "/run/x.sock", "http://a.test/"},
		{"--keepalive", "30s", "--tcp-user-timeout", "5", "--mark", "7", "--bind-device", "lo", "--sndbuf", "65536", "--rcvbuf", "1", "http://x/"},
		{"--max-time", "-1", "http://x/"},
		{"-m", "1e400", "http://x/"},
		{"-m", "500us", "http://x/"},
		{"--mark", "-1", "http://x/"},
		{"--port", "0", "http://x/"},
		{"--port", "65536", "http://x/"},
		{"--allow", "not-a-cidr", "http://x/"},
		{"--map", "=", "http://x/"},
		{"--resolve", "nocolons", "http://x/"},
		{"http://one/", "http://two/"},
		{"--", "-s"},
		{""},
		{"-"},
		{"-h"},
		{"--help"},
		{"-unknown-flag"},
		{"--map"},
		{"-o"},
		{"-o", ""},
	} {
		f.Add(strings.Join(argv, "\x00"))
	}
	f.Fuzz(func(t *testing.T, joined string) {
		var argv []string
		if joined != "" {
			argv = strings.Split(joined, "\x00")
		}
		o, err := parseArgs(argv)
		if (o == nil) == (err == nil) {
			t.Fatalf("parseArgs(%q) = %v, %v: want exactly one of options and an error", argv, o, err)
		}
		if err != nil {
			var ue usageError
			var uw usageWarning
			if !errors.As(err, &ue) && !errors.As(err, &uw) && !errors.Is(err, errHelp) {
				t.Fatalf("parseArgs(%q) = %v (%T): neither a usage error nor errHelp", argv, err, err)
			}
			return
		}
		if o.hasURL != (len(argv) > 0) || o.hasURL && !slices.Contains(argv, o.url) && !slices.ContainsFunc(argv, func(a string) bool { return strings.HasSuffix(a, o.url) }) {
			t.Fatalf("parseArgs(%q) gave the URL %q (hasURL %v)", argv, o.url, o.hasURL)
		}
		if (len(o.allow)+len(o.deny)+len(o.ports) > 0 || o.allowUnix || o.guardFTP) && !o.guard {
			t.Fatalf("parseArgs(%q): address flags without the guard", argv)
		}
		for _, p := range o.ports {
			if p == 0 {
				t.Fatalf("parseArgs(%q) accepted port 0", argv)
			}
		}
		if o.mark < 0 || o.sndbuf < 0 || o.rcvbuf < 0 || o.keepalive < 0 || o.userTO < 0 || o.maxRedirs < -1 {
			t.Fatalf("parseArgs(%q) accepted a negative value: %+v", argv, o)
		}
		for _, s := range []float64{o.maxTime, o.connectTimeout} {
			if !(s >= 0 && s <= math.MaxInt64/1000) {
				t.Fatalf("parseArgs(%q) accepted %v seconds", argv, s)
			}
		}
		if o.hasOutput && o.output == "" {
			t.Fatalf("parseArgs(%q) accepted an empty output name", argv)
		}
		if o.head && o.hasData {
			t.Fatalf("parseArgs(%q) accepted both -I and -d", argv)
		}
		for _, p := range slices.Concat(o.allow, o.deny) {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("parseArgs(%q) gave the prefix %v", argv, p)
			}
		}
		again, err := parseArgs(argv)
		if err != nil || again.url != o.url || again.output != o.output || again.maxTime != o.maxTime || len(again.data) != len(o.data) {
			t.Fatalf("parseArgs(%q) parsed differently the second time: %+v, %v", argv, again, err)
		}
	})
}
