package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/curlsock/curlsock/internal/benchkit"
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

func startServer(kind string, size, cpu int) (*server, error) {
	switch kind {
	case "nginx":
		return startNginx(size, cpu)
	case "go":
		return startGoServer(size, cpu)
	case "auto", "":
		if _, err := exec.LookPath(benchkit.NginxPath()); err == nil {
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

// nginxServers ends nginx's config: one server, keepalive_timeout 0.
const nginxServers = `	keepalive_timeout 0;
	server {
		listen 127.0.0.1:{{PORT}} backlog=4096;
		root {{DIR}}/www;
		location / {}
	}
`

func startNginx(size, cpu int) (*server, error) {
	ngx, err := benchkit.StartNginx(benchkit.NginxConfig{
		Comment:     "curlsock benchmark: written and removed by go run ./bench",
		TempPattern: "curlsock-bench-nginx-",
		DefaultType: "text/plain",
		Servers:     nginxServers,
		Size:        size,
		CPU:         cpu,
	})
	if err != nil {
		return nil, err
	}
	return &server{version: ngx.Version, url: benchkit.LocalURL(ngx.Port, benchkit.SmallFile), stop: ngx.Stop}, nil
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
	stop, err := benchkit.StartChild(cmd, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil {
			_, err = fmt.Sscanf(line, "LISTENING %d", &port)
		}
		ready <- err
		io.Copy(io.Discard, stdout)
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("the Go server did not start in 10 s")
	}
	if err != nil {
		stop()
		return nil, err
	}
	url := benchkit.LocalURL(port, benchkit.SmallFile)
	if err := benchkit.WaitReady(url, size); err != nil {
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
	body := benchkit.StaticBody(size)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTENING %d\n", l.Addr().(*net.TCPAddr).Port)
	mux := http.NewServeMux()
	mux.HandleFunc("/"+benchkit.SmallFile, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv.SetKeepAlivesEnabled(false)
	// StartChild's Pdeathsig stops this process if the parent dies.
	srv.Serve(l)
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
