//go:build linux

package curl

// TestStress: G goroutines × N transfers against loopback servers, mixing
// every way a transfer can end, then checking that nothing leaked: the
// process's fds, the socket callbacks' opens and closes, and curlsock's
// registrations.
//
//	go test -run '^TestStress$' .                                  # 8×50
//	CURLSOCK_STRESS=64x2000 CURLSOCK_STRESS_TIME=10m go test -run '^TestStress$' -timeout 30m -v .
//
// -short runs 4×12. CURLSOCK_STRESS_TIME bounds the run (default 3m, 30s with
// -short): past it no goroutine starts another transfer, and the test reports
// how many it did.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// stressScenario is one kind of transfer.
type stressScenario int

const (
	stOK            stressScenario = iota // reused handle, reused connection
	stFresh                               // new handle, FORBID_REUSE
	stRefused                             // closed port: E_COULDNT_CONNECT
	stConnTimeout                         // black hole: E_OPERATION_TIMEDOUT after CONNECTTIMEOUT_MS
	stSockoptErr                          // sockopt fails: E_ABORTED_BY_CALLBACK
	stTLSFail                             // TLS trusting another CA: E_PEER_FAILED_VERIFICATION
	stRedirect                            // FOLLOWLOCATION on the reused handle
	stMulti                               // three transfers in the goroutine's multi
	stMultiTimeout                        // a black hole and a success in the multi
	stGuarded                             // Sockets{sock.Guard} allowing the server
	stGuardDenied                         // Sockets{sock.Guard} with the default rules: refused before any socket
	stHappyEyeballs                       // IPv6 black hole first, IPv4 server second
	stCanceled                            // black hole, the context's deadline ends it: PerformContext or Do
	stNumScenarios
)

var stressNames = [...]string{"ok", "fresh", "refused", "conn-timeout", "sockopt-err", "tls-fail", "redirect", "multi", "multi-timeout", "guarded", "guard-denied", "happy-eyeballs", "canceled"}

func (s stressScenario) String() string { return stressNames[s] }

// stressSock identifies a socket while it is open: numbers are reused at once,
// inodes are not.
type stressSock struct {
	fd  int
	ino uint64
}

// stressAcct is the open-socket and close-socket callback pair of every
// unguarded transfer, accounting for each socket by identity.
type stressAcct struct {
	silentOK map[string]string // destinations whose sockets libcurl < 8.2 may close itself → why

	mu      sync.Mutex
	open    map[stressSock]string // → destination
	opens   int
	closes  int
	strange []string // closes of sockets never opened through the callback
}

func (a *stressAcct) openSocket(_ any, _ SockType, addr *Sockaddr) (int, error) {
	fd, err := OpenSocket(addr)
	if err != nil {
		return fd, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return SOCKET_BAD, err
	}
	a.mu.Lock()
	a.open[stressSock{fd, st.Ino}] = addr.String()
	a.opens++
	a.mu.Unlock()
	return fd, nil
}

func (a *stressAcct) closeSocket(_ any, fd int) error {
	var st unix.Stat_t
	serr := unix.Fstat(fd, &st)
	a.mu.Lock()
	a.closes++
	k := stressSock{fd, st.Ino}
	if _, ok := a.open[k]; ok && serr == nil {
		delete(a.open, k)
	} else {
		a.strange = append(a.strange, fmt.Sprintf("close of fd %d (fstat: %v) never opened through the callback", fd, serr))
	}
	a.mu.Unlock()
	return unix.Close(fd)
}

func (a *stressAcct) failSockopt(any, int, SockType) (int, error) { return SOCKOPT_ERROR, nil }

// install sets the pair (and sockoptErr's failing sockopt) on e.
func (a *stressAcct) install(e *CURL, failSockopt bool) error {
	if err := e.Setopt(OPT_OPENSOCKETFUNCTION, a.openSocket); err != nil {
		return err
	}
	if failSockopt {
		if err := e.Setopt(OPT_SOCKOPTFUNCTION, a.failSockopt); err != nil {
			return err
		}
	}
	return e.Setopt(OPT_CLOSESOCKETFUNCTION, a.closeSocket)
}

// stressEnv is what every goroutine shares.
type stressEnv struct {
	srv     *testServer      // HTTP on 127.0.0.1, /ok and /redirect
	tls     *httptest.Server // HTTPS with a certificate nobody trusts
	otherCA string           // a CA file that is not tls's
	refused string           // 127.0.0.1:port with nothing listening
	hole    string           // 127.0.0.1:port whose SYNs are dropped
	heName  string           // CURLOPT_RESOLVE entry: [::1] black hole, then the server; "" without IPv6
	acct    *stressAcct
	guard   *sock.Guard // allows srv
	eng     *Engine     // the odd workers' transfers run on it

	deadline time.Time
	stopped  atomic.Bool

	mu       sync.Mutex
	byKind   [stNumScenarios]int
	failures []string
	traces   []*sock.Trace
	denied   int
}

func (env *stressEnv) fail(format string, args ...any) {
	env.mu.Lock()
	if len(env.failures) < 50 {
		env.failures = append(env.failures, fmt.Sprintf(format, args...))
	}
	env.mu.Unlock()
}

// stressEasy is a handle with the usual protections, for goroutines (newEasy
// needs the test's goroutine).
func stressEasy(body *bytes.Buffer) (*CURL, error) {
	e := EasyInit()
	if e == nil {
		return nil, errors.New("EasyInit returned nil")
	}
	for _, o := range []struct {
		opt int
		v   any
	}{
		{OPT_NOSIGNAL, 1},
		{OPT_TIMEOUT_MS, 10000},
		{OPT_WRITEFUNCTION, func(b []byte, _ any) bool { body.Write(b); return true }},
	} {
		if err := e.Setopt(o.opt, o.v); err != nil {
			e.Cleanup()
			return nil, err
		}
	}
	return e, nil
}

func stressSize(t *testing.T) (g, n int, budget time.Duration) {
	g, n, budget = 8, 50, 3*time.Minute
	if testing.Short() {
		g, n, budget = 4, 12, 30*time.Second
	}
	if s := os.Getenv("CURLSOCK_STRESS"); s != "" {
		gs, ns, ok := strings.Cut(s, "x")
		var err1, err2 error
		g, err1 = strconv.Atoi(gs)
		n, err2 = strconv.Atoi(ns)
		if !ok || err1 != nil || err2 != nil || g < 1 || n < 1 {
			t.Fatalf("CURLSOCK_STRESS=%q: want GxN, e.g. 64x2000", s)
		}
	}
	if s := os.Getenv("CURLSOCK_STRESS_TIME"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("CURLSOCK_STRESS_TIME=%q: %v", s, err)
		}
		budget = d
	}
	return g, n, budget
}

// socketInodes returns the inodes of the sockets open in this process.
func socketInodes() map[uint64]bool {
	out := map[uint64]bool{}
	for _, target := range openFDs() {
		if s, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				out[n] = true
			}
		}
	}
	return out
}

func TestStress(t *testing.T) {
	g, n, budget := stressSize(t)
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		fmt.Fprint(w, "ok")
	}))
	// HTTPS whose handshakes all fail: without the log of each.
	tlsSrv := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	srvPort := netip.MustParseAddrPort(srv.Addr).Port()
	env := &stressEnv{
		srv:      srv,
		tls:      tlsSrv,
		otherCA:  otherCAFile(t),
		refused:  fmt.Sprintf("127.0.0.1:%d", closedPort(t)),
		hole:     blackHole(t, "tcp4", 0),
		guard:    sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.0/8")), sock.WithPorts(srvPort)),
		deadline: time.Now().Add(budget),
		eng:      NewEngine(WithShards(2)),
	}
	env.acct = &stressAcct{open: map[stressSock]string{}, silentOK: map[string]string{env.hole: "connect timeout"}}
	if hole6 := blackHole(t, "tcp6", int(srvPort)); hole6 != "" {
		env.heName = fmt.Sprintf("he.test:%d:[::1],127.0.0.1", srvPort)
		env.acct.silentOK[hole6] = "Happy Eyeballs loser"
	} else {
		t.Log("no IPv6 loopback (or its port is taken): no Happy Eyeballs transfers")
	}
	// Everything above stays open until the test's cleanups; the first
	// transfer's libcurl and TLS initialisation opens nothing that stays.
	noLeaks(t)
	fdsBefore := len(openFDs())
	regsBefore := Registrations()

	start := time.Now()
	var wg sync.WaitGroup
	for w := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env.worker(w, n)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	// Its cached connections close now, through the callbacks.
	must(t, env.eng.Close())

	// Every handle and multi is cleaned up now: the sockets are all closed.
	acct := env.acct
	acct.mu.Lock()
	opens, closes, strange := acct.opens, acct.closes, acct.strange
	unmatched := map[string]int{}
	live := socketInodes()
	for k, dest := range acct.open {
		why, ok := acct.silentOK[dest]
		switch {
		case live[k.ino]:
			t.Errorf("socket fd %d to %s is still open after every handle was cleaned up", k.fd, dest)
		case !ok:
			t.Errorf("socket fd %d to %s was never closed through the close-socket callback", k.fd, dest)
		case versionNum >= 0x080200:
			t.Errorf("libcurl %s closed the socket fd %d to %s (%s) without the close-socket callback: fixed in 8.2.0", versionString(), k.fd, dest, why)
		default:
			unmatched[why]++
		}
	}
	acct.mu.Unlock()
	for _, s := range strange {
		t.Error(s)
	}
	for _, f := range env.failures {
		t.Error(f)
	}
	var tOpened, tClosed, tRefused, tOpenNow int
	for _, tr := range env.traces {
		st := tr.Stats()
		tOpened, tClosed, tRefused, tOpenNow = tOpened+st.Opened, tClosed+st.Closed, tRefused+st.Refused, tOpenNow+st.Open
	}
	if tOpened != tClosed || tOpenNow != 0 {
		t.Errorf("guarded transfers: %d opens, %d closes, %d open now; want them to balance", tOpened, tClosed, tOpenNow)
	}
	if tRefused != env.denied {
		t.Errorf("the guard refused %d attempts, want %d (one per denied transfer)", tRefused, env.denied)
	}

	// The process's fds: servers finish closing their ends in a moment.
	fdsAfter := len(openFDs())
	for i := 0; i < 100 && fdsAfter != fdsBefore; i++ {
		time.Sleep(20 * time.Millisecond)
		fdsAfter = len(openFDs())
	}
	if fdsAfter != fdsBefore {
		t.Errorf("%d fds open after the run, %d before", fdsAfter, fdsBefore)
	}
	regs := Registrations()
	if regs != regsBefore {
		t.Errorf("registrations %+v after the run, %+v before", regs, regsBefore)
	}

	total := 0
	var kinds []string
	for k, c := range env.byKind {
		total += c
		kinds = append(kinds, fmt.Sprintf("%s=%d", stressScenario(k), c))
	}
	silent := 0
	var whys []string
	for why, c := range unmatched {
		silent += c
		whys = append(whys, fmt.Sprintf("%d %s", c, why))
	}
	sort.Strings(whys)
	if opens+tOpened-closes-tClosed != silent {
		t.Errorf("callback opens %d, closes %d: a difference of %d, but %d sockets are accounted as closed by libcurl itself", opens+tOpened, closes+tClosed, opens+tOpened-closes-tClosed, silent)
	}
	t.Logf("libcurl %s: %d goroutines × %d: %d transfers in %v%s", versionString(), g, n, total, took.Round(time.Millisecond), map[bool]string{true: " (stopped at the time budget)", false: ""}[env.stopped.Load()])
	t.Logf("transfers by kind: %s", strings.Join(kinds, " "))
	t.Logf("fds before %d, after %d", fdsBefore, fdsAfter)
	t.Logf("socket callbacks: %d opens, %d closes (unguarded %d/%d, guarded %d/%d, guard refusals %d); closed by libcurl itself, without the callback: %d %v",
		opens+tOpened, closes+tClosed, opens, closes, tOpened, tClosed, tRefused, silent, whys)
	t.Logf("registrations after: %+v", regs)
}

// worker runs n transfers, cycling through the scenarios from a per-worker
// offset so that every kind runs concurrently with every other.
func (env *stressEnv) worker(w, n int) {
	var body bytes.Buffer
	reuse, err := stressEasy(&body)
	if err != nil {
		env.fail("worker %d: %v", w, err)
		return
	}
	defer reuse.Cleanup()
	if err := env.acct.install(reuse, false); err != nil {
		env.fail("worker %d: %v", w, err)
		return
	}
	m := MultiInit()
	defer m.Cleanup()
	// Even workers drive their transfers with Perform (PerformContext when
	// canceled), odd ones on the shared engine.
	run := func(ctx context.Context, e *CURL) error {
		if ctx == nil {
			return e.Perform()
		}
		return e.PerformContext(ctx)
	}
	if w%2 == 1 {
		run = func(ctx context.Context, e *CURL) error {
			if ctx == nil {
				ctx = context.Background()
			}
			return env.eng.Do(ctx, e)
		}
	}
	trace := sock.NewTrace(nil)
	env.mu.Lock()
	env.traces = append(env.traces, trace)
	env.mu.Unlock()

	for i := range n {
		if time.Now().After(env.deadline) {
			env.stopped.Store(true)
			return
		}
		kind := stressScenario((w + i) % int(stNumScenarios))
		if kind == stHappyEyeballs && env.heName == "" {
			kind = stOK
		}
		if err := env.transfer(kind, run, reuse, &body, m, trace); err != nil {
			env.fail("worker %d transfer %d (%s): %v", w, i, kind, err)
		}
		env.mu.Lock()
		env.byKind[kind]++
		env.mu.Unlock()
	}
}

// stressExpect checks a transfer's result.
func stressExpect(err error, body *bytes.Buffer, want ...error) error {
	if len(want) == 0 {
		if err != nil {
			return fmt.Errorf("Perform = %v, want success", err)
		}
		if body != nil && body.String() != "ok" {
			return fmt.Errorf("body %q, want \"ok\"", body.String())
		}
		return nil
	}
	for _, w := range want {
		if !errors.Is(err, w) {
			return fmt.Errorf("Perform = %v, want %v", err, want)
		}
	}
	return nil
}

func (env *stressEnv) transfer(kind stressScenario, run func(context.Context, *CURL) error, reuse *CURL, rbody *bytes.Buffer, m *CURLM, trace *sock.Trace) error {
	srvURL := env.srv.url("/ok")
	switch kind {
	case stOK, stRedirect:
		rbody.Reset()
		url, follow := srvURL, 0
		if kind == stRedirect {
			url, follow = env.srv.url("/redirect"), 1
		}
		if err := reuse.Setopt(OPT_URL, url); err != nil {
			return err
		}
		if err := reuse.Setopt(OPT_FOLLOWLOCATION, follow); err != nil {
			return err
		}
		return stressExpect(run(nil, reuse), rbody)
	case stMulti, stMultiTimeout:
		return env.multiTransfer(kind, m)
	}

	var body bytes.Buffer
	e, err := stressEasy(&body)
	if err != nil {
		return err
	}
	defer e.Cleanup()
	url := srvURL
	var want []error
	switch kind {
	case stGuarded, stGuardDenied:
		s := &Sockets{Guard: env.guard, Trace: trace}
		if kind == stGuardDenied {
			// Loopback is denied: refused before a socket exists, or, when
			// the engine's cache has a connection to the server, by the
			// guard's prereq check before the request is sent.
			s.Guard = sock.NewGuard()
			want = []error{sock.ErrProhibitedIP}
			env.mu.Lock()
			env.denied++
			env.mu.Unlock()
		}
		if err := s.Install(e); err != nil {
			return err
		}
	default:
		if err := env.acct.install(e, kind == stSockoptErr); err != nil {
			return err
		}
	}
	switch kind {
	case stFresh:
		err = e.Setopt(OPT_FORBID_REUSE, 1)
	case stRefused:
		url, want = "http://"+env.refused+"/", []error{CurlError(E_COULDNT_CONNECT)}
	case stCanceled:
		url, want = "http://"+env.hole+"/", []error{context.DeadlineExceeded}
	case stConnTimeout:
		url, want = "http://"+env.hole+"/", []error{CurlError(E_OPERATION_TIMEDOUT)}
		err = e.Setopt(OPT_CONNECTTIMEOUT_MS, 50)
	case stSockoptErr:
		want = []error{ErrSockoptFailed, CurlError(E_ABORTED_BY_CALLBACK)}
		// Not a connection from the engine's cache, made without it.
		err = e.Setopt(OPT_FRESH_CONNECT, 1)
	case stTLSFail:
		// A CA file of one certificate, not the system's bundle: libcurl
		// with OpenSSL parses the CA file for every handshake (about 24 ms
		// of CPU for Debian's bundle here), and an engine runs all
		// transfers to one origin on one shard, one core: 32 workers'
		// handshakes then queued past the transfer timeout.
		url, want = env.tls.URL+"/", []error{CurlError(E_PEER_FAILED_VERIFICATION)}
		err = e.Setopt(OPT_CAINFO, env.otherCA)
	case stHappyEyeballs:
		port := netip.MustParseAddrPort(env.srv.Addr).Port()
		url = fmt.Sprintf("http://he.test:%d/ok", port)
		if err = e.Setopt(OPT_RESOLVE, []string{env.heName}); err == nil {
			err = e.Setopt(OPT_HAPPY_EYEBALLS_TIMEOUT_MS, 10)
		}
	}
	if err != nil {
		return err
	}
	if err := e.Setopt(OPT_URL, url); err != nil {
		return err
	}
	if kind == stGuardDenied {
		err := run(nil, e)
		if !errors.Is(err, CurlError(E_COULDNT_CONNECT)) && !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
			return fmt.Errorf("Perform = %v, want a refusal", err)
		}
		return stressExpect(err, &body, want...)
	}
	var ctx context.Context
	if kind == stCanceled {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		defer cancel()
		ctx = c
	}
	return stressExpect(run(ctx, e), &body, want...)
}

// multiTransfer runs three transfers at once in the worker's multi: a
// success, a refusal and a redirect, or a black hole and two successes.
func (env *stressEnv) multiTransfer(kind stressScenario, m *CURLM) error {
	type job struct {
		e    *CURL
		body *bytes.Buffer
		want []error
	}
	var jobs []*job
	defer func() {
		for _, j := range jobs {
			j.e.Cleanup()
		}
	}()
	add := func(url string, opts func(*CURL) error, want ...error) error {
		j := &job{body: &bytes.Buffer{}, want: want}
		e, err := stressEasy(j.body)
		if err != nil {
			return err
		}
		j.e = e
		jobs = append(jobs, j)
		if err := env.acct.install(e, false); err != nil {
			return err
		}
		if opts != nil {
			if err := opts(e); err != nil {
				return err
			}
		}
		if err := e.Setopt(OPT_URL, url); err != nil {
			return err
		}
		return m.AddHandle(e)
	}
	var err error
	if kind == stMulti {
		err = errors.Join(
			add(env.srv.url("/ok"), nil),
			add("http://"+env.refused+"/", nil, CurlError(E_COULDNT_CONNECT)),
			add(env.srv.url("/redirect"), func(e *CURL) error { return e.Setopt(OPT_FOLLOWLOCATION, 1) }),
		)
	} else {
		err = errors.Join(
			add("http://"+env.hole+"/", func(e *CURL) error { return e.Setopt(OPT_CONNECTTIMEOUT_MS, 50) }, CurlError(E_OPERATION_TIMEDOUT)),
			add(env.srv.url("/ok"), func(e *CURL) error { return e.Setopt(OPT_FORBID_REUSE, 1) }),
			add(env.srv.url("/ok"), nil),
		)
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	done := 0
	var errs []error
	for done < len(jobs) {
		if time.Now().After(deadline) {
			return fmt.Errorf("multi: %d of %d transfers unfinished after 20s", len(jobs)-done, len(jobs))
		}
		if _, err := m.Perform(); err != nil {
			return err
		}
		for {
			msg, _ := m.Info_read()
			if msg == nil {
				break
			}
			done++
			for _, j := range jobs {
				if j.e == msg.Easy_handle {
					if err := stressExpect(msg.Result(), j.body, j.want...); err != nil {
						errs = append(errs, err)
					}
				}
			}
			if err := m.RemoveHandle(msg.Easy_handle); err != nil {
				return err
			}
		}
		if done < len(jobs) {
			if _, err := m.Wait(50); err != nil {
				return err
			}
		}
	}
	return errors.Join(errs...)
}

// TestStressEngineChurn: fresh connections (FORBID_REUSE) through one
// engine from CURLSOCK_STRESS goroutines, so that socket numbers are reused
// constantly while the shards' epoll sets hold others: every transfer must
// succeed, every socket close through its callback, and the process's fds
// and curlsock's registrations end where they began. `make stress` runs
// 64x2000 (128,000 transfers).
func TestStressEngineChurn(t *testing.T) {
	g, n, budget := stressSize(t)
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	// Closing ends their idle server sides too, before the fds are counted.
	srv.Config.SetKeepAlivesEnabled(false)
	noLeaks(t)
	fdsBefore := len(openFDs())
	acct := &stressAcct{open: map[stressSock]string{}}
	eng := NewEngine()
	deadline := time.Now().Add(budget)
	var done atomic.Int64
	var mu sync.Mutex
	var failures []string
	var wg sync.WaitGroup
	for w := range g {
		wg.Go(func() {
			var body bytes.Buffer
			e, err := stressEasy(&body)
			if err == nil {
				err = acct.install(e, false)
			}
			if err == nil {
				err = errors.Join(e.Setopt(OPT_FORBID_REUSE, 1), e.Setopt(OPT_URL, srv.url("/churn")))
			}
			for i := 0; err == nil && i < n && time.Now().Before(deadline); i++ {
				body.Reset()
				if err = stressExpect(eng.Do(context.Background(), e), &body); err != nil {
					err = fmt.Errorf("worker %d transfer %d: %w", w, i, err)
				}
				done.Add(1)
			}
			if e != nil {
				e.Cleanup()
			}
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	must(t, eng.Close())
	for _, f := range failures {
		t.Error(f)
	}
	acct.mu.Lock()
	defer acct.mu.Unlock()
	for k, dest := range acct.open {
		t.Errorf("socket fd %d to %s was never closed through the close-socket callback", k.fd, dest)
	}
	for _, s := range acct.strange {
		t.Error(s)
	}
	fdsAfter := len(openFDs())
	for i := 0; i < 100 && fdsAfter != fdsBefore; i++ {
		time.Sleep(20 * time.Millisecond)
		fdsAfter = len(openFDs())
	}
	t.Logf("libcurl %s: %d fresh-connection transfers on an engine of %d shards from %d goroutines; %d opens, %d closes; fds before %d, after %d",
		versionString(), done.Load(), len(eng.shards), g, acct.opens, acct.closes, fdsBefore, fdsAfter)
}

// otherCAFile writes a self-signed certificate of its own (httptest's
// servers all share one) as a CA file that trusts none of the test servers.
func otherCAFile(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "curlsock stress: trusted by nobody"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	path := filepath.Join(shortTempDir(t), "other-ca.pem")
	must(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	return path
}
