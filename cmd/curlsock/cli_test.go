package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bin is the curlsock binary the tests run, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "curlsock-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "curlsock")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building curlsock: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// curlsock runs the built CLI with this process's environment.
func curlsock(t *testing.T, args ...string) outcome {
	t.Helper()
	return execute(t, os.Environ(), "", append([]string{bin}, args...)...)
}

func server(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/empty":
		case "/stall":
			select {
			case <-r.Context().Done():
			case <-time.After(30 * time.Second):
			}
		case "/private":
			http.Redirect(w, r, "http://10.1.2.3/secret", http.StatusFound)
		default:
			fmt.Fprintf(w, "hi %s", r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return srv, port
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func TestFetch(t *testing.T) {
	srv, port := server(t)
	out := filepath.Join(t.TempDir(), "body")
	for _, tc := range []struct {
		name      string
		args      []string
		code      int
		stdout    string
		stderrHas []string
		fileBody  string
	}{
		{name: "plain", args: []string{srv.URL + "/a"}, stdout: "hi /a"},
		{name: "flags-after-url", args: []string{srv.URL + "/b", "-s"}, stdout: "hi /b"},
		{name: "output-file", args: []string{"-o", out, srv.URL + "/file"}, fileBody: "hi /file"},
		{name: "resolve", args: []string{"--resolve", "svc.test:" + port + ":127.0.0.1", "http://svc.test:" + port + "/r"}, stdout: "hi /r"},
		{name: "refused", args: []string{"http://127.0.0.1:" + closedPort(t) + "/"}, code: 7},
		{name: "guard-denies-loopback", args: []string{"--guard", srv.URL + "/"}, code: 7,
			stderrHas: []string{"prohibited IP", "127.0.0.1"}},
		{name: "guard-allows", args: []string{"--allow", "127.0.0.1/32", "--port", port, srv.URL + "/ok"}, stdout: "hi /ok"},
		{name: "guard-port", args: []string{"--allow", "127.0.0.1", srv.URL + "/"}, code: 7,
			stderrHas: []string{"prohibited port"}},
		{name: "deny-wins", args: []string{"--allow", "127.0.0.0/8", "--deny", "127.0.0.1", "--port", port, srv.URL + "/"}, code: 7,
			stderrHas: []string{"prohibited IP"}},
		{name: "redirect-to-private", args: []string{"-L", "--allow", "127.0.0.1", "--port", port, "--port", "80", srv.URL + "/private"}, code: 7,
			stderrHas: []string{"10.1.2.3", "prohibited IP"}},
		{name: "map", args: []string{"--map", "127.0.0.1:" + closedPort(t) + "=127.0.0.1:" + port, "http://127.0.0.1:" + closedPort(t) + "/m"}, code: 7},
		{name: "silent", args: []string{"-s", "--guard", srv.URL + "/"}, code: 7},
		{name: "trace", args: []string{"--trace-sockets", srv.URL + "/t"}, stdout: "hi /t",
			stderrHas: []string{"open", "127.0.0.1:" + port, "close"}},
		// Exit 23 at once, not a transfer paused for ever.
		{name: "write-error", args: []string{"-o", "/dev/full", srv.URL + "/w"}, code: 23, stderrHas: []string{"(23) Failure writing output to destination", "no space left"}},
		{name: "write-error-open", args: []string{"-o", "/nonexistent/dir/f", srv.URL + "/w"}, code: 23, stderrHas: []string{"(23) Failure writing output to destination", "no such file"}},
		{name: "write-error-silent", args: []string{"-s", "-o", "/dev/full", srv.URL + "/w"}, code: 23},
		{name: "empty-body-makes-file", args: []string{"-o", out + "-empty", srv.URL + "/empty"}},
		{name: "max-time-fraction", args: []string{"-m", "0.2", srv.URL + "/stall"}, code: 28},
		{name: "max-time-equals-unknown", args: []string{"--max-time=0.2", srv.URL + "/stall"}, code: 2, stderrHas: []string{"--max-time=0.2: is unknown"}},
		// As curl: truncated to milliseconds, below one is no limit.
		{name: "max-time-below-ms", args: []string{"-m", "0.0004", srv.URL + "/fast"}, stdout: "hi /fast"},
		{name: "guard-any-port", args: []string{"--allow", "127.0.0.1", "--any-port", srv.URL + "/any"}, stdout: "hi /any"},
		{name: "keepalive-seconds", args: []string{"--keepalive", "10", "--tcp-user-timeout", "2.5", srv.URL + "/k"}, stdout: "hi /k"}, {name: "socket-options", args: []string{"--keepalive", "10s", "--tcp-user-timeout", "2s", "--sndbuf", "65536", "--rcvbuf", "65536", srv.URL + "/o"}, stdout: "hi /o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := curlsock(t, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			if tc.stdout != "" && r.stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", r.stdout, tc.stdout)
			}
			for _, s := range tc.stderrHas {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
				}
			}
			if tc.name == "silent" && r.stderr != "" {
				t.Errorf("-s printed %q", r.stderr)
			}
			if tc.name == "empty-body-makes-file" {
				if b, err := os.ReadFile(out + "-empty"); err != nil || len(b) != 0 {
					t.Errorf("file %q (%v), want an empty file", b, err)
				}
			}
			if tc.fileBody != "" {
				b, err := os.ReadFile(out)
				if err != nil || string(b) != tc.fileBody {
					t.Errorf("file %q (%v), want %q", b, err, tc.fileBody)
				}
			}
		})
	}
}

// A rewrite sends the transfer to another destination: a port nothing
// listens on to the server, and TCP to a unix socket.
func TestMap(t *testing.T) {
	_, port := server(t)
	dead := closedPort(t)
	r := curlsock(t, "--map", "127.0.0.1:"+dead+"=127.0.0.1:"+port, "http://127.0.0.1:"+dead+"/moved")
	if r.code != 0 || r.stdout != "hi /moved" {
		t.Fatalf("exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	sock := unixServer(t)
	r = curlsock(t, "--map", "127.0.0.1:"+dead+"="+sock, "http://127.0.0.1:"+dead+"/viaunix")
	if r.code != 0 || r.stdout != "unix /viaunix" {
		t.Fatalf("to unix: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
}

func unixServer(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "unix %s", r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return path
}

func TestUnixSocket(t *testing.T) {
	sock := unixServer(t)
	if r := curlsock(t, "--unix-socket", sock, "http://localhost/u"); r.code != 0 || r.stdout != "unix /u" {
		t.Fatalf("exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	r := curlsock(t, "--guard", "--unix-socket", sock, "http://localhost/u")
	if r.code != 7 || !strings.Contains(r.stderr, "prohibited address family") {
		t.Fatalf("guarded: exit %d, stderr %s", r.code, r.stderr)
	}
	if r := curlsock(t, "--allow-unix", "--unix-socket", sock, "http://localhost/u"); r.code != 0 {
		t.Fatalf("--allow-unix: exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--allow", "not-a-cidr", "http://x/"},
		{"--deny", "10.0.0.0/33", "http://x/"},
		{"--port", "0", "http://x/"},
		{"--port", "70000", "http://x/"},
		{"--map", "nonsense", "http://x/"},
		{"--resolve", "nohost", "http://x/"},
		{"--sndbuf", "-1", "http://x/"},
		{"--keepalive", "-1s", "http://x/"},
		{"--no-such-flag", "http://x/"},
		{"-resolve", "a:1:127.0.0.1", "http://x/"}, // single-dash long flags are curl's short ones
		{"--max-time", "500us", "http://x/"},       // seconds, as curl
		{"-m", "-1", "http://x/"},
		{"--connect-timeout", "1s", "http://x/"},
		{"--max-redirs", "-2", "http://x/"},
		{"--silent=yes", "http://x/"},
		{"--no-output", "f", "http://x/"},
		{"http://a/", "http://b/"},
		{"-", "http://x/"},
		{"-o"},
		{"--guard"},
		{"-s"},
	} {
		r := curlsock(t, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, "curlsock: ") || !strings.Contains(r.stderr, "curlsock --help") {
			t.Errorf("%q: exit %d, stderr %q; want %d with a message", args, r.code, r.stderr, exitUsage)
		}
	}
}

// -h prints the usage on stdout and exits 0, as curl's --help.
func TestHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help"} {
		r := curlsock(t, arg)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: curlsock") || !strings.Contains(r.stdout, "--guard-ftp") {
			t.Errorf("%s: exit %d, stdout %q", arg, r.code, r.stdout)
		}
	}
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want func(o *options) bool
	}{
		{[]string{"-sSLofile", "u"}, func(o *options) bool {
			return o.silent && o.showError && o.follow && o.output == "file" && o.url == "u"
		}},
		{[]string{"-sSLo", "-s", "u"}, func(o *options) bool { return o.output == "-s" && o.url == "u" }},
		{[]string{"u", "-m1.5", "--connect-timeout", ".25"}, func(o *options) bool { return o.maxTime == 1.5 && o.connectTimeout == 0.25 }},
		{[]string{"-m", " 1e1", "u"}, func(o *options) bool { return o.maxTime == 10 }},
		{[]string{"--", "-s"}, func(o *options) bool { return o.url == "-s" && !o.silent }},
		{[]string{"-s", "--no-silent", "u"}, func(o *options) bool { return !o.silent }},
		{[]string{"u"}, func(o *options) bool { return o.maxRedirs == 50 }},
		{[]string{"--max-redirs", "-1", "u"}, func(o *options) bool { return o.maxRedirs == -1 }},
		{[]string{"-d", "a", "-d@f", "u"}, func(o *options) bool { return o.hasData && len(o.data) == 2 && o.data[1] == "@f" }},
		{[]string{"--url", "u", "-XPUT", "-Hx: y", "-Aag", "-uus:pw", "-w%{http_code}"}, func(o *options) bool {
			return o.url == "u" && o.method == "PUT" && o.headers[0] == "x: y" && *o.userAgent == "ag" && *o.user == "us:pw" && o.writeOut == "%{http_code}"
		}},
		{[]string{"--guard-ftp", "u"}, func(o *options) bool { return o.guard && o.guardFTP }},
		{[]string{"-kIi", "--http2", "--cacert", "c", "--capath", "d", "u"}, func(o *options) bool {
			return o.insecure && o.head && o.include && o.httpVer == 3 && o.cacert == "c" && o.capath == "d"
		}},
		{[]string{"--keepalive", "30", "--tcp-user-timeout", "1500ms", "u"}, func(o *options) bool {
			return o.keepalive == 30*time.Second && o.userTO == 1500*time.Millisecond
		}},
	} {
		o, err := parseArgs(tc.args)
		if err != nil || !tc.want(o) {
			t.Errorf("parseArgs(%q) = %+v, %v", tc.args, o, err)
		}
	}
}

func TestStripLines(t *testing.T) {
	long := strings.Repeat("x", 300)
	for in, want := range map[string]string{
		"a\r\nb\n":                   "ab",
		"a\rdrop\nb":                 "ab",
		"a\x00drop\nb":               "ab",
		"\n\n":                       "",
		long + "\rdrop\n":            long,                    // the CR is in the second 255-byte chunk
		long[:260] + "\r" + long[:5]: long[:260],              // fgets reads 255 bytes at a time
		long[:200] + "\r" + long:     long[:200] + long[:246], // the 246 bytes after the first chunk
	} {
		if got := stripLines([]byte(in)); got != want {
			t.Errorf("stripLines(%q) = %q, want %q", in, got, want)
		}
	}
}

// An empty URL goes to libcurl, which rejects it as curl does.
func TestEmptyURL(t *testing.T) {
	for _, args := range [][]string{{""}, {"-o", "out", ""}} {
		if r := curlsock(t, args...); r.code != 3 || !strings.Contains(r.stderr, "curlsock: (3) ") {
			t.Errorf("%q: exit %d, stderr %q; want 3", args, r.code, r.stderr)
		}
	}
}

// A transfer that fails before any data leaves an existing output file alone,
// as curl does.
func TestOutputFileKeptOnFailure(t *testing.T) {
	out := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(out, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := curlsock(t, "-s", "-o", out, "http://127.0.0.1:"+closedPort(t)+"/")
	if r.code != 7 {
		t.Fatalf("exit %d, want 7; stderr: %s", r.code, r.stderr)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "precious" {
		t.Fatalf("output file now %q (%v), want it untouched", b, err)
	}
}

// Without a URL: the demo's three scenarios, each with the outcome it shows.
func TestDemo(t *testing.T) {
	r := curlsock(t)
	if r.code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, s := range []string{
		"== 1. A normal fetch", "hello from the demo server", "open",
		"== 2. A rewritten destination", "rewritten from 192.0.2.1:80",
		"== 3. A redirect to a private address", "10.0.0.1", "prohibited IP", "exit status 7",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("demo output lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "safety net") {
		t.Errorf("the guard let something through to the demo's safety net:\n%s", r.stdout)
	}
}
