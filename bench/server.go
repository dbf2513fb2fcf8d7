package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// server is the local HTTP server the transfers go to: nginx with a config of
// our own in a temporary directory, or, without nginx, a Go net/http server
// in a child process (never in the benchmark's own process, whose CPU time
// and allocations are measured). Both close every connection after its
// response (nginx keepalive_timeout 0, Go SetKeepAlivesEnabled(false)), so
// that the TIME_WAIT state stays on the server's side and sequential fresh
// connections never run the client out of ephemeral ports.
type server struct {
	version string
	url     string
	stop    func()
}

const fileName = "small.txt"

func staticBody(size int) []byte {
	b := bytes.Repeat([]byte("curlsock benchmark body\n"), size/24+1)
	return b[:size]
}

func startServer(kind string, size, cpu int) (*server, error) {
	switch kind {
	case "nginx":
		return startNginx(size, cpu)
	case "go":
		return startGoServer(size, cpu)
	case "auto", "":
		if _, err := exec.LookPath(nginxPath()); err == nil {
			s, err := startNginx(size, cpu)
			if err == nil {
				return s, nil
			}
			fmt.Fprintf(os.Stderr, "bench: nginx failed (%v); falling back to the Go server\n", err)
		} else {
			fmt.Fprintln(os.Stderr, "bench: nginx not found (apt-get install nginx-light); using a Go net/http server")
		}
		return startGoServer(size, cpu)
	}
	return nil, fmt.Errorf("unknown -server %q (auto, nginx or go)", kind)
}

func nginxPath() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	return "/usr/sbin/nginx" // root's PATH has it, others' may not
}

func freePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

const nginxConf = `# curlsock benchmark: written and removed by go run ./bench
worker_processes 1;
{{AFFINITY}}
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
	keepalive_timeout 0;
	server {
		listen 127.0.0.1:{{PORT}} backlog=4096;
		root {{DIR}}/www;
		location / {}
	}
}
`

func startNginx(size, cpu int) (*server, error) {
	bin := nginxPath()
	dir, err := os.MkdirTemp("", "curlsock-bench-nginx-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	// nginx's worker runs as nobody when started as root: it must be able
	// to read the document root.
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
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		affinity := ""
		if cpu >= 0 {
			affinity = "worker_cpu_affinity 1" + strings.Repeat("0", cpu) + ";"
		}
		conf := strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", strconv.Itoa(port), "{{AFFINITY}}", affinity).Replace(nginxConf)
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
			return fail(err)
		}
		logf, err := os.Create(filepath.Join(dir, "nginx.out"))
		if err != nil {
			return fail(err)
		}
		stop, err := startChild(exec.Command(bin, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "error.log")), logf, nil, syscall.SIGQUIT)
		logf.Close()
		if err != nil {
			return fail(err)
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/%s", port, fileName)
		if err := waitReady(url, size); err != nil {
			stop()
			out, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
			elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			lastErr = fmt.Errorf("nginx on port %d: %v\n%s%s", port, err, out, elog)
			continue
		}
		return &server{version: version, url: url,
			stop: func() { stop(); os.RemoveAll(dir) }}, nil
	}
	return fail(lastErr)
}

// startGoServer runs this program again as the server (-internal-serve).
func startGoServer(size, cpu int) (*server, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-internal-serve", strconv.Itoa(size), "-cpu", strconv.Itoa(cpu))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var port int
	ready := make(chan error, 1)
	stop, err := startChild(cmd, nil, func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil {
			_, err = fmt.Sscanf(line, "LISTENING %d", &port)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
	}, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("the Go server did not start in 10 s")
	}
	if err != nil {
		stop()
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/%s", port, fileName)
	if err := waitReady(url, size); err != nil {
		stop()
		return nil, err
	}
	return &server{version: "Go net/http (" + runtime.Version() + ", child process)", url: url, stop: stop}, nil
}

// serveGo is the child side of startGoServer.
func serveGo(size, cpu int) {
	if cpu >= 0 {
		if err := pinProcess(cpu); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	body := staticBody(size)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTENING %d\n", l.Addr().(*net.TCPAddr).Port)
	mux := http.NewServeMux()
	mux.HandleFunc("/"+fileName, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.SetKeepAlivesEnabled(false)
	// startChild's Pdeathsig stops this process if the parent dies.
	srv.Serve(l)
}

// startChild starts cmd from a goroutine locked to its own OS thread, which
// lives as long as the child: Pdeathsig is tied to the thread that forked,
// and it stops the child if this program dies without stopping it. SIGTERM,
// not SIGKILL: nginx's master must live long enough to stop its worker,
// which would otherwise keep serving as an orphan. stop sends sig, waits up
// to 5 s, then kills the child's process group.
func startChild(cmd *exec.Cmd, out io.Writer, afterStart func(), sig syscall.Signal) (stop func(), err error) {
	if out != nil {
		cmd.Stdout, cmd.Stderr = out, out
	} else {
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
		if afterStart != nil {
			go afterStart()
		}
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
	var once bool
	return func() {
		if !once {
			once = true
			close(quit)
		}
		<-done
	}, nil
}

// waitReady polls url until it serves the expected body.
func waitReady(url string, size int) error {
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case rerr != nil:
				err = rerr
			case resp.StatusCode != 200:
				err = fmt.Errorf("status %s", resp.Status)
			case len(b) != size:
				err = fmt.Errorf("body of %d bytes, want %d", len(b), size)
			default:
				return nil
			}
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after 10 s: %v", lastErr)
}

// pinProcess binds every thread of this process (the Go fallback server) to
// one CPU; threads created later inherit it.
func pinProcess(cpu int) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := pin(tid, cpu); err != nil && !errors.Is(err, unix.ESRCH) {
			return err
		}
	}
	return nil
}
