package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	gocurl "github.com/andelf/go-curl"
	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/internal/benchkit"
	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// sample is one measurement: one variant, one round.
type sample struct {
	transfers  int
	seconds    float64 // wall time
	cpuSeconds float64 // the client process's CPU time (user + system)
	thrSeconds float64 // CPU time of the thread that drove libcurl
	mallocs    uint64  // Go heap allocations (Go variants only)
	allocBytes uint64
	goHeap     bool // mallocs and allocBytes are meaningful
}

func (s sample) tps() float64 { return float64(s.transfers) / s.seconds }

// runner runs one variant's transfers on handles it keeps between rounds.
type runner interface {
	measure(n int) (sample, error)
	close()
}

// The socket callbacks of variant (c): what libcurl does without them.
func goOpen(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) { return curl.OpenSocket(addr) }
func goSockopt(_ any, _ int, _ curl.SockType) (int, error)            { return curl.SOCKOPT_OK, nil }
func goClose(_ any, fd int) error                                     { return unix.Close(fd) }

func setGoCallbacks(e *curl.CURL) error {
	return firstError(
		e.Setopt(curl.OPT_OPENSOCKETFUNCTION, goOpen),
		e.Setopt(curl.OPT_SOCKOPTFUNCTION, goSockopt),
		e.Setopt(curl.OPT_CLOSESOCKETFUNCTION, goClose),
	)
}

func setGuard(e *curl.CURL) error {
	s := &curl.Sockets{Guard: sock.NewGuard(
		sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")),
		sock.WithAnyPort(),
	)}
	return firstError(s.Install(e), e.Setopt(curl.OPT_CLOSESOCKETFUNCTION, goClose))
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// commonOptions are set on every handle of every variant (pycurl included):
// a fresh connection per transfer, no signals, no proxy from the environment.
func commonOptions(setopt func(int, any) error, url string) error {
	return firstError(
		setopt(curl.OPT_URL, url),
		setopt(curl.OPT_FORBID_REUSE, 1),
		setopt(curl.OPT_NOSIGNAL, 1),
		setopt(curl.OPT_PROXY, ""),
	)
}

// pinCPU is the CPU (-cpu) that the server, the pycurl processes and the
// thread driving libcurl share, or -1. On a VM, a client and a server on
// different CPUs pay for cross-CPU wake-ups on every request and response:
// left to the scheduler, a run flips between that slow placement and the
// fast shared one from one round to the next, which drowns the differences
// between variants. The Go runtime's other threads (sysmon, GC) stay free.
var pinCPU = -1

// pinThread binds the calling OS thread to cpu and returns a function that
// restores its affinity.
func pinThread(cpu int) (restore func(), err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, err
	}
	if err := pin(0, cpu); err != nil {
		return nil, err
	}
	return func() { unix.SchedSetaffinity(0, &old) }, nil
}

// pin binds thread or process tid (0: the calling thread) to cpu.
func pin(tid, cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(tid, &set); err != nil {
		return fmt.Errorf("pin %d to CPU %d: %w", tid, cpu, err)
	}
	return nil
}

// measureGo times n calls of perform and what they cost the process. The
// calls run on one OS thread (bound to pinCPU), whose own CPU time is measured
// too: libcurl and every callback run there, while the rest of the process's
// time goes to the Go runtime's other threads (GC, sysmon).
func measureGo(n int, counter bodyCounter, size int, perform func() error) (sample, error) {
	counter.reset()
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if pinCPU >= 0 {
		restore, err := pinThread(pinCPU)
		if err != nil {
			return sample{}, err
		}
		defer restore()
	}
	var m0, m1 runtime.MemStats
	var r0, r1, t0r, t1r unix.Rusage
	runtime.ReadMemStats(&m0)
	unix.Getrusage(unix.RUSAGE_SELF, &r0)
	unix.Getrusage(unix.RUSAGE_THREAD, &t0r)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := perform(); err != nil {
			return sample{}, fmt.Errorf("transfer %d: %w", i, err)
		}
	}
	el := time.Since(t0)
	unix.Getrusage(unix.RUSAGE_THREAD, &t1r)
	unix.Getrusage(unix.RUSAGE_SELF, &r1)
	runtime.ReadMemStats(&m1)
	if got, want := counter.get(), uint64(n)*uint64(size); got != want {
		return sample{}, fmt.Errorf("%d body bytes, want %d", got, want)
	}
	return sample{
		transfers:  n,
		seconds:    el.Seconds(),
		cpuSeconds: benchkit.CPUSeconds(r1) - benchkit.CPUSeconds(r0),
		thrSeconds: benchkit.CPUSeconds(t1r) - benchkit.CPUSeconds(t0r),
		mallocs:    m1.Mallocs - m0.Mallocs,
		allocBytes: m1.TotalAlloc - m0.TotalAlloc,
		goHeap:     true,
	}, nil
}

// easyRunner: one easy handle, curlsock's (variants (a)–(d)) or go-curl's
// own (variant (e)).
type easyRunner struct {
	perform func() error
	cleanup func()
	counter bodyCounter
	size    int
}

func newEasyRunner(url string, size int, configure func(*curl.CURL) error) (runner, error) {
	e := curl.EasyInit()
	if e == nil {
		return nil, errors.New("curl.EasyInit failed")
	}
	r := &easyRunner{perform: e.Perform, cleanup: e.Cleanup, counter: newBodyCounter(), size: size}
	if err := prepareCurl(e, r.counter, url, configure); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func newGoCurlRunner(url string, size int) (runner, error) {
	e := gocurl.EasyInit()
	if e == nil {
		return nil, errors.New("gocurl.EasyInit failed")
	}
	r := &easyRunner{perform: e.Perform, cleanup: e.Cleanup, counter: newBodyCounter(), size: size}
	err := commonOptions(func(o int, v any) error { return e.Setopt(o, v) }, url)
	if err == nil {
		err = setDiscard(e.GetHandle(), r.counter)
	}
	if err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// prepareCurl sets what every curlsock handle of the benchmark needs, then
// the variant's own configuration.
func prepareCurl(e *curl.CURL, counter bodyCounter, url string, configure func(*curl.CURL) error) error {
	err := commonOptions(e.Setopt, url)
	if err == nil {
		err = setDiscard(e.CURL.GetHandle(), counter)
	}
	if err == nil && configure != nil {
		err = configure(e)
	}
	return err
}

func (r *easyRunner) measure(n int) (sample, error) {
	return measureGo(n, r.counter, r.size, r.perform)
}

func (r *easyRunner) close() {
	r.cleanup()
	r.counter.free()
}

// multiRunner: `conc` transfers at once through one curlsock multi handle,
// in batches: add every handle, Perform/Wait until all are done, remove them.
type multiRunner struct {
	m       *curl.CURLM
	easies  []*curl.CURL
	counter bodyCounter
	size    int
}

func newMultiRunner(url string, size, conc int, configure func(*curl.CURL) error) (runner, error) {
	m := curl.MultiInit()
	if m == nil {
		return nil, errors.New("curl.MultiInit failed")
	}
	r := &multiRunner{m: m, counter: newBodyCounter(), size: size}
	for i := 0; i < conc; i++ {
		e := curl.EasyInit()
		if e == nil {
			r.close()
			return nil, errors.New("curl.EasyInit failed")
		}
		r.easies = append(r.easies, e)
		if err := prepareCurl(e, r.counter, url, configure); err != nil {
			r.close()
			return nil, err
		}
	}
	return r, nil
}

func (r *multiRunner) batch() error {
	for _, e := range r.easies {
		if err := r.m.AddHandle(e); err != nil {
			return fmt.Errorf("AddHandle: %w", err)
		}
	}
	done := 0
	drain := func() error {
		for msg, _ := r.m.Info_read(); msg != nil; msg, _ = r.m.Info_read() {
			if err := msg.Result(); err != nil {
				return fmt.Errorf("multi transfer: %w", err)
			}
			if err := r.m.RemoveHandle(msg.Easy_handle); err != nil {
				return fmt.Errorf("RemoveHandle: %w", err)
			}
			done++
		}
		return nil
	}
	for running := 1; running > 0; {
		var err error
		if running, err = r.m.Perform(); err != nil {
			return fmt.Errorf("multi Perform: %w", err)
		}
		if err := drain(); err != nil {
			return err
		}
		if running > 0 {
			if _, err := r.m.Wait(1000); err != nil {
				return fmt.Errorf("multi Wait: %w", err)
			}
		}
	}
	if err := drain(); err != nil {
		return err
	}
	if done != len(r.easies) {
		return fmt.Errorf("%d of %d transfers reported done", done, len(r.easies))
	}
	return nil
}

// measure runs ceil(n/conc) batches.
func (r *multiRunner) measure(n int) (sample, error) {
	batches := (n + len(r.easies) - 1) / len(r.easies)
	s, err := measureGo(batches, r.counter, r.size*len(r.easies), r.batch)
	s.transfers = batches * len(r.easies)
	return s, err
}

func (r *multiRunner) close() {
	r.m.Cleanup()
	for _, e := range r.easies {
		e.Cleanup()
	}
	r.counter.free()
}

// pyRunner: variants (f) and (g), pycurl_bench.py in a child process that
// keeps its handle and runs "run N" commands, so that Python's start-up is
// paid once and pycurl can be interleaved with the Go variants in rounds of
// any size.
type pyRunner struct {
	stop    func()
	stdin   io.WriteCloser
	lines   chan string
	version string
}

const pyTimeout = 3 * time.Minute

func newPyRunner(python, script, url, mode string, size, warmup int) (*pyRunner, error) {
	cmd := exec.Command(python, script, "--url", url, "--warmup", strconv.Itoa(warmup), "--mode", mode, "--size", strconv.Itoa(size))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stop, err := benchkit.StartChild(cmd, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	if pinCPU >= 0 {
		if err := pin(cmd.Process.Pid, pinCPU); err != nil {
			stop()
			return nil, fmt.Errorf("pin pycurl: %w", err)
		}
	}
	r := &pyRunner{stop: stop, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
	}()
	if _, err := r.expect("PYCURL_READY"); err != nil {
		r.close()
		return nil, fmt.Errorf("%s %s --mode %s: %w", python, filepath.Base(script), mode, err)
	}
	return r, nil
}

// expect returns the fields of the next line starting with word.
func (r *pyRunner) expect(word string) ([]string, error) {
	timeout := time.After(pyTimeout)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				return nil, fmt.Errorf("exited without %s", word)
			}
			if f := strings.Fields(line); len(f) > 0 && f[0] == word {
				return f, nil
			}
		case <-timeout:
			return nil, fmt.Errorf("no %s after %v", word, pyTimeout)
		}
	}
}

func (r *pyRunner) measure(n int) (sample, error) {
	if _, err := fmt.Fprintf(r.stdin, "run %d\n", n); err != nil {
		return sample{}, fmt.Errorf("pycurl: %w", err)
	}
	f, err := r.expect("PYCURL_RESULT")
	if err != nil {
		return sample{}, fmt.Errorf("pycurl: %w", err)
	}
	kv := map[string]string{}
	for _, p := range f[1:] {
		if k, v, ok := strings.Cut(p, "="); ok {
			kv[k] = v
		}
	}
	secs, err1 := strconv.ParseFloat(kv["seconds"], 64)
	cpu, err2 := strconv.ParseFloat(kv["cpu_seconds"], 64)
	thr, err4 := strconv.ParseFloat(kv["thread_cpu_seconds"], 64)
	got, err3 := strconv.Atoi(kv["n"])
	if err := firstError(err1, err2, err3, err4); err != nil || got != n {
		return sample{}, fmt.Errorf("bad pycurl result line %q", strings.Join(f, " "))
	}
	r.version = kv["version"]
	return sample{transfers: n, seconds: secs, cpuSeconds: cpu, thrSeconds: thr}, nil
}

func (r *pyRunner) close() {
	r.stdin.Close()
	r.stop()
}

// findPython returns a Python that can import pycurl, or "".
func findPython(flagValue string) string {
	cands := []string{flagValue}
	if flagValue == "" {
		// Debian's python3-pycurl is for Debian's python3, which a pyenv or
		// venv python3 earlier in PATH cannot import.
		cands = []string{"/usr/bin/python3", "python3"}
	}
	for _, p := range cands {
		if p == "" {
			continue
		}
		if exec.Command(p, "-c", "import pycurl").Run() == nil {
			return p
		}
	}
	return ""
}
