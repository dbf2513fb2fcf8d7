package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nginx: bench/server.go's, with two servers on one worker: one closes every
// connection after its response (keepalive_timeout 0: TIME_WAIT stays on
// nginx's side, so fresh connections never run the client out of ports),
// one keeps connections open for good.

const fileName = "small.txt"

func staticBody(size int) []byte {
	b := bytes.Repeat([]byte("curlsock benchmark body\n"), size/24+1)
	return b[:size]
}

type nginxServer struct {
	version         string
	freshURL, kaURL string
	stop            func()
}

func nginxPath() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	return "/usr/sbin/nginx"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const nginxConf = `# curlsock engine benchmark: written and removed by go run ./bench/engine
worker_processes 1;
{{AFFINITY}}
worker_rlimit_nofile 8192;
daemon off;
master_process on;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	client_body_temp_path {{DIR}}/tmp/body;
	proxy_temp_path {{DIR}}/tmp/proxy;
	fastcgi_temp_path {{DIR}}/tmp/fastcgi;
	uwsgi_temp_path {{DIR}}/tmp/uwsgi;
	scgi_temp_path {{DIR}}/tmp/scgi;
	default_type text/plain;
	sendfile on;
	tcp_nodelay on;
	open_file_cache max=16;
	server {
		listen 127.0.0.1:{{PORT}} backlog=4096;
		keepalive_timeout 0;
		root {{DIR}}/www;
		location / {}
	}
	server {
		listen 127.0.0.1:{{KAPORT}} backlog=4096;
		keepalive_timeout 300s;
		keepalive_requests 100000000;
		root {{DIR}}/www;
		location / {}
	}
}
`

func startNginx(size, cpu int) (*nginxServer, error) {
	bin := nginxPath()
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("nginx not found (apt-get install nginx-light): %w", err)
	}
	dir, err := os.MkdirTemp("", "curlsock-bench-engine-nginx-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*nginxServer, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	// nginx's worker runs as nobody when started as root.
	for _, d := range []string{dir, filepath.Join(dir, "www"), filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return fail(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "www", fileName), staticBody(size), 0o644); err != nil {
		return fail(err)
	}
	version := ""
	if out, err := exec.Command(bin, "-v").CombinedOutput(); err == nil {
		version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version:"))
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err1 := freePort()
		kaPort, err2 := freePort()
		if err := errors.Join(err1, err2); err != nil {
			return fail(err)
		}
		affinity := ""
		if cpu >= 0 {
			affinity = "worker_cpu_affinity 1" + strings.Repeat("0", cpu) + ";"
		}
		conf := strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", strconv.Itoa(port), "{{KAPORT}}", strconv.Itoa(kaPort),
			"{{AFFINITY}}", affinity).Replace(nginxConf)
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return fail(err)
		}
		logf, err := os.Create(filepath.Join(dir, "nginx.out"))
		if err != nil {
			return fail(err)
		}
		cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		ch, err := startChild(cmd, syscall.SIGQUIT)
		logf.Close()
		if err != nil {
			return fail(err)
		}
		fresh := fmt.Sprintf("http://127.0.0.1:%d/%s", port, fileName)
		ka := fmt.Sprintf("http://127.0.0.1:%d/%s", kaPort, fileName)
		if err := errors.Join(waitReady(fresh, size), waitReady(ka, size)); err != nil {
			ch.stop()
			out, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
			elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			lastErr = fmt.Errorf("nginx on ports %d, %d: %v\n%s%s", port, kaPort, err, out, elog)
			continue
		}
		return &nginxServer{version: version, freshURL: fresh, kaURL: ka, stop: func() { ch.stop(); os.RemoveAll(dir) }}, nil
	}
	return fail(lastErr)
}

// waitReady polls url until it serves a body of size bytes.
func waitReady(url string, size int) error {
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		n, err := rawGet(url)
		if err == nil && n != size {
			err = fmt.Errorf("body of %d bytes, want %d", n, size)
		}
		if err == nil {
			return nil
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 10 s: %v", url, lastErr)
}

// rawGet fetches an http://127.0.0.1:port/path URL with Connection: close
// and returns the body's length (everything after the header).
func rawGet(url string) (int, error) {
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		return 0, fmt.Errorf("not an http URL: %s", url)
	}
	host, path, _ := strings.Cut(rest, "/")
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	b, err := io.ReadAll(c)
	if err != nil {
		return 0, err
	}
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
		return 0, fmt.Errorf("bad response %q", b[:min(len(b), 64)])
	}
	return len(body), nil
}

// child is a process started by startChild.
type child struct {
	cmd  *exec.Cmd
	stop func()
}

// startChild starts cmd from a goroutine locked to its own OS thread, which
// lives as long as the child: Pdeathsig is tied to the thread that forked,
// and stops the child if this program dies first. stop sends sig, waits up
// to 5 s, then kills the child's process group.
func startChild(cmd *exec.Cmd, sig syscall.Signal) (*child, error) {
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	started := make(chan error, 1)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(done)
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-quit:
		case <-exited:
			return
		}
		cmd.Process.Signal(sig)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	var once sync.Once
	return &child{cmd: cmd, stop: func() { once.Do(func() { close(quit) }); <-done }}, nil
}

// goServer is this program run again as a raw HTTP/1.1 server
// (-internal-role server): listeners whose requests are held for -hold
// before a short answer (path /hold; /fast answers at once), one that
// streams large bodies (/stream/N: N bytes), and, with -stall, one that
// reads each request, reports it on stdout ("R") and never answers. It runs
// in its own process so that its sockets and CPU are not the client's.
type goServer struct {
	ch        *child
	holdURLs  []string // one per listener, path /hold
	fastURLs  []string
	streamURL string // + byte count
	stallURL  string
	stdin     io.WriteCloser
	requests  chan struct{} // one per stalled request read
	stats     chan string
}

func startGoServer(listeners int, hold time.Duration, stall bool) (*goServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-internal-role", "server", "-listeners", strconv.Itoa(listeners), "-hold", hold.String()}
	if stall {
		args = append(args, "-stall")
	}
	cmd := exec.Command(exe, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	ch, err := startChild(cmd, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	s := &goServer{ch: ch, stdin: stdin, requests: make(chan struct{}, 1024), stats: make(chan string, 1)}
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for i := 0; sc.Scan(); i++ {
			line := sc.Text()
			switch {
			case i == 0:
				first <- line
			case line == "R":
				s.requests <- struct{}{}
			case strings.HasPrefix(line, "STATS"):
				s.stats <- line
			}
		}
		close(first)
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(10 * time.Second):
	}
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "PORTS" {
		ch.stop()
		return nil, fmt.Errorf("the Go server did not start (%q)", line)
	}
	for _, p := range strings.Split(f[1], ",") {
		s.holdURLs = append(s.holdURLs, "http://127.0.0.1:"+p+"/hold")
		s.fastURLs = append(s.fastURLs, "http://127.0.0.1:"+p+"/fast")
	}
	s.streamURL = "http://127.0.0.1:" + f[2] + "/stream/"
	if len(f) > 3 {
		s.stallURL = "http://127.0.0.1:" + f[3] + "/stall"
	}
	if _, err := rawGet(s.fastURLs[0]); err != nil {
		ch.stop()
		return nil, fmt.Errorf("the Go server: %w", err)
	}
	return s, nil
}

// serverStats asks the server for the most requests it held at once and how
// many it answered since the last call.
func (s *goServer) serverStats() (heldMax, served int) {
	fmt.Fprintln(s.stdin, "stats")
	select {
	case line := <-s.stats:
		fmt.Sscanf(line, "STATS held_max=%d served=%d", &heldMax, &served)
	case <-time.After(5 * time.Second):
	}
	return
}

func (s *goServer) stop() {
	s.stdin.Close()
	s.ch.stop()
}

// serveRaw is the child side of startGoServer.
func serveRaw(listeners int, hold time.Duration, stall bool) {
	raiseNofile()
	var held, heldMax, served atomic.Int64
	var barrier holdBarrier
	barrier.reset()
	var out sync.Mutex
	say := func(s string) {
		out.Lock()
		os.Stdout.WriteString(s + "\n")
		out.Unlock()
	}
	listen := func() net.Listener {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return l
	}
	port := func(l net.Listener) string { return strconv.Itoa(l.Addr().(*net.TCPAddr).Port) }
	serve := func(l net.Listener, handle func(net.Conn)) {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					fmt.Fprintln(os.Stderr, "server: accept:", err)
					return
				}
				go handle(c)
			}
		}()
	}
	const short = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
	var ports []string
	for range listeners {
		l := listen()
		ports = append(ports, port(l))
		serve(l, func(c net.Conn) {
			defer c.Close()
			path, err := readRequest(bufio.NewReader(c))
			if err != nil {
				return
			}
			// /hold, or /hold/N: held for the hold time, and with N until
			// N requests are held at once (at most 60 s more): every
			// variant is measured with all its transfers in flight.
			if rest, ok := strings.CutPrefix(path, "/hold"); ok {
				want, _ := strconv.ParseInt(strings.TrimPrefix(rest, "/"), 10, 64)
				n := held.Add(1)
				for {
					m := heldMax.Load()
					if n <= m || heldMax.CompareAndSwap(m, n) {
						break
					}
				}
				all := barrier.reached(n, want)
				time.Sleep(hold)
				if want > 0 {
					select {
					case <-all:
					case <-time.After(60 * time.Second):
					}
				}
				held.Add(-1)
			}
			if _, err := io.WriteString(c, short); err == nil {
				served.Add(1)
			}
		})
	}
	// /stream/N: N bytes, keep-alive.
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	ls := listen()
	serve(ls, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			path, err := readRequest(br)
			if err != nil {
				return
			}
			// /stream/N, or /stream/N/CHUNK/GAP: CHUNK bytes at a time, GAP
			// µs between them.
			f := strings.Split(strings.TrimPrefix(path, "/stream/"), "/")
			n, _ := strconv.ParseInt(f[0], 10, 64)
			size, gap := len(chunk), time.Duration(0)
			if len(f) == 3 {
				size, _ = strconv.Atoi(f[1])
				us, _ := strconv.Atoi(f[2])
				gap = time.Duration(us) * time.Microsecond
				size = max(1, min(size, len(chunk)))
			}
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", n); err != nil {
				return
			}
			for n > 0 {
				w, err := c.Write(chunk[:min(int64(size), n)])
				if err != nil {
					return
				}
				n -= int64(w)
				if gap > 0 {
					time.Sleep(gap)
				}
			}
		}
	})
	line := "PORTS " + strings.Join(ports, ",") + " " + port(ls)
	if stall {
		l := listen()
		line += " " + port(l)
		serve(l, func(c net.Conn) {
			defer c.Close()
			br := bufio.NewReader(c)
			if _, err := readRequest(br); err != nil {
				return
			}
			say("R")
			io.Copy(io.Discard, br) // until the client closes
		})
	}
	say(line)
	// Commands on stdin; EOF ends the server.
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			say(fmt.Sprintf("STATS held_max=%d served=%d", heldMax.Swap(held.Load()), served.Swap(0)))
			barrier.reset()
		}
	}
	os.Exit(0)
}

// holdBarrier is closed once as many requests as asked are held at once.
type holdBarrier struct {
	mu   sync.Mutex
	ch   chan struct{}
	done bool
}

func (b *holdBarrier) reset() {
	b.mu.Lock()
	b.ch, b.done = make(chan struct{}), false
	b.mu.Unlock()
}

// reached notes that n requests are held, of want, and returns the channel
// closed when want were.
func (b *holdBarrier) reached(n, want int64) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if want > 0 && n >= want && !b.done {
		close(b.ch)
		b.done = true
	}
	return b.ch
}

// readRequest reads one request's head and returns its path.
func readRequest(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return "", fmt.Errorf("bad request line %q", line)
	}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if h == "\r\n" || h == "\n" {
			return f[1], nil
		}
	}
}

// raiseNofile raises this process's soft RLIMIT_NOFILE to its hard limit.
func raiseNofile() (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	r.Cur = r.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}
