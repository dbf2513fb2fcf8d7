package main

import (
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
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// nginx, as bench/engine starts it (servers.go there): one worker, two
// servers. The keep-alive one keeps connections open for good and serves
// the small file, the downloads (sparse files: nginx reads holes, nothing
// of them is held in anyone's memory but the page cache) and stub_status,
// whose accepted-connections counter tells how many connections a run
// opened, whatever the client. The other closes every connection after
// its response (keepalive_timeout 0: the TIME_WAIT stays on nginx's side,
// so fresh connections never run the client out of ports).

const (
	smallName = "small.txt"
	bigName   = "big.bin"
	slowName  = "slow.bin"
)

func staticBody(size int) []byte {
	b := bytes.Repeat([]byte("curlsock benchmark body\n"), size/24+1)
	return b[:size]
}

type nginxServer struct {
	version                 string
	freshURL, kaURL         string // the small file
	bigURL, slowURL         string
	statusURL               string
	dir                     string
	bigPath, slowPath       string
	stop                    func()
	bigSize, slowSize, size int64
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

const nginxConf = `# curlsock transport benchmark: written and removed by go run ./bench/transport
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
	default_type application/octet-stream;
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
		location = /nginx_status { stub_status; }
	}
}
`

// startNginx writes the small file of size bytes and the two sparse
// downloads, and starts nginx with its worker pinned to cpu (-1: not).
func startNginx(size int, bigSize, slowSize int64, cpu int) (*nginxServer, error) {
	bin := nginxPath()
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("nginx not found (apt-get install nginx-light): %w", err)
	}
	dir, err := os.MkdirTemp("", "curlsock-bench-transport-nginx-")
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
	if err := os.WriteFile(filepath.Join(dir, "www", smallName), staticBody(size), 0o644); err != nil {
		return fail(err)
	}
	sparse := func(name string, n int64) (string, error) {
		p := filepath.Join(dir, "www", name)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return "", err
		}
		if err := f.Truncate(n); err != nil {
			f.Close()
			return "", err
		}
		return p, f.Close()
	}
	bigPath, err := sparse(bigName, bigSize)
	if err != nil {
		return fail(err)
	}
	slowPath, err := sparse(slowName, slowSize)
	if err != nil {
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
		out, err := os.Create(filepath.Join(dir, "nginx.out"))
		if err != nil {
			return fail(err)
		}
		cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = out, out
		ch, err := startChild(cmd, syscall.SIGQUIT)
		out.Close()
		if err != nil {
			return fail(err)
		}
		ka := fmt.Sprintf("http://127.0.0.1:%d/", kaPort)
		s := &nginxServer{version: version, dir: dir, size: int64(size), bigSize: bigSize, slowSize: slowSize,
			freshURL: fmt.Sprintf("http://127.0.0.1:%d/%s", port, smallName), kaURL: ka + smallName,
			bigURL: ka + bigName, slowURL: ka + slowName, statusURL: ka + "nginx_status",
			bigPath: bigPath, slowPath: slowPath, stop: func() { ch.stop(); os.RemoveAll(dir) }}
		if err := errors.Join(waitReady(s.freshURL, size), waitReady(s.kaURL, size)); err != nil {
			ch.stop()
			nout, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
			elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			lastErr = fmt.Errorf("nginx on ports %d, %d: %v\n%s%s", port, kaPort, err, nout, elog)
			continue
		}
		if _, err := s.accepts(); err != nil {
			s.stop()
			return nil, fmt.Errorf("nginx's stub_status: %w", err)
		}
		return s, nil
	}
	return fail(lastErr)
}

// warmFiles reads the sparse files once, so that nginx serves them from
// the page cache from the first round on.
func (s *nginxServer) warmFiles() error {
	for _, p := range []string{s.bigPath, s.slowPath} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// accepts returns nginx's count of accepted connections (stub_status), the
// connection of this request included.
func (s *nginxServer) accepts() (int64, error) {
	body, err := rawGet(s.statusURL)
	if err != nil {
		return 0, err
	}
	// "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
	lines := strings.Split(string(body), "\n")
	if len(lines) < 3 {
		return 0, fmt.Errorf("unexpected stub_status %q", body)
	}
	f := strings.Fields(lines[2])
	if len(f) < 1 {
		return 0, fmt.Errorf("unexpected stub_status %q", body)
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// waitReady polls url until it serves a body of size bytes.
func waitReady(url string, size int) error {
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		b, err := rawGet(url)
		if err == nil && len(b) != size {
			err = fmt.Errorf("body of %d bytes, want %d", len(b), size)
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
// and returns the body (everything after the header), without either
// client under test.
func rawGet(url string) ([]byte, error) {
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		return nil, fmt.Errorf("not an http URL: %s", url)
	}
	host, path, _ := strings.Cut(rest, "/")
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
		return nil, fmt.Errorf("bad response %q", b[:min(len(b), 64)])
	}
	return body, nil
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

// raiseNofile raises this process's soft RLIMIT_NOFILE to its hard limit.
func raiseNofile() error {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	r.Cur = r.Max
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &r)
}
