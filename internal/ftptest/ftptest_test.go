package ftptest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// None of these tests is parallel: the leak checks look at every goroutine
// and file descriptor of the process.

const hello = "hello, world\n"

func newServer(t *testing.T) *Server {
	t.Helper()
	s := New(map[string][]byte{
		"hello.txt":    []byte(hello),
		"sub/deep.txt": []byte("deep\n"),
	})
	t.Cleanup(s.Close)
	return s
}

type client struct {
	t  *testing.T
	nc net.Conn
	tp *textproto.Conn
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A broken server must fail the test, not hang it.
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, nc: nc, tp: textproto.NewConn(nc)}
	t.Cleanup(func() { c.tp.Close() })
	c.expect(220)
	return c
}

func (c *client) expect(code int) string {
	c.t.Helper()
	_, msg, err := c.tp.ReadResponse(code)
	if err != nil {
		c.t.Fatalf("want %d: %v", code, err)
	}
	return msg
}

func (c *client) cmd(code int, format string, args ...any) string {
	c.t.Helper()
	if _, err := c.tp.Cmd(format, args...); err != nil {
		c.t.Fatal(err)
	}
	_, msg, err := c.tp.ReadResponse(code)
	if err != nil {
		c.t.Fatalf("%s: want %d: %v", fmt.Sprintf(format, args...), code, err)
	}
	return msg
}

func (c *client) login() {
	c.t.Helper()
	c.cmd(331, "USER anonymous")
	c.cmd(230, "PASS ftp@example.com")
}

func (c *client) host() string {
	h, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	return h
}

// A setup announces a data connection (PASV, EPSV, PORT or EPRT) and returns
// a function that yields the connected data connection once the transfer
// command has been sent.
type setup func(c *client) func() net.Conn

func epsv(c *client) func() net.Conn {
	c.t.Helper()
	msg := c.cmd(229, "EPSV")
	i, j := strings.Index(msg, "(|||"), strings.LastIndex(msg, "|)")
	if i < 0 || j < i {
		c.t.Fatalf("bad EPSV reply %q", msg)
	}
	return c.dialData(msg[i+4 : j])
}

func pasv(c *client) func() net.Conn {
	c.t.Helper()
	msg := c.cmd(227, "PASV")
	i, j := strings.Index(msg, "("), strings.Index(msg, ")")
	f := strings.Split(msg[i+1:j], ",")
	if len(f) != 6 {
		c.t.Fatalf("bad PASV reply %q", msg)
	}
	if got := strings.Join(f[:4], "."); got != c.host() {
		c.t.Errorf("PASV address %s, want %s", got, c.host())
	}
	p1, _ := strconv.Atoi(f[4])
	p2, _ := strconv.Atoi(f[5])
	return c.dialData(strconv.Itoa(p1<<8 | p2))
}

// dialData connects right away, as libcurl does, before the transfer command.
func (c *client) dialData(port string) func() net.Conn {
	c.t.Helper()
	dc, err := net.DialTimeout("tcp", net.JoinHostPort(c.host(), port), 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { dc.Close() })
	return func() net.Conn { return dc }
}

func (c *client) listenData() *net.TCPListener {
	c.t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.ParseIP(c.host())})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { ln.Close() })
	return ln
}

func acceptData(c *client, ln *net.TCPListener) func() net.Conn {
	return func() net.Conn {
		c.t.Helper()
		ln.SetDeadline(time.Now().Add(5 * time.Second))
		dc, err := ln.Accept()
		ln.Close()
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { dc.Close() })
		return dc
	}
}

func eprt(c *client) func() net.Conn {
	c.t.Helper()
	ln := c.listenData()
	a := ln.Addr().(*net.TCPAddr)
	proto := 2
	if a.IP.To4() != nil {
		proto = 1
	}
	c.cmd(200, "EPRT |%d|%s|%d|", proto, a.IP, a.Port)
	return acceptData(c, ln)
}

func port(c *client) func() net.Conn {
	c.t.Helper()
	ln := c.listenData()
	a := ln.Addr().(*net.TCPAddr)
	ip := a.IP.To4()
	c.cmd(200, "PORT %d,%d,%d,%d,%d,%d", ip[0], ip[1], ip[2], ip[3], a.Port>>8, a.Port&0xff)
	return acceptData(c, ln)
}

// transfer runs one data command and returns what arrived on the data
// connection (after sending upload, if not nil).
func (c *client) transfer(s setup, upload []byte, format string, args ...any) []byte {
	c.t.Helper()
	get := s(c)
	c.cmd(150, format, args...)
	dc := get()
	dc.SetDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	if upload != nil {
		if _, err := dc.Write(upload); err != nil {
			c.t.Fatal(err)
		}
		dc.Close()
	} else {
		var err error
		if got, err = io.ReadAll(dc); err != nil {
			c.t.Fatal(err)
		}
		dc.Close()
	}
	c.expect(226)
	return got
}

func (c *client) retr(s setup, name string) string {
	c.t.Helper()
	return string(c.transfer(s, nil, "RETR %s", name))
}

func countEvents(s *Server, kind, detail string) int {
	n := 0
	for _, e := range s.Log() {
		if e.Kind == kind && e.Detail == detail {
			n++
		}
	}
	return n
}

func hasEvent(s *Server, kind, detail string) bool { return countEvents(s, kind, detail) > 0 }

func TestPassiveRetrieve(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup setup
		cmd   string
	}{{"EPSV", epsv, "EPSV"}, {"PASV", pasv, "PASV"}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			c := dial(t, s)
			c.login()
			if got := c.cmd(257, "PWD"); !strings.HasPrefix(got, `"/"`) {
				t.Errorf("PWD = %q", got)
			}
			c.cmd(200, "TYPE I")
			if got := c.cmd(213, "SIZE hello.txt"); got != strconv.Itoa(len(hello)) {
				t.Errorf("SIZE = %q", got)
			}
			if got := c.retr(tc.setup, "hello.txt"); got != hello {
				t.Errorf("RETR = %q, want %q", got, hello)
			}
			c.cmd(221, "QUIT")

			if !hasEvent(s, "cmd", tc.cmd) || !hasEvent(s, "retr", "hello.txt") {
				t.Errorf("log lacks cmd %s or retr: %v", tc.cmd, s.Log())
			}
			var pasvAddr string
			for _, e := range s.Log() {
				if e.Kind == "pasv" {
					pasvAddr = e.Detail
				}
			}
			if h, p, err := net.SplitHostPort(pasvAddr); err != nil || h != "127.0.0.1" || p == "0" {
				t.Errorf("pasv event %q", pasvAddr)
			}
		})
	}
}

func TestActiveRetrieve(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup setup
	}{{"EPRT", eprt}, {"PORT", port}} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t)
			c := dial(t, s)
			c.login()
			c.cmd(200, "TYPE I")
			if got := c.retr(tc.setup, "sub/deep.txt"); got != "deep\n" {
				t.Errorf("RETR = %q", got)
			}
			var portAddr, dataAddr string
			for _, e := range s.Log() {
				switch e.Kind {
				case "port":
					portAddr = e.Detail
				case "data":
					dataAddr = e.Detail
				}
			}
			if _, p, err := net.SplitHostPort(portAddr); err != nil || p == "0" || portAddr != dataAddr {
				t.Errorf("port event %q, data event %q", portAddr, dataAddr)
			}
			if !hasEvent(s, "retr", "sub/deep.txt") {
				t.Errorf("no retr event: %v", s.Log())
			}
		})
	}
}

func TestReuseControlConnection(t *testing.T) {
	s := newServer(t)
	c := dial(t, s)
	c.login()
	c.cmd(200, "TYPE I")
	for i, st := range []setup{epsv, epsv, eprt, pasv, port} {
		if got := c.retr(st, "hello.txt"); got != hello {
			t.Fatalf("transfer %d: %q", i, got)
		}
	}
	c.cmd(250, "CWD /sub")
	if got := c.retr(epsv, "deep.txt"); got != "deep\n" {
		t.Fatalf("RETR after CWD: %q", got)
	}
	if n := s.ControlConns(); n != 1 {
		t.Errorf("ControlConns = %d, want 1", n)
	}
	if n := countEvents(s, "retr", "hello.txt"); n != 5 {
		t.Errorf("%d retr events, want 5", n)
	}
	// A PASV/PORT setup is good for one transfer only.
	c.cmd(425, "RETR /hello.txt")
}

func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	s := NewListener(ln, map[string][]byte{"hello.txt": []byte(hello)})
	defer s.Close()
	if want := "ftp://" + ln.Addr().String() + "/"; s.URL() != want || !strings.HasPrefix(want, "ftp://[::1]:") {
		t.Errorf("URL = %q, want %q", s.URL(), want)
	}
	c := dial(t, s)
	c.login()
	for _, st := range []setup{epsv, eprt} {
		if got := c.retr(st, "hello.txt"); got != hello {
			t.Fatalf("RETR = %q", got)
		}
	}
	c.cmd(425, "PASV")
	c.cmd(522, "EPSV 1")
	c.cmd(522, "EPRT |3|x|1|")
}

func TestStoreListDelete(t *testing.T) {
	s := newServer(t)
	c := dial(t, s)
	c.login()
	c.cmd(200, "TYPE I")
	c.transfer(eprt, []byte("abc"), "STOR new.bin")
	if got, ok := s.File("new.bin"); !ok || string(got) != "abc" {
		t.Errorf("after STOR: %q %v", got, ok)
	}
	c.transfer(epsv, []byte("def"), "APPE /new.bin")
	if got, _ := s.File("/new.bin"); string(got) != "abcdef" {
		t.Errorf("after APPE: %q", got)
	}
	if got := c.retr(epsv, "new.bin"); got != "abcdef" {
		t.Errorf("RETR = %q", got)
	}
	c.cmd(350, "REST 3")
	if got := c.retr(pasv, "new.bin"); got != "def" {
		t.Errorf("RETR after REST = %q", got)
	}

	c.cmd(200, "TYPE A")
	if got := string(c.transfer(epsv, nil, "NLST")); got != "hello.txt\r\nnew.bin\r\nsub\r\n" {
		t.Errorf("NLST = %q", got)
	}
	list := string(c.transfer(epsv, nil, "LIST -al"))
	var lines [][]string
	for _, l := range strings.Split(strings.TrimSuffix(list, "\r\n"), "\r\n") {
		lines = append(lines, strings.Fields(l))
	}
	if len(lines) != 3 || len(lines[0]) != 9 || lines[0][0] != "-rw-r--r--" || lines[0][4] != "13" || lines[0][8] != "hello.txt" ||
		len(lines[2]) != 9 || lines[2][0][0] != 'd' || lines[2][8] != "sub" {
		t.Errorf("LIST =\n%s", list)
	}
	c.cmd(450, "LIST nonexistent")

	c.cmd(257, "MKD d")
	c.cmd(550, "MKD d")
	c.cmd(250, "CWD d")
	if got := c.cmd(257, "PWD"); !strings.HasPrefix(got, `"/d"`) {
		t.Errorf("PWD = %q", got)
	}
	c.transfer(port, []byte("x"), "STOR f")
	if _, ok := s.File("d/f"); !ok {
		t.Error("d/f not stored")
	}
	c.cmd(250, "CDUP")
	c.cmd(553, "STOR nodir/f")
	c.cmd(250, "DELE d/f")
	c.cmd(550, "DELE d/f")
	if _, ok := s.File("d/f"); ok {
		t.Error("d/f still there after DELE")
	}
}

func TestReplies(t *testing.T) {
	s := newServer(t)
	c := dial(t, s)
	c.cmd(530, "RETR hello.txt")
	c.cmd(503, "PASS x")
	c.cmd(502, "XYZZY")
	c.cmd(215, "SYST")
	feat := c.cmd(211, "FEAT")
	for _, f := range []string{"EPSV", "EPRT", "PASV", "SIZE", "MDTM", "REST STREAM", "UTF8"} {
		if !strings.Contains(feat, "\n "+f+"\n") {
			t.Errorf("FEAT lacks %s: %q", f, feat)
		}
	}
	c.cmd(200, "OPTS UTF8 ON")
	c.login()
	c.cmd(200, "NOOP")
	c.cmd(200, "TYPE A")
	c.cmd(200, "TYPE I")
	c.cmd(504, "TYPE E")
	c.cmd(550, "CWD nowhere")
	c.cmd(550, "SIZE missing.txt")
	c.cmd(550, "MDTM missing.txt")
	if got := c.cmd(213, "MDTM hello.txt"); len(got) != 14 {
		t.Errorf("MDTM = %q", got)
	}
	c.cmd(350, "REST 0")
	c.cmd(501, "REST x")
	c.cmd(425, "RETR hello.txt")
	c.cmd(501, "EPRT |1|127.0.0.1|0|")
	c.cmd(501, "EPRT |1|::1|21|")
	c.cmd(501, "PORT 1,2,3")
	c.cmd(501, "PORT 192,0,2,1,4,0") // not loopback, not the client: no bounce
	epsv(c)
	c.cmd(550, "RETR missing.txt")
	c.cmd(425, "RETR hello.txt") // the failed RETR used up the EPSV
	c.cmd(200, "EPSV ALL")
	c.cmd(501, "PASV")
	c.cmd(502, "SITE CHMOD 777 x")
	c.cmd(221, "QUIT")
	if _, err := c.tp.ReadLine(); err != io.EOF {
		t.Errorf("after QUIT: %v, want EOF", err)
	}
	if got := s.Log()[0]; got.Kind != "conn" || got.Detail != c.nc.LocalAddr().String() {
		t.Errorf("first event %v", got)
	}
}

func TestCommandTooLong(t *testing.T) {
	s := newServer(t)
	c := dial(t, s)
	c.cmd(500, "NOOP %s", strings.Repeat("x", 2*maxLine))
	c.cmd(200, "NOOP")
}

func TestDataConnectionFailures(t *testing.T) {
	defer func(d time.Duration) { dataTimeout = d }(dataTimeout)
	dataTimeout = 200 * time.Millisecond
	s := newServer(t)
	c := dial(t, s)
	c.login()

	// Passive: the client never connects.
	c.cmd(229, "EPSV")
	c.cmd(150, "RETR hello.txt")
	c.expect(425)

	// Active: nobody listens at the announced port.
	ln := c.listenData()
	a := ln.Addr().(*net.TCPAddr)
	ln.Close()
	c.cmd(200, "EPRT |1|%s|%d|", a.IP, a.Port)
	c.cmd(150, "RETR hello.txt")
	c.expect(425)

	// The session is still usable.
	if got := c.retr(epsv, "hello.txt"); got != hello {
		t.Errorf("RETR = %q", got)
	}
	if countEvents(s, "retr", "hello.txt") != 1 {
		t.Errorf("log: %v", s.Log())
	}
}

// ftptestGoroutines returns the stacks of goroutines running server code.
func ftptestGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "ftptest.(*Server).") || strings.Contains(g, "ftptest.(*session).") {
			found = append(found, g)
		}
	}
	return found
}

// busyServer leaves a server with sessions in every state that could block
// Close: idle, holding a passive listener, blocked writing a large file to a
// client that does not read, and with a pending active-mode address.
func busyServer(t *testing.T) (*Server, []*client) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB: more than socket buffers hold
	s := New(map[string][]byte{"hello.txt": []byte(hello), "big": big})
	var cs []*client
	for range 4 {
		c := dial(t, s)
		c.login()
		cs = append(cs, c)
	}
	epsv(cs[1])
	get := epsv(cs[2])
	cs[2].cmd(150, "RETR big")
	get() // connected but never read
	eprt(cs[3])
	if got := cs[0].retr(pasv, "hello.txt"); got != hello {
		t.Fatalf("RETR = %q", got)
	}
	return s, cs
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	s, cs := busyServer(t)
	if n := s.ControlConns(); n != 4 {
		t.Errorf("ControlConns = %d, want 4", n)
	}
	if len(ftptestGoroutines()) == 0 {
		t.Fatal("leak check is blind: no server goroutines found before Close")
	}

	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	// Every session logs "close" as it ends, so a goroutine that outlived
	// Close would still change the log.
	logAtClose := s.Log()
	// wg.Wait in Close returns once the last deferred Done has run, a hair
	// before that goroutine is gone from runtime.Stack; allow for that only.
	deadline := time.Now().Add(50 * time.Millisecond)
	for g := ftptestGoroutines(); len(g) > 0; g = ftptestGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", strings.Join(g, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	for i, c := range cs {
		c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := c.tp.ReadLine(); err != nil {
				if err != io.EOF && !strings.Contains(err.Error(), "reset") {
					t.Errorf("client %d: %v, want EOF or reset", i, err)
				}
				break
			}
		}
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Error("server still accepts after Close")
	}
	time.Sleep(50 * time.Millisecond)
	if got := s.Log(); len(got) != len(logAtClose) {
		t.Errorf("log grew after Close returned: %v", got[len(logAtClose):])
	}
	if n := countEvents(s, "close", cs[2].nc.LocalAddr().String()); n != 1 {
		t.Errorf("%d close events for the client blocked in RETR, want 1", n)
	}

	// Idempotent, also concurrently.
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(s.Close)
	}
	wg.Wait()
}

func openFDs(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("cannot list file descriptors:", err)
	}
	var fds []string
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds = append(fds, e.Name()+" -> "+target)
	}
	return fds
}

func TestCloseLeavesNoFileDescriptors(t *testing.T) {
	// Each round runs in a subtest so that the client sockets, which the
	// helpers close in t.Cleanup, are gone when it returns. The server is
	// closed while those clients are still connected, so a server-side socket
	// that Close missed stays open and shows up as a surplus descriptor.
	round := func(name string) {
		t.Run(name, func(t *testing.T) {
			s, _ := busyServer(t)
			s.Close()
		})
	}
	// A leaked socket that becomes unreachable would be closed by its
	// finalizer as soon as the GC runs, hiding the leak.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// The first round lets lazily created runtime descriptors (the netpoller)
	// exist before the baseline is taken.
	round("warmup")
	before := openFDs(t)
	round("measured")
	var after []string
	for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
		if after = openFDs(t); len(after) <= len(before) || time.Now().After(deadline) {
			break
		}
	}
	if len(after) > len(before) {
		t.Errorf("%d descriptors before, %d after Close\nbefore: %v\nafter:  %v", len(before), len(after), before, after)
	}
}
