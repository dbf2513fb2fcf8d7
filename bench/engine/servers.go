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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/curlsock/curlsock/internal/benchkit"
)

// nginx: one worker, two servers: one closes every connection after its
// response (keepalive_timeout 0: TIME_WAIT stays on nginx's side, so fresh
// connections never run the client out of ports), one keeps connections
// open for good.
type nginxServer struct {
	version         string
	freshURL, kaURL string
	stop            func()
}

func startNginx(size, cpu int) (*nginxServer, error) {
	ngx, err := benchkit.StartNginx(benchkit.NginxConfig{
		Comment:      "curlsock engine benchmark: written and removed by go run ./bench/engine",
		TempPattern:  "curlsock-bench-engine-nginx-",
		RlimitNofile: true,
		DefaultType:  "text/plain",
		Servers:      benchkit.FreshServer + benchkit.KeepAliveServer(""),
		Size:         size,
		CPU:          cpu,
	})
	if err != nil {
		return nil, err
	}
	return &nginxServer{version: ngx.Version, freshURL: benchkit.LocalURL(ngx.Port, benchkit.SmallFile),
		kaURL: benchkit.LocalURL(ngx.KAPort, benchkit.SmallFile), stop: ngx.Stop}, nil
}

// goServer is this program run again as a raw HTTP/1.1 server
// (-internal-role server): listeners whose requests are held for -hold
// before a short answer (path /hold; /fast answers at once), one that
// streams large bodies (/stream/N: N bytes), and, with -stall, one that
// reads each request, reports it on stdout ("R") and never answers. It runs
// in its own process so that its sockets and CPU are not the client's.
type goServer struct {
	stopChild func()
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
	stopChild, err := benchkit.StartChild(cmd, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	s := &goServer{stopChild: stopChild, stdin: stdin, requests: make(chan struct{}, 1024), stats: make(chan string, 1)}
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
		stopChild()
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
	if _, err := benchkit.RawGet(s.fastURLs[0]); err != nil {
		stopChild()
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
	s.stopChild()
}

// serveRaw is the child side of startGoServer.
func serveRaw(listeners int, hold time.Duration, stall bool) {
	benchkit.RaiseNofile()
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
