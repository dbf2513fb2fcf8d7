//go:build linux

package curl

// Hostile callbacks under an Engine and PerformContext (see hostile_test.go
// for Perform): a panic fails its own transfer only, a Cleanup from a
// callback ends the transfer, a Goexit abandons the shard and the engine
// goes on with a new one.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// gateServer answers /gate/... once release is closed, others at once.
func gateServer(t *testing.T) (srv *testServer, arrived <-chan struct{}, release func()) {
	t.Helper()
	gate := make(chan struct{})
	in := make(chan struct{}, 16)
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	srv = newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // so that uploads are sent
		if strings.HasPrefix(r.URL.Path, "/gate/") {
			in <- struct{}{}
			<-gate
		}
		fmt.Fprintf(w, "ok %s", r.URL.Path)
	}))
	return srv, in, release
}

// TestEngineHostilePanic: a panic in any callback is raised again from the
// Do of its transfer, in the caller's goroutine; another transfer in flight
// on the same shard completes, and the panicking handle works again.
func TestEngineHostilePanic(t *testing.T) {
	for _, kind := range hostileKinds {
		t.Run(kind, func(t *testing.T) {
			noLeaks(t)
			srv, arrived, release := gateServer(t)
			eng := newEngine(t, WithShards(1))

			other, otherBody := newEasy(t)
			must(t, other.Setopt(OPT_URL, srv.url("/gate/other")))
			otherErr := make(chan error, 1)
			go func() { otherErr <- eng.Do(context.Background(), other) }()
			select {
			case <-arrived:
			case err := <-otherErr:
				t.Fatalf("the gated transfer ended early: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the gated transfer did not reach the server")
			}

			e, _ := hostileEasy(t)
			installHostile(t, e, kind, func() { panic("hostile " + kind) })
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			var err error
			v, panicked := capturedPanic(func() { err = eng.Do(context.Background(), e) })
			if !panicked || v != "hostile "+kind {
				t.Fatalf("Do with a panicking %s callback: panicked=%v value=%v, returned %v", kind, panicked, v, err)
			}

			release()
			if err := <-otherErr; err != nil || otherBody.String() != "ok /gate/other" {
				t.Fatalf("the other transfer on the shard: %v, body %q", err, otherBody.String())
			}
			// The panicking handle is usable again.
			installHostile(t, e, kind, func() {})
			if err := eng.Do(context.Background(), e); err != nil {
				t.Fatalf("Do again after the panic: %v", err)
			}
			e.Cleanup()
			other.Cleanup()
			must(t, eng.Close())
		})
	}
}

func TestPerformContextHostilePanic(t *testing.T) {
	for _, kind := range hostileKinds {
		t.Run(kind, func(t *testing.T) {
			noLeaks(t)
			srv := hostileServer(t)
			e, _ := hostileEasy(t)
			installHostile(t, e, kind, func() { panic("hostile " + kind) })
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			v, panicked := capturedPanic(func() { e.PerformContext(context.Background()) })
			if !panicked || v != "hostile "+kind {
				t.Fatalf("PerformContext with a panicking %s callback: panicked=%v value=%v", kind, panicked, v)
			}
			installHostile(t, e, kind, func() {})
			if err := e.PerformContext(context.Background()); err != nil {
				t.Fatalf("PerformContext again after the panic: %v", err)
			}
			e.Cleanup()
		})
	}
}

// TestEngineHostileCleanup: Cleanup of the handle from any of its callbacks
// ends the transfer with ErrHandleClosed and leaks nothing.
func TestEngineHostileCleanup(t *testing.T) {
	for _, kind := range hostileKinds {
		t.Run(kind, func(t *testing.T) {
			doBoth(t, func(t *testing.T, mk func(*testing.T) runner) {
				noLeaks(t)
				run := mk(t)
				srv := hostileServer(t)
				e, _ := hostileEasy(t)
				installHostile(t, e, kind, e.Cleanup)
				must(t, e.Setopt(OPT_URL, srv.url("/")))
				if err := run(context.Background(), e); !errors.Is(err, ErrHandleClosed) {
					t.Fatalf("transfer whose %s callback cleaned up its handle = %v, want ErrHandleClosed", kind, err)
				}
				if err := e.Setopt(OPT_VERBOSE, 0); !errors.Is(err, ErrHandleClosed) {
					t.Errorf("Setopt after = %v, want ErrHandleClosed", err)
				}
			})
		})
	}
}

// TestEngineHostileReentrant: Perform from a callback of a transfer on an
// engine is refused by libcurl (the handle is in a multi), and the transfer
// goes on.
func TestEngineHostileReentrant(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	eng := newEngine(t)
	e, body := hostileEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	var nested error
	var once sync.Once
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		once.Do(func() { nested = e.Perform() })
		body.Write(b)
		return true
	}))
	if err := eng.Do(context.Background(), e); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if !errors.Is(nested, CurlError(2)) || body.String() != "ok" {
		t.Fatalf("Perform inside the transfer's callback = %v (body %q), want CURLE_FAILED_INIT", nested, body.String())
	}
	e.Cleanup()
	must(t, eng.Close())
}

// TestEngineHostileGoexit: runtime.Goexit in a callback (what t.Fatal does)
// ends the goroutine driving the shard inside libcurl. The transfers of
// that shard end with ErrTransferLost, and the engine starts a new shard:
// a fresh handle's Do succeeds. Under PerformContext it ends the caller's
// goroutine, as under Perform. Runs in a child process: what libcurl held
// for the abandoned multi leaks by design.
func TestEngineHostileGoexit(t *testing.T) {
	for _, via := range []string{"engine", "pc"} {
		for _, kind := range hostileKinds {
			t.Run(via+"-"+kind, func(t *testing.T) {
				t.Parallel()
				out, rep, code := runHostileChild(t, "enginegoexit/"+via+"-"+kind, "ASAN_OPTIONS=detect_leaks=0")
				if code != 0 || rep["done"] != "" && rep["done"] != "true" {
					t.Fatalf("Goexit in the %s callback: %s", kind, hostileChildFailure(out, code))
				}
				want := map[string]string{"cleanup": "returned", "fresh": "<nil>", "close": "<nil>"}
				if via == "engine" {
					want["returned"] = ErrTransferLost.Error()
				} else {
					want["returned"] = "false"
				}
				for k, v := range want {
					if rep[k] != v {
						t.Errorf("%s = %q, want %q\n%s", k, rep[k], v, hostileTail(out, 30))
					}
				}
				if rep["again"] == "<nil>" || rep["again"] == "" {
					t.Errorf("a second transfer on the abandoned handle = %q, want an error", rep["again"])
				}
				t.Logf("libcurl %s: again=%s, registrations %s", rep["libcurl"], rep["again"], rep["registrations"])
			})
		}
	}
}

// TestEngineHostileGoexitSpecial: runtime.Goexit where the shard's goroutine
// is not in a round: in a close callback run by Close (Close returns), and
// while starting one of several queued transfers (the ones queued after it
// end with ErrTransferLost instead of waiting forever).
func TestEngineHostileGoexitSpecial(t *testing.T) {
	for _, scenario := range []string{"at-close", "in-batch"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			out, rep, code := runHostileChild(t, "enginegoexit/"+scenario, "ASAN_OPTIONS=detect_leaks=0")
			if code != 0 || rep["done"] != "true" {
				t.Fatalf("Goexit %s: %s", scenario, hostileChildFailure(out, code))
			}
			t.Logf("libcurl %s: %v", rep["libcurl"], rep)
		})
	}
}

// hostileChildEngineGoexitSpecial is the child of TestEngineHostileGoexitSpecial.
func hostileChildEngineGoexitSpecial(t *testing.T, scenario string) {
	srv, arrived, release := gateServer(t)
	eng := NewEngine(WithShards(1))
	switch scenario {
	case "at-close":
		e, _ := hostileEasy(t)
		must(t, e.Setopt(OPT_URL, srv.url("/")))
		must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(any, int) error { runtime.Goexit(); return nil }))
		must(t, eng.Do(context.Background(), e))
		var err error
		if !returnsWithin(t, 20*time.Second, "Close", func() { err = eng.Close() }) {
			t.Error("Close did not return")
		}
		hostileReport("close", err)
	case "in-batch":
		// A blocks the shard in its write callback while B and C queue; B's
		// open callback ends the goroutine while C waits in the same batch.
		a, _ := hostileEasy(t)
		must(t, a.Setopt(OPT_URL, srv.url("/gate/a")))
		block := make(chan struct{})
		must(t, a.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { <-block; return true }))
		aErr := make(chan error, 1)
		go func() { aErr <- eng.Do(context.Background(), a) }()
		<-arrived
		release()
		time.Sleep(100 * time.Millisecond) // A is in its write callback
		b, _ := hostileEasy(t)
		must(t, b.Setopt(OPT_URL, srv.url("/")))
		must(t, b.Setopt(OPT_FRESH_CONNECT, 1)) // not A's connection, which is free by then
		must(t, b.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { runtime.Goexit(); return 0, nil }))
		c, _ := hostileEasy(t)
		must(t, c.Setopt(OPT_URL, srv.url("/c")))
		bErr, cErr := make(chan error, 1), make(chan error, 1)
		go func() { bErr <- eng.Do(context.Background(), b) }()
		time.Sleep(50 * time.Millisecond)
		go func() { cErr <- eng.Do(context.Background(), c) }()
		time.Sleep(50 * time.Millisecond)
		close(block)
		for name, ch := range map[string]chan error{"a": aErr, "b": bErr, "c": cErr} {
			select {
			case err := <-ch:
				hostileReport(name, err)
				if name != "a" && !errors.Is(err, ErrTransferLost) {
					t.Errorf("the Do of %s = %v, want ErrTransferLost", name, err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("the Do of %s never returned", name)
			}
		}
		returnsWithin(t, 20*time.Second, "Close", func() { eng.Close() })
	}
	hostileReport("done", !t.Failed())
	if t.Failed() {
		syscall.Exit(1)
	}
	syscall.Exit(0)
}

// hostileChildEngineGoexit is the child of TestEngineHostileGoexit.
func hostileChildEngineGoexit(t *testing.T, scenario string) {
	if scenario == "at-close" || scenario == "in-batch" {
		hostileChildEngineGoexitSpecial(t, scenario)
		return
	}
	via, kind, _ := strings.Cut(scenario, "-")
	srv := hostileServer(t)
	eng := NewEngine(WithShards(1))
	e, _ := hostileEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	installHostile(t, e, kind, runtime.Goexit)
	if via == "engine" {
		var err error
		returnsWithin(t, 20*time.Second, "Do", func() { err = eng.Do(context.Background(), e) })
		hostileReport("returned", err)
	} else {
		// As in hostileChildGoexit: under AddressSanitizer the goroutine
		// keeps its thread, which ends with it.
		hostileReport("returned", returnsWithin(t, 20*time.Second, "PerformContext", func() {
			if asanBuild() {
				runtime.LockOSThread()
			}
			e.PerformContext(context.Background())
		}))
	}
	var again error
	returnsWithin(t, 20*time.Second, "a second transfer", func() {
		if via == "engine" {
			again = eng.Do(context.Background(), e)
		} else {
			again = e.PerformContext(context.Background())
		}
	})
	hostileReport("again", again)
	returnsWithin(t, 20*time.Second, "Cleanup", e.Cleanup)
	hostileReport("cleanup", "returned")
	f, _ := hostileEasy(t)
	must(t, f.Setopt(OPT_URL, srv.url("/")))
	var fresh error
	returnsWithin(t, 20*time.Second, "a fresh handle's Do", func() { fresh = eng.Do(context.Background(), f) })
	hostileReport("fresh", fresh)
	f.Cleanup()
	var closeErr error
	returnsWithin(t, 20*time.Second, "Close", func() { closeErr = eng.Close() })
	hostileReport("close", closeErr)
	hostileReport("registrations", fmt.Sprintf("%+v", Registrations()))
	hostileReport("done", !t.Failed())
	// What the abandoned multi held leaks by design: skip TestMain's checks.
	if t.Failed() {
		syscall.Exit(1)
	}
	syscall.Exit(0)
}

// TestEngineHostileReentry: Do and Close from a callback running on the
// shard they would wait for return ErrEngineReentry instead of deadlocking.
func TestEngineHostileReentry(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	eng := newEngine(t, WithShards(1))
	e, _ := hostileEasy(t)
	inner, _ := hostileEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, inner.Setopt(OPT_URL, srv.url("/inner")))
	var doErr, closeErr error
	var once sync.Once
	must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool {
		once.Do(func() {
			doErr = eng.Do(context.Background(), inner)
			closeErr = eng.Close()
		})
		return true
	}))
	if err := eng.Do(context.Background(), e); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if !errors.Is(doErr, ErrEngineReentry) || !errors.Is(closeErr, ErrEngineReentry) {
		t.Fatalf("from the shard's callback: Do = %v, Close = %v, want ErrEngineReentry", doErr, closeErr)
	}
	// The inner handle was never claimed.
	if err := eng.Do(context.Background(), inner); err != nil {
		t.Fatalf("Do of the inner handle afterwards: %v", err)
	}
	e.Cleanup()
	inner.Cleanup()
	must(t, eng.Close())
}

// TestEngineHostileCloseAtClose: a close callback that panics while the
// engine closes its cache: Close returns, and the panic is raised by the
// next call on the handle that set the callback, which works after it.
func TestEngineHostileCloseAtClose(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	eng := NewEngine(WithShards(1))
	e, _ := hostileEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	panicking := true
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		if panicking {
			panic("close at Close")
		}
		return unix.Close(fd)
	}))
	must(t, eng.Do(context.Background(), e))
	must(t, eng.Close())
	v, panicked := capturedPanic(func() { e.Perform() })
	if !panicked || v != "close at Close" {
		t.Fatalf("the next call after Close: panicked=%v value=%v", panicked, v)
	}
	panicking = false
	if err := e.Perform(); err != nil {
		t.Fatalf("Perform after the panic was raised: %v", err)
	}
	e.Cleanup()
}

// TestEngineHostileNestedReentry: Do from a callback of a Perform run inside
// an engine callback is still on the shard's goroutine: ErrEngineReentry,
// not a deadlock.
func TestEngineHostileNestedReentry(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	eng := newEngine(t, WithShards(1))
	outer, _ := hostileEasy(t)
	nested, _ := hostileEasy(t)
	third, _ := hostileEasy(t)
	for _, e := range []*CURL{outer, nested, third} {
		must(t, e.Setopt(OPT_URL, srv.url("/")))
	}
	var doErr error
	var once sync.Once
	must(t, nested.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool {
		doErr = eng.Do(context.Background(), third)
		return true
	}))
	must(t, outer.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool {
		once.Do(func() { must(t, nested.Perform()) })
		return true
	}))
	if err := eng.Do(context.Background(), outer); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if !errors.Is(doErr, ErrEngineReentry) {
		t.Fatalf("Do from a nested Perform's callback on the shard = %v, want ErrEngineReentry", doErr)
	}
	for _, e := range []*CURL{outer, nested, third} {
		e.Cleanup()
	}
	must(t, eng.Close())
}

// TestEngineHostileCleanupAtClose: a close callback run by Close that cleans
// up another handle: that handle is freed too.
func TestEngineHostileCleanupAtClose(t *testing.T) {
	noLeaks(t)
	srv := hostileServer(t)
	eng := NewEngine(WithShards(1))
	victim, _ := hostileEasy(t)
	e, _ := hostileEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
		victim.Cleanup()
		return unix.Close(fd)
	}))
	must(t, eng.Do(context.Background(), e))
	e.Cleanup()
	must(t, eng.Close())
	if r := Registrations(); r.Handles != 0 {
		t.Fatalf("after Close: %+v, want the handle cleaned up by the close callback freed", r)
	}
}
