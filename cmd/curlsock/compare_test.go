package main

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	curl "github.com/curlsock/curlsock"
)

// realCurl is the path of curl, the reference the CLI must match.
func realCurl(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("curl is not installed, and CI is set: %v", err)
		}
		t.Skipf("curl is not installed, so curlsock cannot be compared with it: %v", err)
	}
	return p
}

var libcurlVersion = regexp.MustCompile(`libcurl/\S+`)

// sameLibcurl tells whether curl and this CLI link the same libcurl. The
// detail texts are libcurl's and change between versions (7.88.1 "Couldn't
// connect to server", 8.x "Could not connect to server"), so they are only
// compared when the versions are equal; exit statuses and stdout always are.
func sameLibcurl(t *testing.T, curlPath string) bool {
	out, err := exec.Command(curlPath, "--version").Output()
	if err != nil {
		t.Fatalf("curl --version: %v", err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	theirs, ours := libcurlVersion.FindString(first), libcurlVersion.FindString(curl.Version())
	if theirs != ours {
		t.Logf("curl has %s, curlsock %s: comparing exit statuses and stdout, not libcurl's texts", theirs, ours)
	}
	return theirs == ours
}

// cleanEnv is the environment both programs run in: no proxy, no .curlrc,
// no CA bundle override, so that only the command line differs.
func cleanEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch lk := strings.ToLower(k); {
		case strings.HasSuffix(lk, "_proxy"), lk == "home", lk == "curl_home", lk == "xdg_config_home",
			lk == "curl_ca_bundle", lk == "ssl_cert_file", lk == "ssl_cert_dir", lk == "curl_ssl_backend":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "CURL_HOME="+home, "XDG_CONFIG_HOME="+home)
}

// outcome is how a program run ended.
type outcome struct {
	code           int
	stdout, stderr string
}

// execute runs argv; a hung run fails the test instead of the whole suite.
func execute(t *testing.T, env []string, stdin string, argv ...string) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return outcome{code, out.String(), errb.String()}
}

// compareHandler serves both programs the same answers.
func compareHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello\n")
	})
	mux.HandleFunc("/r/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n <= 0 {
			io.WriteString(w, "landed\n")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/r/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/toftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://127.0.0.1:1/", http.StatusFound)
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s\nContent-Type: %s\nAuthorization: %s\nX-Test: %q\nbody: %q\n",
			r.Method, r.URL, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.Header.Values("X-Test"), body)
	})
	mux.HandleFunc("/ua", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "User-Agent: %q\n", r.Header.Values("User-Agent"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for range 256 { // 16 MiB: far more than any pipe buffer
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	return mux // anything else: 404
}

// fullBacklog is a port whose SYNs are dropped: a listener with a backlog
// of 0 and its queue filled, so a connect hangs until its timeout, on
// loopback.
func fullBacklog(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	for range 8 {
		c, err := net.DialTimeout("tcp4", addr, 300*time.Millisecond)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("cannot fill a listen queue here: no connect timeout to test")
	return ""
}

// isolatedResolver says why a name lookup in a new network namespace could
// still reach the network, or "" when it cannot: with only a loopback that
// is down, glibc's DNS queries fail before a packet leaves, but nscd or an
// NSS module talking to a daemon outside the namespace would still resolve.
func isolatedResolver() string {
	if _, err := exec.LookPath("unshare"); err != nil {
		return "unshare is not installed"
	}
	if err := exec.Command("unshare", "-rn", "true").Run(); err != nil {
		return fmt.Sprintf("unshare -rn fails here (%v)", err)
	}
	if _, err := os.Stat("/var/run/nscd/socket"); err == nil {
		return "nscd runs: it would resolve outside the namespace"
	}
	b, err := os.ReadFile("/etc/nsswitch.conf")
	if err != nil {
		return "no /etc/nsswitch.conf"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "hosts:" {
			for _, src := range f[1:] {
				if src != "files" && src != "dns" && src != "myhostname" {
					return "nsswitch.conf has hosts source " + src
				}
			}
			return ""
		}
	}
	return "nsswitch.conf has no hosts line"
}

var (
	dateHeader = regexp.MustCompile(`(?m)^(?i:date): [^\r\n]*`)
	elapsed    = regexp.MustCompile(`after \d+ (ms|milliseconds)`)
	digits     = regexp.MustCompile(`[0-9]+`)
)

// messages are the lines a program prints about the transfer ("PROG: (7)
// ...", "Warning: ..."), its name replaced and elapsed times masked; the
// progress meter and the pointer to --help are left out.
func messages(stderr, prog string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(stderr, func(r rune) bool { return r == '\n' || r == '\r' }) {
		switch {
		case strings.HasPrefix(l, prog+": try '"):
		case strings.HasPrefix(l, prog+": "):
			out = append(out, elapsed.ReplaceAllString("PROG: "+strings.TrimPrefix(l, prog+": "), "after N $1"))
		case strings.HasPrefix(l, "Warning: "):
			// curl wraps a long warning over several "Warning: " lines.
			if n := len(out); n > 0 && strings.HasPrefix(out[n-1], "Warning: ") && strings.HasSuffix(out[n-1], " ") {
				out[n-1] += strings.TrimPrefix(l, "Warning: ")
				continue
			}
			out = append(out, l)
		}
	}
	return out
}

// TestSameAsCurl runs curl and curlsock with the same arguments against the
// same loopback servers and compares exit status, stdout and the messages.
func TestSameAsCurl(t *testing.T) {
	curlPath := realCurl(t)
	sameTexts := sameLibcurl(t, curlPath)
	dir := t.TempDir()
	env := cleanEnv(dir)

	plain := httptest.NewServer(compareHandler())
	t.Cleanup(plain.Close)
	_, port, _ := net.SplitHostPort(plain.Listener.Addr().String())
	tls := httptest.NewUnstartedServer(compareHandler())
	tls.EnableHTTP2 = true
	tls.Config.ErrorLog = log.New(io.Discard, "", 0) // "no CA" aborts handshakes on purpose
	tls.StartTLS()
	t.Cleanup(tls.Close)
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tls.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	// --capath wants OpenSSL's hashed names: only openssl computes them.
	capath, capathSkip := filepath.Join(dir, "capath"), ""
	if hash, err := exec.Command("openssl", "x509", "-hash", "-noout", "-in", ca).Output(); err != nil {
		capathSkip = fmt.Sprintf("openssl x509 -hash: %v", err)
	} else if err := os.MkdirAll(capath, 0o755); err != nil {
		t.Fatal(err)
	} else if err := os.Link(ca, filepath.Join(capath, strings.TrimSpace(string(hash))+".0")); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// curl's file2string: each line cut at its first CR or NUL, newlines gone.
	if err := os.WriteFile(data, []byte("a=1\r\nb=2\n\nc=3\rdropped\nd=\x004\n"+strings.Repeat("q", 300)+"\nlast"), 0o644); err != nil {
		t.Fatal(err)
	}
	wfile := filepath.Join(dir, "format")
	if err := os.WriteFile(wfile, []byte("code=%{http_code}\nnext\\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := unixServer(t)
	closed := "http://127.0.0.1:" + closedPort(t) + "/"
	resolveSkip := isolatedResolver()

	repl := strings.NewReplacer("{url}", plain.URL, "{https}", tls.URL, "{closed}", closed, "{port}", port,
		"{ca}", ca, "{capath}", capath, "{data}", data, "{wfile}", wfile, "{sock}", sock, "{dir}", dir)
	lazyFull := func() string { return "http://" + fullBacklog(t) + "/" }

	for _, tc := range []struct {
		name string
		args []string
		// curlArgs, when set, are curl's equivalent of a curlsock-only flag.
		curlArgs []string
		want     int
		stdin    string
		outFile  bool           // {out}: a file each, compared instead of stdout
		mask     *regexp.Regexp // stdout parts that differ between runs
		// textRE replaces the message comparison where curl's own text
		// varies or is laid out differently: both stderrs must match it.
		textRE *regexp.Regexp
		skip   string
		netns  bool // run in a network namespace of its own
		full   bool // {full}: a port whose connects hang
	}{
		{name: "plain", args: []string{"{url}/hello"}},
		{name: "url-first", args: []string{"{url}/hello", "-sS"}},
		{name: "--url", args: []string{"--url", "{url}/hello", "-s"}},
		{name: "--", args: []string{"-s", "--", "{url}/hello"}},
		{name: "-o -", args: []string{"-s", "-o", "-", "{url}/hello"}},
		{name: "-o-", args: []string{"-so-", "{url}/hello"}},
		{name: "-o FILE", args: []string{"-o", "{out}", "{url}/hello"}, outFile: true},
		{name: "--output", args: []string{"--output", "{out}", "{url}/hello"}, outFile: true},
		{name: "-sSLo FILE", args: []string{"-sSLo", "{out}", "{url}/r/2"}, outFile: true},
		{name: "-sSLoFILE", args: []string{"-sSLo{out}", "{url}/r/2"}, outFile: true},
		{name: "-sL", args: []string{"-sL", "{url}/r/1"}},
		{name: "-s silences", args: []string{"-s", "{closed}"}, want: 7},
		{name: "--silent", args: []string{"--silent", "{closed}"}, want: 7},
		{name: "-sS shows errors", args: []string{"-sS", "{closed}"}, want: 7},
		{name: "--show-error", args: []string{"--silent", "--show-error", "{closed}"}, want: 7},
		{name: "--no-silent", args: []string{"-s", "--no-silent", "{closed}"}, want: 7},
		{name: "closed port", args: []string{"{closed}"}, want: 7},
		{name: "-L", args: []string{"-L", "{url}/r/3"}},
		{name: "--location", args: []string{"--location", "{url}/r/3"}},
		{name: "no -L", args: []string{"{url}/r/3"}},
		{name: "-L stops at 50", args: []string{"-sSL", "{url}/loop"}, want: 47},
		{name: "--max-redirs", args: []string{"-sSL", "--max-redirs", "3", "{url}/loop"}, want: 47},
		{name: "--max-redirs enough", args: []string{"-sSL", "--max-redirs", "3", "{url}/r/3"}},
		{name: "-m", args: []string{"-sS", "-m", "0.5", "{url}/stall"}, want: 28},
		{name: "--max-time", args: []string{"-sS", "--max-time", "0.3", "{url}/stall"}, want: 28},
		{name: "-m in time", args: []string{"-sS", "-m", "5", "{url}/hello"}},
		{name: "-m attached", args: []string{"-sSm0.3", "{url}/stall"}, want: 28},
		{name: "-m Go duration", args: []string{"-m", "500ms", "{url}/hello"}, want: 2},
		{name: "-m negative", args: []string{"-m", "-1", "{url}/hello"}, want: 2},
		{name: "--connect-timeout", args: []string{"-sS", "--connect-timeout", "0.5", "{full}"}, want: 28, full: true,
			// libcurl 7.88.1 says either, depending on which timer it checks first.
			textRE: regexp.MustCompile(`: \(28\) (Failed to connect to 127\.0\.0\.1 port \d+ after \d+ ms: Timeout was reached|Connection timeout after \d+ ms)\n`)},
		{name: "--cacert", args: []string{"-sS", "--cacert", "{ca}", "{https}/hello"}},
		{name: "no CA", args: []string{"-sS", "{https}/hello"}, want: 60},
		{name: "--capath", args: []string{"-sS", "--capath", "{capath}", "{https}/hello"}, skip: capathSkip},
		{name: "-k", args: []string{"-sSk", "{https}/hello"}},
		{name: "--insecure", args: []string{"-sS", "--insecure", "{https}/hello"}},
		{name: "https default version", args: []string{"-sS", "--cacert", "{ca}", "-w", " %{http_version}", "{https}/hello"}},
		{name: "--http1.1", args: []string{"-sS", "--cacert", "{ca}", "--http1.1", "-w", " %{http_version}", "{https}/hello"}},
		{name: "--http2", args: []string{"-sS", "--cacert", "{ca}", "--http2", "-w", " %{http_version}", "{https}/hello"}},
		{name: "--http2 over http", args: []string{"-sS", "--http2", "-w", " %{http_version}", "{url}/hello"}},
		{name: "-H", args: []string{"-sS", "-H", "X-Test: one", "--header", "X-Test: two", "{url}/echo"}},
		{name: "-d", args: []string{"-sS", "-d", "a=1", "--data", "b=2 3", "{url}/echo"}},
		{name: "-d empty", args: []string{"-sS", "-d", "", "{url}/echo"}},
		{name: "-d @FILE", args: []string{"-sS", "-d", "x=0", "-d", "@{data}", "{url}/echo"}},
		{name: "-d @-", args: []string{"-sS", "-d", "@-", "{url}/echo"}, stdin: "from=stdin\r\nmore\n"},
		{name: "-d @missing", args: []string{"-d", "@{dir}/missing", "-d", "x=1", "{url}/echo"}},
		{name: "-X", args: []string{"-sS", "-X", "PUT", "{url}/echo"}},
		{name: "-X with -d", args: []string{"-sS", "-X", "PATCH", "-d", "p=1", "{url}/echo"}},
		{name: "-I", args: []string{"-sS", "-I", "{url}/hello"}},
		{name: "--head", args: []string{"-sS", "--head", "{url}/hello"}},
		{name: "-i", args: []string{"-sS", "-i", "{url}/hello"}},
		{name: "-iL", args: []string{"-sSiL", "{url}/r/1"}},
		{name: "-i https h2", args: []string{"-sSi", "--cacert", "{ca}", "{https}/hello"}},
		{name: "-I and -d", args: []string{"-I", "-d", "a", "{url}/echo"}, want: 2},
		{name: "-I and -d, silent", args: []string{"-s", "-I", "-d", "a", "{url}/echo"}, want: 2},
		{name: "-I and -d, -sS", args: []string{"-sS", "-I", "-d", "a", "{url}/echo"}, want: 2},
		{name: "-A", args: []string{"-sS", "-A", "agent/1.0", "{url}/ua"}},
		{name: "--user-agent", args: []string{"-sS", "--user-agent", "", "{url}/ua"}},
		{name: "-u", args: []string{"-sS", "-u", "user:pass word", "{url}/echo"}},
		{name: "--user", args: []string{"-sS", "--user", "user:", "{url}/echo"}},
		{name: "-w common", args: []string{"-sSL", "-o", "/dev/null", "-w",
			`%{http_code} %{response_code} %{size_download} %{url_effective} %{content_type} %{num_redirects} %{remote_ip} %{remote_port} %{exitcode} [%{errormsg}] %{method} %{url} %{http_version} %{redirect_url}\n`,
			"{url}/r/2"}},
		{name: "-w after redirect stop", args: []string{"-s", "-w", `%{http_code} %{num_redirects} %{redirect_url} %{url_effective}\n`, "{url}/r/2"}},
		// Not remote_port: libcurl 8 has -1 where 7.88.1 has 0.
		{name: "-w failure", args: []string{"-s", "-w", `%{http_code} %{exitcode} %{size_download} %{url_effective}\n`, "{closed}"}, want: 7},
		{name: "-w errormsg", args: []string{"-sf", "-w", `%{http_code}:%{exitcode}:%{errormsg}\n`, "{url}/404"}, want: 22},
		{name: "-w escapes", args: []string{"-s", "-o", "/dev/null", "-w", `%%|%z|\t|\r|\q|\\|%{nosuch}|%{stderr}to stderr%{stdout}|%{x`, "{url}/hello"}},
		{name: "-w @FILE", args: []string{"-s", "-o", "/dev/null", "-w", "@{wfile}", "{url}/hello"}},
		{name: "-w times", args: []string{"-s", "-o", "/dev/null", "-w",
			`%{time_total} %{time_namelookup} %{time_connect} %{time_appconnect} %{time_pretransfer} %{time_starttransfer} %{time_redirect} %{speed_download} %{local_ip} %{local_port} %{size_header} %{size_request} %{num_connects}`,
			"{url}/hello"}, mask: digits},
		{name: "-f", args: []string{"-sS", "-f", "{url}/404"}, want: 22},
		{name: "--fail", args: []string{"--fail", "{url}/404"}, want: 22},
		{name: "no -f", args: []string{"-sS", "{url}/404"}},
		{name: "-f ok", args: []string{"-sSf", "{url}/hello"}},
		{name: "-v", args: []string{"-v", "{url}/hello"}},
		{name: "--resolve", args: []string{"-sS", "--resolve", "svc.test:{port}:127.0.0.1", "http://svc.test:{port}/hello"}},
		{name: "--unix-socket", args: []string{"-sS", "--unix-socket", "{sock}", "http://localhost/hello"}},
		{name: "--flag=value is unknown", args: []string{"--max-time=1", "{url}/hello"}, want: 2},
		{name: "unknown option", args: []string{"--nosuch", "{url}/hello"}, want: 2},
		{name: "unknown short", args: []string{"-sZ9", "{url}/hello"}, want: 2},
		{name: "missing parameter", args: []string{"{url}/hello", "-o"}, want: 2},
		{name: "missing parameter combined", args: []string{"{url}/hello", "-sSo"}, want: 2},
		{name: "--no- on a value flag", args: []string{"--no-max-time", "5", "{url}/hello"}, want: 2},
		{name: "-o empty", args: []string{"-o", "", "{url}/hello"}, want: 2,
			textRE: regexp.MustCompile(`option -o: is badly used here`)},
		{name: "no URL", args: []string{"-sS"}, want: 2},
		{name: "empty URL", args: []string{"-sS", ""}, want: 3},
		{name: "bad max-redirs", args: []string{"--max-redirs", "-2", "{url}/hello"}, want: 2},
		// The guard limits schemes to http and https as --proto does.
		{name: "--guard closes ftp", args: []string{"-sS", "--guard", "ftp://127.0.0.1:1/"},
			curlArgs: []string{"-sS", "--proto", "=http,https", "ftp://127.0.0.1:1/"}, want: 1},
		{name: "--guard closes a redirect to ftp", args: []string{"-sSL", "--allow", "127.0.0.1", "--port", "{port}", "{url}/toftp"},
			curlArgs: []string{"-sSL", "--proto-redir", "=http,https", "{url}/toftp"}, want: 1},
		{name: "--guard-ftp opens ftp", args: []string{"-sS", "--guard-ftp", "--allow", "127.0.0.1", "--port", "1", "ftp://127.0.0.1:1/"},
			curlArgs: []string{"-sS", "--proto", "=http,https,ftp", "ftp://127.0.0.1:1/"}, want: 7},
		{name: "resolve failure", args: []string{"-sS", "http://nosuch.invalid/"}, want: 6, netns: true, skip: resolveSkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			t.Parallel()
			full := ""
			if tc.full {
				full = lazyFull()
			}
			outPath := func(prog string) string {
				return filepath.Join(dir, strings.NewReplacer(" ", "_", "/", "_").Replace(tc.name)+"."+filepath.Base(prog))
			}
			argv := func(prog string, args []string) []string {
				out := []string{prog}
				if tc.netns {
					out = []string{"unshare", "-rn", prog}
				}
				for _, a := range args {
					a = repl.Replace(a)
					a = strings.ReplaceAll(a, "{full}", full)
					a = strings.ReplaceAll(a, "{out}", outPath(prog))
					out = append(out, a)
				}
				return out
			}
			cargs := tc.curlArgs
			if cargs == nil {
				cargs = tc.args
			}
			theirArgv, ourArgv := argv(curlPath, cargs), argv(bin, tc.args)
			theirs := execute(t, env, tc.stdin, theirArgv...)
			ours := execute(t, env, tc.stdin, ourArgv...)
			if theirs.code != tc.want || ours.code != tc.want {
				t.Fatalf("exit: curl %d, curlsock %d, want %d\ncurl stderr: %s\ncurlsock stderr: %s", theirs.code, ours.code, tc.want, theirs.stderr, ours.stderr)
			}
			if tc.outFile {
				theirs.stdout, ours.stdout = readOut(outPath(curlPath)), readOut(outPath(bin))
			}
			normal := func(s string) string {
				s = dateHeader.ReplaceAllString(s, "Date: X")
				if tc.mask != nil {
					s = tc.mask.ReplaceAllString(s, "N")
				}
				return s
			}
			if normal(theirs.stdout) != normal(ours.stdout) {
				t.Errorf("stdout differs:\ncurl:     %q\ncurlsock: %q", theirs.stdout, ours.stdout)
			}
			if !sameTexts {
				return
			}
			if tc.textRE != nil {
				for _, r := range []outcome{theirs, ours} {
					if !tc.textRE.MatchString(r.stderr) {
						t.Errorf("stderr %q does not match %v", r.stderr, tc.textRE)
					}
				}
				return
			}
			want, got := messages(theirs.stderr, "curl"), messages(ours.stderr, "curlsock")
			// curlsock may add its own detail in parentheses after curl's text.
			same := len(want) == len(got)
			for i := 0; same && i < len(want); i++ {
				same = got[i] == want[i] || strings.HasPrefix(got[i], want[i]+" (")
			}
			if !same {
				t.Errorf("messages differ:\ncurl:     %q\ncurlsock: %q", want, got)
			}
		})
	}
}

// readOut is the content of an -o file, "(none)" if there is none.
func readOut(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(none)"
	}
	return string(b)
}

// A closed stdout pipe is a write error, exit 23, for curl and curlsock
// alike: not death by SIGPIPE.
func TestClosedStdoutPipe(t *testing.T) {
	curlPath := realCurl(t)
	sameTexts := sameLibcurl(t, curlPath)
	srv := httptest.NewServer(compareHandler())
	t.Cleanup(srv.Close)
	env := cleanEnv(t.TempDir())
	for _, prog := range []string{curlPath, bin} {
		t.Run(filepath.Base(prog), func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			r.Close()
			defer w.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, prog, "-sS", srv.URL+"/big")
			cmd.Env = env
			cmd.Stdout = w
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err = cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("exit: %v, want status 23", err)
			}
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("killed by %v, want exit status 23", ws.Signal())
			}
			if ee.ExitCode() != 23 {
				t.Fatalf("exit status %d, want 23; stderr: %s", ee.ExitCode(), errb.String())
			}
			want := ": (23) Failure writing output to destination"
			if sameTexts && !strings.Contains(errb.String(), want) {
				t.Errorf("stderr %q lacks %q", errb.String(), want)
			}
		})
	}
}
