//go:build linux

package curl

// Cancellation during name resolution. libcurl resolves names on a thread
// of its own (the threaded resolver), and removing a handle from its multi
// while that thread is still in getaddrinfo waits for the thread to end,
// unless the handle has CURLOPT_QUICK_EXIT: the engine sets it, so that a
// canceled transfer leaves its shard at once and the shard's other
// transfers go on.
//
// To prove it the tests need a resolver that never answers, and must not
// ask the system's own: TestEngineResolveCancel runs each scenario in a
// child process (TestEngineResolveChild) under `unshare --net --mount`,
// where the child brings up a loopback of its own, bind-mounts a
// resolv.conf naming 127.0.0.1 (and an nsswitch.conf sending hosts to
// files then dns, and a hosts file without the names looked up) over the
// system's, and listens on 127.0.0.1:53 with a fake DNS server that counts
// the queries it gets and answers none of them until the scenario ends.
// glibc would wait 30 s for an answer: a transfer canceled while a query
// is pending must end long before that.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// resolveChildEnv selects the scenario in the child process.
	resolveChildEnv = "CURLSOCK_RESOLVE_CHILD"
	// resolveParentNetnsEnv names the parent's network namespace, which the
	// child must not be in before it lets libcurl resolve anything.
	resolveParentNetnsEnv = "CURLSOCK_RESOLVE_PARENT_NETNS"
	// resolveReportPrefix starts the lines the child reports to the parent.
	resolveReportPrefix = "RESOLVE-CHILD "

	// resolveBound is how long a canceled transfer may take to return: a
	// generous bound for a check that the removal did not wait for the
	// lookup, which glibc lets run for resolveGlibcTimeout.
	resolveBound = 3 * time.Second
	// resolveGlibcTimeout is the resolv.conf timeout: one attempt, so that
	// a removal that does wait for the lookup shows as a latency of about
	// this, not as a hang.
	resolveGlibcTimeout = 30 * time.Second
	// resolveTransferTimeout is OPT_TIMEOUT_MS of the stalled transfers: no
	// timeout of libcurl's ends them before the test does.
	resolveTransferTimeout = 120 * time.Second
)

// resolveScenarios are the child's scenarios, each run in a child process
// of its own.
var resolveScenarios = []string{
	"control",               // libcurl alone: removal without QUICK_EXIT waits for the lookup
	"do-cancel",             // Engine.Do canceled during the lookup
	"do-deadline",           // Engine.Do whose deadline passes during the lookup
	"shard-not-stalled",     // a 1-shard engine runs other transfers during a lookup
	"close",                 // Engine.Close during the lookup
	"performcontext-cancel", // PerformContext canceled during the lookup
	"package-do",            // package Do canceled during the lookup
}

// TestEngineResolveCancel runs the scenarios of TestEngineResolveChild in
// network and mount namespaces of their own.
func TestEngineResolveCancel(t *testing.T) {
	if os.Getenv(resolveChildEnv) != "" {
		t.Skip("already in a child")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("no unshare (util-linux): %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("no ip (iproute2) to bring up the namespace's loopback: %v", err)
	}
	if out, err := exec.Command(unshare, "--net", "--mount", "true").CombinedOutput(); err != nil {
		t.Skipf("cannot make network and mount namespaces (unshare --net --mount): %v: %s", err, bytes.TrimSpace(out))
	}
	netns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no /proc/self/ns/net: %v", err)
	}
	for _, scenario := range resolveScenarios {
		t.Run(scenario, func(t *testing.T) {
			out, reports, err := resolveRunChild(unshare, scenario, netns)
			for _, r := range reports {
				t.Logf("child: %s", r)
			}
			if err != nil || !resolveReported(reports, "done=ok") {
				t.Fatalf("child for %q failed (%v); its output:\n%s", scenario, err, out)
			}
		})
	}
}

// resolveRunChild runs TestEngineResolveChild with scenario under unshare
// and returns its output and its report lines.
func resolveRunChild(unshare, scenario, netns string) (string, []string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--net", "--mount", "--",
		os.Args[0], "-test.run=^TestEngineResolveChild$", "-test.count=1", "-test.v", "-test.timeout=120s")
	cmd.Env = append(os.Environ(), resolveChildEnv+"="+scenario, resolveParentNetnsEnv+"="+netns)
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after 150 s: %w", err)
	}
	var reports []string
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, resolveReportPrefix); ok {
			reports = append(reports, r)
		}
	}
	return string(b), reports, err
}

func resolveReported(reports []string, line string) bool {
	for _, r := range reports {
		if r == line {
			return true
		}
	}
	return false
}

func resolveReport(key string, v any) {
	fmt.Printf("%s%s=%v\n", resolveReportPrefix, key, v)
}

// TestEngineResolveChild is the child side of TestEngineResolveCancel; it
// does nothing unless started by it.
func TestEngineResolveChild(t *testing.T) {
	scenario := os.Getenv(resolveChildEnv)
	if scenario == "" {
		t.Skip("runs only in the child process of TestEngineResolveCancel")
	}
	resolveReport("libcurl", versionString())
	resolveChildNamespace(t)
	dns := resolveStartFakeDNS(t)
	// After the cleanups above are registered, so that it runs before them:
	// the lookups left behind end (their threads close their sockets) once
	// the fake server answers, and the test must leave no fd open.
	noLeaks(t)
	t.Cleanup(dns.release)

	switch scenario {
	case "control":
		resolveChildControl(t, dns)
	case "do-cancel":
		resolveChildDoCancel(t, dns)
	case "do-deadline":
		resolveChildDoDeadline(t, dns)
	case "shard-not-stalled":
		resolveChildShardNotStalled(t, dns)
	case "close":
		resolveChildClose(t, dns)
	case "performcontext-cancel":
		resolveChildPerformContext(t, dns)
	case "package-do":
		resolveChildPackageDo(t, dns)
	default:
		t.Fatalf("unknown scenario %q", scenario)
	}
	if !t.Failed() {
		resolveReport("done", "ok")
	}
}

// resolveChildNamespace makes the child's namespaces fit for lookups: the
// loopback up, and resolver configuration that sends every lookup of a
// name to 127.0.0.1:53. It fails the test rather than let a lookup go to
// the system's resolver.
func resolveChildNamespace(t *testing.T) {
	t.Helper()
	parent := os.Getenv(resolveParentNetnsEnv)
	own, err := os.Readlink("/proc/self/ns/net")
	if err != nil || parent == "" || own == parent {
		t.Fatalf("not in a network namespace of its own (own %q, parent %q, %v): refusing to resolve names", own, parent, err)
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	// Mounts made here must not propagate to the parent's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("mount --make-rprivate /: %v", err)
	}

	// glibc asks nscd, if it runs, before reading nsswitch.conf: hide its
	// socket.
	hidden := map[string]bool{}
	for _, d := range []string{"/run/nscd", "/var/run/nscd"} {
		real, err := filepath.EvalSymlinks(d)
		if err != nil || hidden[real] {
			continue
		}
		hidden[real] = true
		if err := unix.Mount("tmpfs", real, "tmpfs", 0, "size=16k"); err != nil {
			t.Fatalf("hiding nscd (%s): %v", real, err)
		}
	}

	dir := t.TempDir()
	overlay := func(target, content string) {
		t.Helper()
		src := filepath.Join(dir, filepath.Base(target))
		must(t, os.WriteFile(src, []byte(content), 0o644))
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			t.Fatalf("bind-mounting over %s: %v", target, err)
		}
		got, err := os.ReadFile(target)
		if err != nil || string(got) != content {
			t.Fatalf("%s after the bind mount: %q, %v; want %q", target, got, err, content)
		}
	}
	// One attempt of 30 s: glibc's longest timeout (RES_MAXRETRANS).
	overlay("/etc/resolv.conf", fmt.Sprintf("nameserver 127.0.0.1\noptions timeout:%d attempts:1\n", int(resolveGlibcTimeout/time.Second)))
	overlay("/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n")
	// Keep the other databases as they are, and send hosts to files then
	// dns: no resolve, mdns or myhostname module that might answer, or ask
	// the system's resolver.
	nss, err := os.ReadFile("/etc/nsswitch.conf")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(string(nss), "\n"), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "hosts:" {
			continue
		}
		if line != "" {
			b.WriteString(line + "\n")
		}
	}
	b.WriteString("hosts: files dns\n")
	if _, err := os.Stat("/etc/nsswitch.conf"); err != nil {
		t.Fatalf("no /etc/nsswitch.conf to bind-mount over: %v", err)
	}
	overlay("/etc/nsswitch.conf", b.String())
}

// resolveFakeDNS listens on 127.0.0.1:53, UDP and TCP, and records every
// query; until released it answers none. Released, it answers what it held
// and every later query with NXDOMAIN, so that the lookups left running
// end.
type resolveFakeDNS struct {
	udp *net.UDPConn
	tcp *net.TCPListener
	wg  sync.WaitGroup

	mu       sync.Mutex
	queries  map[string]int // by name, lowercased, without the final dot
	held     []resolveHeldQuery
	tcpConns []net.Conn
	released bool
}

type resolveHeldQuery struct {
	from *net.UDPAddr
	msg  []byte
}

func resolveStartFakeDNS(t *testing.T) *resolveFakeDNS {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53})
	if err != nil {
		t.Fatalf("fake DNS server, UDP: %v", err)
	}
	tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53})
	if err != nil {
		udp.Close()
		t.Fatalf("fake DNS server, TCP: %v", err)
	}
	d := &resolveFakeDNS{udp: udp, tcp: tcp, queries: map[string]int{}}
	d.wg.Add(2)
	go d.serveUDP()
	go d.serveTCP()
	t.Cleanup(func() {
		d.release()
		udp.Close()
		tcp.Close()
		d.mu.Lock()
		for _, c := range d.tcpConns {
			c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
	})
	return d
}

func (d *resolveFakeDNS) serveUDP() {
	defer d.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := d.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := append([]byte(nil), buf[:n]...)
		if !d.record(msg) {
			continue
		}
		d.mu.Lock()
		if d.released {
			d.udp.WriteToUDP(resolveNXDomain(msg), from)
		} else {
			d.held = append(d.held, resolveHeldQuery{from, msg})
		}
		d.mu.Unlock()
	}
}

func (d *resolveFakeDNS) serveTCP() {
	defer d.wg.Done()
	for {
		c, err := d.tcp.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		if d.released {
			d.mu.Unlock()
			c.Close()
			continue
		}
		d.tcpConns = append(d.tcpConns, c)
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			r := bufio.NewReader(c)
			for {
				var n uint16
				if binary.Read(r, binary.BigEndian, &n) != nil {
					return
				}
				msg := make([]byte, n)
				if _, err := io.ReadFull(r, msg); err != nil {
					return
				}
				d.record(msg) // and never answer: release closes the connection
			}
		}()
	}
}

// record counts a query by its name and reports whether it is one.
func (d *resolveFakeDNS) record(msg []byte) bool {
	name, ok := resolveQueryName(msg)
	if !ok {
		return false
	}
	d.mu.Lock()
	d.queries[name]++
	d.mu.Unlock()
	return true
}

func (d *resolveFakeDNS) count(name string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries[strings.ToLower(name)]
}

// release answers the held queries and every later one.
func (d *resolveFakeDNS) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.released {
		return
	}
	d.released = true
	for _, q := range d.held {
		d.udp.WriteToUDP(resolveNXDomain(q.msg), q.from)
	}
	d.held = nil
	for _, c := range d.tcpConns {
		c.Close()
	}
	d.tcpConns = nil
}

// resolveQueryName returns the name of a DNS query's first question.
func resolveQueryName(msg []byte) (string, bool) {
	if len(msg) < 12 || msg[2]&0x80 != 0 || binary.BigEndian.Uint16(msg[4:]) == 0 {
		return "", false
	}
	var labels []string
	for i := 12; i < len(msg); {
		n := int(msg[i])
		if n == 0 {
			return strings.ToLower(strings.Join(labels, ".")), true
		}
		if n&0xc0 != 0 || i+1+n > len(msg) {
			return "", false
		}
		labels = append(labels, string(msg[i+1:i+1+n]))
		i += 1 + n
	}
	return "", false
}

// resolveNXDomain returns the NXDOMAIN answer to a query: its header and
// question, with QR, RA and RCODE 3.
func resolveNXDomain(q []byte) []byte {
	end := 12
	for end < len(q) && q[end] != 0 {
		end += 1 + int(q[end])
	}
	end += 1 + 4 // the root label, QTYPE and QCLASS
	if end > len(q) {
		end = len(q)
	}
	a := append([]byte(nil), q[:end]...)
	a[2] = 0x80 | q[2]&0x79 // QR, the query's opcode and RD
	a[3] = 0x80 | 3         // RA, NXDOMAIN
	binary.BigEndian.PutUint16(a[4:], 1)
	clear(a[6:12]) // no answer, authority or additional records
	return a
}

// resolveResult is how a transfer run on another goroutine ended, and when.
type resolveResult struct {
	err error
	at  time.Time
}

func resolveGo(run func() error) <-chan resolveResult {
	ch := make(chan resolveResult, 1)
	go func() {
		err := run()
		ch <- resolveResult{err, time.Now()}
	}()
	return ch
}

// resolveAwaitQuery waits until the fake server got a query for name from
// the transfer running as res (nil: a transfer no goroutine waits for): the
// lookup is then pending at the resolver.
func resolveAwaitQuery(t *testing.T, d *resolveFakeDNS, name string, res <-chan resolveResult) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.count(name) == 0 {
		select {
		case r := <-res:
			t.Fatalf("the transfer to %s ended (%v) before its lookup reached the fake resolver", name, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no query for %s reached the fake resolver in 10 s", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Let the other family's query go out too: glibc sends A and AAAA.
	time.Sleep(20 * time.Millisecond)
}

// resolveWait returns the result of res, or fails the test if there is
// none in a minute: longer than the glibc timeout, so that a removal that
// waits for the lookup shows as a latency rather than a hang.
func resolveWait(t *testing.T, what string, res <-chan resolveResult) resolveResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(2 * resolveGlibcTimeout):
		t.Fatalf("%s: still running %v after its cancellation", what, 2*resolveGlibcTimeout)
		panic("unreachable")
	}
}

// resolveCheckLatency fails the test if a transfer took longer than
// resolveBound to return after it was told to stop, and reports the time.
func resolveCheckLatency(t *testing.T, key string, d time.Duration) {
	t.Helper()
	resolveReport(key, d)
	if d > resolveBound {
		t.Errorf("%s: %v to return after the cancellation, want < %v: the removal waited for the pending lookup (glibc gives up after %v)",
			key, d, resolveBound, resolveGlibcTimeout)
	}
}

// resolveEasy returns a handle for url, with a body buffer and a transfer
// timeout longer than the test; the test cleans it up itself.
func resolveEasy(t *testing.T, url string) (*CURL, *bytes.Buffer) {
	t.Helper()
	e := EasyInit()
	if e == nil {
		t.Fatal("EasyInit returned nil")
	}
	body := &bytes.Buffer{}
	must(t, e.Setopt(OPT_URL, url))
	must(t, e.Setopt(OPT_NOSIGNAL, 1))
	must(t, e.Setopt(OPT_TIMEOUT_MS, int(resolveTransferTimeout/time.Millisecond)))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		body.Write(b)
		return true
	}))
	return e, body
}

// resolveStalledURL returns a URL whose host only the fake resolver is
// asked about, and the host.
func resolveStalledURL(label string) (string, string) {
	host := label + ".stalled.curlsock.test"
	return "http://" + host + ":8080/", host
}

// resolveCheckRegistrations fails the test unless curlsock holds nothing
// for libcurl any more (the resolver threads libcurl left running hold
// nothing of curlsock's).
func resolveCheckRegistrations(t *testing.T) {
	t.Helper()
	got := Registrations()
	resolveReport("registrations", fmt.Sprintf("%+v", got))
	if got != (RegistrationStats{}) {
		t.Errorf("registrations after Cleanup and Close: %+v, want none", got)
	}
}

// resolveChildControl shows that the setup does what the engine guards
// against: on a plain multi, removing a handle without QUICK_EXIT while its
// lookup is pending waits until the lookup ends (here when the fake server
// is released, a second later), and with QUICK_EXIT it does not.
func resolveChildControl(t *testing.T, d *resolveFakeDNS) {
	for _, quick := range []int{1, 0} {
		url, host := resolveStalledURL(fmt.Sprintf("control-quick%d", quick))
		m := MultiInit()
		e, _ := resolveEasy(t, url)
		must(t, e.Setopt(OPT_QUICK_EXIT, quick))
		must(t, m.AddHandle(e))
		if _, err := m.Perform(); err != nil {
			t.Fatalf("multi Perform: %v", err)
		}
		resolveAwaitQuery(t, d, host, nil)
		var releaseAt time.Time
		if quick == 0 {
			// Released a second from now: the removal returns then at the
			// earliest if it waits for the lookup.
			timer := time.AfterFunc(time.Second, d.release)
			defer timer.Stop()
			releaseAt = time.Now().Add(time.Second)
		}
		start := time.Now()
		must(t, m.RemoveHandle(e))
		took := time.Since(start)
		resolveReport(fmt.Sprintf("control_quick_exit_%d_remove", quick), took)
		switch {
		case quick == 1 && took > resolveBound:
			t.Errorf("RemoveHandle with QUICK_EXIT took %v during a pending lookup, want < %v", took, resolveBound)
		case quick == 0 && time.Now().Before(releaseAt):
			t.Logf("RemoveHandle without QUICK_EXIT returned after %v, before the lookup ended: this libcurl does not wait for it", took)
			resolveReport("control_remove_waits_for_lookup", false)
		case quick == 0:
			resolveReport("control_remove_waits_for_lookup", true)
		}
		e.Cleanup()
		must(t, m.Cleanup())
	}
	resolveCheckRegistrations(t)
}

// resolveChildDoCancel: Engine.Do canceled while its lookup is pending
// returns context.Canceled at once, and Close after it too.
func resolveChildDoCancel(t *testing.T, d *resolveFakeDNS) {
	eng := NewEngine()
	url, host := resolveStalledURL("do-cancel")
	e, _ := resolveEasy(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := resolveGo(func() error { return eng.Do(ctx, e) })
	resolveAwaitQuery(t, d, host, res)
	start := time.Now()
	cancel()
	r := resolveWait(t, "Do", res)
	resolveCheckLatency(t, "do_cancel_latency", r.at.Sub(start))
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Do canceled during the lookup = %v, want one matching context.Canceled", r.err)
	}
	resolveReport("queries_for_host", d.count(host))
	e.Cleanup()
	start = time.Now()
	must(t, eng.Close())
	resolveCheckLatency(t, "engine_close_latency", time.Since(start))
	resolveCheckRegistrations(t)
}

// resolveChildDoDeadline: Engine.Do whose deadline passes while its lookup
// is pending returns context.DeadlineExceeded at the deadline.
func resolveChildDoDeadline(t *testing.T, d *resolveFakeDNS) {
	eng := NewEngine()
	url, host := resolveStalledURL("do-deadline")
	e, _ := resolveEasy(t, url)
	deadline := time.Now().Add(1500 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	res := resolveGo(func() error { return eng.Do(ctx, e) })
	resolveAwaitQuery(t, d, host, res)
	if time.Now().After(deadline) {
		t.Fatal("the deadline passed before the lookup reached the fake resolver")
	}
	r := resolveWait(t, "Do", res)
	resolveCheckLatency(t, "do_deadline_latency", r.at.Sub(deadline))
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("Do past its deadline during the lookup = %v, want one matching context.DeadlineExceeded", r.err)
	}
	e.Cleanup()
	must(t, eng.Close())
	resolveCheckRegistrations(t)
}

// resolveChildShardNotStalled: on a 1-shard engine, while a lookup is
// pending, a transfer to an IP literal completes; the lookup's transfer,
// canceled, returns at once; and the shard still runs transfers after.
func resolveChildShardNotStalled(t *testing.T, d *resolveFakeDNS) {
	srv := newServer(t, "tcp4")
	eng := NewEngine(WithShards(1))
	url, host := resolveStalledURL("shard")
	stalled, _ := resolveEasy(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := resolveGo(func() error { return eng.Do(ctx, stalled) })
	resolveAwaitQuery(t, d, host, res)

	e, body := resolveEasy(t, "")
	ipDo := func(key, path string) {
		t.Helper()
		body.Reset()
		must(t, e.Setopt(OPT_URL, srv.url(path)))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		err := eng.Do(ctx, e)
		took := time.Since(start)
		resolveReport(key, took)
		if err != nil {
			t.Fatalf("%s: Do to %s = %v after %v", key, srv.url(path), err, took)
		}
		if want := "hello tcp4 " + path; body.String() != want {
			t.Errorf("%s: body %q, want %q", key, body.String(), want)
		}
		if took > resolveBound {
			t.Errorf("%s: Do to an IP literal took %v on the shard of a pending lookup, want < %v", key, took, resolveBound)
		}
	}
	ipDo("ip_do_during_lookup", "/during")
	select {
	case r := <-res:
		t.Fatalf("the stalled transfer ended (%v) without a cancellation", r.err)
	default:
	}

	// The removal of the canceled transfer runs on the shard: a transfer
	// started with the cancellation must not wait for the lookup either.
	start := time.Now()
	cancel()
	ipDo("ip_do_with_cancel", "/with")
	r := resolveWait(t, "Do", res)
	resolveCheckLatency(t, "do_cancel_latency", r.at.Sub(start))
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Do canceled during the lookup = %v, want one matching context.Canceled", r.err)
	}
	ipDo("ip_do_after_cancel", "/after")

	stalled.Cleanup()
	e.Cleanup()
	must(t, eng.Close())
	resolveCheckRegistrations(t)
}

// resolveChildClose: Engine.Close while a lookup is pending ends the
// transfer (ErrEngineClosed) and returns at once.
func resolveChildClose(t *testing.T, d *resolveFakeDNS) {
	eng := NewEngine(WithShards(1))
	url, host := resolveStalledURL("close")
	e, _ := resolveEasy(t, url)
	res := resolveGo(func() error { return eng.Do(context.Background(), e) })
	resolveAwaitQuery(t, d, host, res)
	start := time.Now()
	closed := resolveGo(eng.Close)
	c := resolveWait(t, "Close", closed)
	resolveCheckLatency(t, "engine_close_latency", c.at.Sub(start))
	must(t, c.err)
	r := resolveWait(t, "Do", res)
	resolveCheckLatency(t, "do_return_after_close", r.at.Sub(start))
	if !errors.Is(r.err, ErrEngineClosed) {
		t.Errorf("Do during the lookup of a closed engine = %v, want ErrEngineClosed", r.err)
	}
	e.Cleanup()
	resolveCheckRegistrations(t)
}

// resolveChildPerformContext: PerformContext canceled while its lookup is
// pending returns context.Canceled at once, and the handle's multi works
// after.
func resolveChildPerformContext(t *testing.T, d *resolveFakeDNS) {
	srv := newServer(t, "tcp4")
	url, host := resolveStalledURL("performcontext")
	e, body := resolveEasy(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := resolveGo(func() error { return e.PerformContext(ctx) })
	resolveAwaitQuery(t, d, host, res)
	start := time.Now()
	cancel()
	r := resolveWait(t, "PerformContext", res)
	resolveCheckLatency(t, "performcontext_cancel_latency", r.at.Sub(start))
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("PerformContext canceled during the lookup = %v, want one matching context.Canceled", r.err)
	}

	body.Reset()
	must(t, e.Setopt(OPT_URL, srv.url("/after")))
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := e.PerformContext(ctx2); err != nil {
		t.Fatalf("PerformContext to an IP literal after the canceled lookup: %v", err)
	}
	if want := "hello tcp4 /after"; body.String() != want {
		t.Errorf("body %q, want %q", body.String(), want)
	}
	e.Cleanup()
	resolveCheckRegistrations(t)
}

// resolveChildPackageDo: package Do canceled while its lookup is pending
// returns context.Canceled at once. The default engine is never closed; its
// shards are not counted by Registrations.
func resolveChildPackageDo(t *testing.T, d *resolveFakeDNS) {
	url, host := resolveStalledURL("package-do")
	e, _ := resolveEasy(t, url)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := resolveGo(func() error { return Do(ctx, e) })
	resolveAwaitQuery(t, d, host, res)
	start := time.Now()
	cancel()
	r := resolveWait(t, "Do", res)
	resolveCheckLatency(t, "package_do_cancel_latency", r.at.Sub(start))
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("package Do canceled during the lookup = %v, want one matching context.Canceled", r.err)
	}
	e.Cleanup()
	closeDefaultEngine()
	resolveCheckRegistrations(t)
}
