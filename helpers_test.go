//go:build linux

package curl

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// TestMain checks, after the whole suite, that no test left a registration
// alive or a file descriptor open.
func TestMain(m *testing.M) {
	// The runtime's network poller opens its fds on first use: not a leak.
	if ln, err := net.Listen("tcp4", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	before := openFDs()
	code := m.Run()
	closeDefaultEngine()
	if code == 0 {
		runtime.GC()
		if got := Registrations(); got != (RegistrationStats{}) {
			fmt.Fprintf(os.Stderr, "registrations left after the suite: %+v\n", got)
			code = 1
		}
		if d := fdDiff(before); d != "" {
			fmt.Fprintf(os.Stderr, "fds left open after the suite: %s\n", d)
			code = 1
		}
	}
	os.Exit(code)
}

// closeDefaultEngine closes curl.Do's engine, which the package never
// closes, so that its descriptors do not count as leaks; the next Do makes
// a new one.
func closeDefaultEngine() {
	defaultEngine.Lock()
	if defaultEngine.e != nil {
		defaultEngine.e.Close()
		defaultEngine.e = nil
	}
	defaultEngine.Unlock()
}

// testServer is an HTTP server on loopback (IPv4, IPv6) or a unix socket that
// records every connection it accepts.
type testServer struct {
	*httptest.Server
	Addr string // host:port, or the socket path

	mu    sync.Mutex
	conns []string // remote address of each accepted connection
	hits  int
}

func newServer(t *testing.T, network string) *testServer {
	t.Helper()
	return newServerHandler(t, network, nil)
}

// newServerHandler is newServer with h answering requests (nil: a greeting
// naming the network and path).
func newServerHandler(t *testing.T, network string, h http.Handler) *testServer {
	t.Helper()
	s := &testServer{}
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		s.mu.Unlock()
		if h != nil {
			h.ServeHTTP(w, r)
			return
		}
		fmt.Fprintf(w, "hello %s %s", network, r.URL.Path)
	}))
	// NewUnstartedServer listened already; only our own listener is wanted.
	hs.Listener.Close()
	var err error
	switch network {
	case "tcp4":
		hs.Listener, err = net.Listen("tcp4", "127.0.0.1:0")
	case "tcp6":
		hs.Listener, err = net.Listen("tcp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
	case "unix":
		path := filepath.Join(shortTempDir(t), "s.sock")
		hs.Listener, err = net.Listen("unix", path)
	case "unix-abstract":
		// Addr is "@name"; CURLOPT_ABSTRACT_UNIX_SOCKET takes name.
		hs.Listener, err = net.Listen("unix", fmt.Sprintf("@curlsock-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-")))
	case "tls":
		hs.Listener, err = net.Listen("tcp4", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = hs.Listener.Addr().String()
	hs.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.mu.Lock()
			s.conns = append(s.conns, c.RemoteAddr().String())
			s.mu.Unlock()
		}
	}
	if network == "tls" {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	s.Server = hs
	t.Cleanup(hs.Close)
	return s
}

// shortTempDir returns a directory whose paths fit in sun_path.
func shortTempDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "cs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func (s *testServer) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *testServer) Hits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// url returns the server's http URL for path.
func (s *testServer) url(path string) string {
	return s.URL + path
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// newEasy returns a handle cleaned up at the end of the test, with a body
// buffer and a timeout so that no test can hang.
func newEasy(t *testing.T) (*CURL, *bytes.Buffer) {
	t.Helper()
	e := EasyInit()
	if e == nil {
		t.Fatal("EasyInit returned nil")
	}
	t.Cleanup(e.Cleanup)
	body := &bytes.Buffer{}
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		body.Write(b)
		return true
	}))
	must(t, e.Setopt(OPT_TIMEOUT_MS, 10000))
	must(t, e.Setopt(OPT_NOSIGNAL, 1))
	return e, body
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// event is one socket callback as a test saw it.
type event struct {
	Kind     string // "open", "sockopt", "close"
	FD       int
	Purpose  SockType
	Family   int
	Socktype int
	Protocol int
	Addr     string
	Data     any
}

// recorder installs all three callbacks, each recording what it got and
// doing what libcurl would have done.
type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) add(ev event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) Events() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

func (r *recorder) count(kind string) int {
	n := 0
	for _, ev := range r.Events() {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

func (r *recorder) open(data any, purpose SockType, addr *Sockaddr) (int, error) {
	fd, err := OpenSocket(addr)
	r.add(event{Kind: "open", FD: fd, Purpose: purpose, Family: addr.Family, Socktype: addr.Socktype,
		Protocol: addr.Protocol, Addr: addr.String(), Data: data})
	return fd, err
}

func (r *recorder) sockopt(data any, fd int, purpose SockType) (int, error) {
	r.add(event{Kind: "sockopt", FD: fd, Purpose: purpose, Data: data})
	return SOCKOPT_OK, nil
}

func (r *recorder) close(data any, fd int) error {
	r.add(event{Kind: "close", FD: fd, Data: data})
	return unix.Close(fd)
}

func (r *recorder) install(t *testing.T, e *CURL) {
	t.Helper()
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, r.open))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, r.sockopt))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, r.close))
}

// openFDs lists this process's open file descriptors.
func openFDs() map[int]string {
	ents, _ := os.ReadDir("/proc/self/fd")
	fds := map[int]string{}
	for _, e := range ents {
		var fd int
		fmt.Sscan(e.Name(), &fd)
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		fds[fd] = target
	}
	return fds
}

// fdDiff describes fds open now that were not in before, after giving
// servers a moment to finish closing.
func fdDiff(before map[int]string) string {
	var extra []string
	for range 100 {
		extra = extra[:0]
		for fd, target := range openFDs() {
			// "" is the directory fd openFDs itself read through.
			if _, ok := before[fd]; !ok && target != "" && !strings.HasPrefix(target, "/proc/") {
				extra = append(extra, fmt.Sprintf("%d→%s", fd, target))
			}
		}
		if len(extra) == 0 {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	sort.Strings(extra)
	return strings.Join(extra, " ")
}

// noLeaks fails the test if it leaves an fd open or a registration alive.
func noLeaks(t *testing.T) {
	t.Helper()
	before := openFDs()
	regs := Registrations()
	t.Cleanup(func() {
		if d := fdDiff(before); d != "" {
			t.Errorf("leaked fds: %s", d)
		}
		// Like fds, a registration may go a moment after the test (a
		// handle given back when its transfer ends).
		got := Registrations()
		for i := 0; got != regs && i < 100; i++ {
			time.Sleep(20 * time.Millisecond)
			got = Registrations()
		}
		if got != regs {
			t.Errorf("registrations: %+v, want %+v", got, regs)
		}
	})
}

// blackHole returns a loopback address ("tcp4": 127.0.0.1, "tcp6": [::1])
// whose connects neither succeed nor fail: a listener with a full accept
// queue, so the kernel drops new SYNs. port 0 picks one; "" if the family's
// loopback is missing or the port is taken.
func blackHole(t *testing.T, network string, port int) string {
	t.Helper()
	family, sa, host := unix.AF_INET, unix.Sockaddr(&unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}), "127.0.0.1"
	if network == "tcp6" {
		family, sa, host = unix.AF_INET6, &unix.SockaddrInet6{Port: port, Addr: netip.IPv6Loopback().As16()}, "::1"
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	if family == unix.AF_INET6 {
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1)
	}
	if unix.Bind(fd, sa) != nil || unix.Listen(fd, 0) != nil {
		unix.Close(fd)
		return ""
	}
	t.Cleanup(func() { unix.Close(fd) })
	bound, err := unix.Getsockname(fd)
	must(t, err)
	switch b := bound.(type) {
	case *unix.SockaddrInet4:
		port = b.Port
	case *unix.SockaddrInet6:
		port = b.Port
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	// Fill the queue (backlog 0 admits one) with connections nobody accepts.
	for range 2 {
		c, err := net.DialTimeout(network, addr, 100*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { c.Close() })
	}
	return addr
}

// capturedPanic runs f and returns the value it panicked with and whether it
// panicked at all (a nil value alone cannot tell under GODEBUG=panicnil=1).
func capturedPanic(f func()) (v any, panicked bool) {
	panicked = true
	defer func() { v = recover() }()
	f()
	panicked = false
	return nil, false
}

// loopbackGuard allows the test servers (loopback, any port) and nothing
// else the default guard denies.
func loopbackGuard(extra ...sock.GuardOption) *sock.Guard {
	return sock.NewGuard(append([]sock.GuardOption{sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), sock.WithAnyPort()}, extra...)...)
}
