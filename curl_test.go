//go:build linux

package curl

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	gocurl "github.com/andelf/go-curl"
	"github.com/google/go-cmp/cmp"
)

func TestVersionLine(t *testing.T) {
	t.Logf("libcurl %s (%s)", versionString(), gocurl.Version())
	if versionNum < 0x075800 {
		t.Fatalf("libcurl %s: tests expect 7.88 or later", versionString())
	}
}

func TestWrapSharesRegistration(t *testing.T) {
	noLeaks(t)
	g := gocurl.EasyInit()
	a := Wrap(g)
	b := Wrap(g)
	if a.reg != b.reg {
		t.Fatal("two wrappers of one handle have separate registrations")
	}
	if Wrap(nil) != nil {
		t.Fatal("Wrap(nil) != nil")
	}
	a.Cleanup()
	b.Cleanup() // second Cleanup of the same handle is a no-op
	// Use after Cleanup is an error, not a crash.
	if err := a.Setopt(OPT_URL, "http://127.0.0.1/"); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("Setopt after Cleanup = %v", err)
	}
	if err := a.Perform(); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("Perform after Cleanup = %v", err)
	}
	if a.Duphandle() != nil {
		t.Error("Duphandle after Cleanup returned a handle")
	}
	a.Reset()
}

func TestGoCurlOptionsPassThrough(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/plain")))
	must(t, e.Perform())
	if got, want := body.String(), "hello tcp4 /plain"; got != want {
		t.Fatalf("body %q, want %q", got, want)
	}
	// go-curl panics on values it cannot convert; curlsock returns errors.
	for _, tc := range []struct {
		opt   int
		param any
	}{
		{OPT_TIMEOUT, 1.5},
		{OPT_POSTFIELDSIZE_LARGE, "x"},
		{OPT_WRITEFUNCTION, 42},
	} {
		if err := e.Setopt(tc.opt, tc.param); !errors.Is(err, ErrOptionType) {
			t.Errorf("Setopt(%d, %T) = %v, want ErrOptionType", tc.opt, tc.param, err)
		}
	}
}

// A plain libcurl failure comes back exactly as go-curl returns it.
func TestPerformReturnsGoCurlError(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t))))
	err := e.Perform()
	ce, ok := err.(CurlError)
	if !ok || ce != CurlError(E_COULDNT_CONNECT) {
		t.Fatalf("Perform = %#v, want CurlError(E_COULDNT_CONNECT)", err)
	}
	// The same with callbacks installed that did not fail.
	var rec recorder
	rec.install(t, e)
	err = e.Perform()
	if ce, ok := err.(CurlError); !ok || ce != CurlError(E_COULDNT_CONNECT) {
		t.Fatalf("with callbacks: Perform = %#v, want CurlError(E_COULDNT_CONNECT)", err)
	}
}

func TestDuphandle(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	var rec recorder
	a := EasyInit()
	rec.install(t, a)
	must(t, a.Setopt(OPT_OPENSOCKETDATA, "A-open"))
	must(t, a.Setopt(OPT_CLOSESOCKETDATA, "A-close"))
	must(t, a.Setopt(OPT_URL, srv.url("/dup")))
	d := a.Duphandle()
	if d == nil {
		t.Fatal("Duphandle returned nil")
	}
	must(t, d.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	if d.reg == a.reg {
		t.Fatal("duplicate shares the original's registration")
	}
	a.Cleanup()
	runtime.GC()
	must(t, d.Perform())
	d.Cleanup()
	got := rec.Events()
	if len(got) != 3 {
		t.Fatalf("events %+v, want open, sockopt, close", got)
	}
	if got[0].Data != "A-open" || got[2].Data != "A-close" {
		t.Fatalf("duplicate's callbacks got %v and %v, want the original's data", got[0].Data, got[2].Data)
	}
}

// Reset detaches the callbacks, but a connection the handle cached while they
// were set still closes through the old close-socket callback and data.
func TestReset(t *testing.T) {
	noLeaks(t)
	s1 := newServer(t, "tcp4")
	s2 := newServer(t, "tcp4")
	var rec recorder
	e, _ := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "old"))
	must(t, e.Setopt(OPT_URL, s1.url("/1")))
	must(t, e.Perform())
	e.Reset()
	must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	must(t, e.Setopt(OPT_URL, s1.url("/2")))
	must(t, e.Perform())
	if s1.Conns() != 1 {
		t.Fatalf("after Reset the cached connection was not reused: %d connections", s1.Conns())
	}
	must(t, e.Setopt(OPT_URL, s2.url("/3")))
	must(t, e.Perform())
	if n := rec.count("open"); n != 1 {
		t.Fatalf("%d opens, want 1: callbacks ran after Reset", n)
	}
	e.Cleanup()
	closes := 0
	for _, ev := range rec.Events() {
		if ev.Kind == "close" {
			closes++
			if ev.Data != "old" {
				t.Errorf("close with data %v, want old", ev.Data)
			}
		}
	}
	if closes != 1 {
		t.Fatalf("%d closes through the callback, want 1 (s1's connection)", closes)
	}
}

// The hard case of libcurl's lifetime rules: a connection made by a handle
// with callbacks lives on in a go-curl multi after the handle's Cleanup, and
// the multi's cleanup closes it with the dead handle's callback and data.
func TestCloseAfterCleanupInGoCurlMulti(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	var rec recorder
	a := EasyInit()
	rec.install(t, a)
	must(t, a.Setopt(OPT_CLOSESOCKETDATA, "A"))
	must(t, a.Setopt(OPT_URL, srv.url("/a")))
	must(t, a.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))

	m := gocurl.MultiInit()
	runMulti(t, m, a.CURL)
	must(t, m.RemoveHandle(a.CURL))
	a.Cleanup()
	runtime.GC()
	if n := rec.count("close"); n != 0 {
		t.Fatalf("%d closes before the multi's cleanup, want 0", n)
	}
	if Registrations().CloseCallbacks == 0 {
		t.Fatal("the close registration was freed while the multi still holds its connection")
	}

	b := EasyInit() // no callbacks: reuses A's connection
	must(t, b.Setopt(OPT_URL, srv.url("/b")))
	must(t, b.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	runMulti(t, m, b.CURL)
	must(t, m.RemoveHandle(b.CURL))
	b.Cleanup()
	runtime.GC()
	if srv.Conns() != 1 {
		t.Fatalf("%d connections, want 1 reused", srv.Conns())
	}
	must(t, m.Cleanup())
	runtime.GC()
	closes := 0
	for _, ev := range rec.Events() {
		if ev.Kind == "close" {
			closes++
			if ev.Data != "A" {
				t.Errorf("close with data %v, want A", ev.Data)
			}
		}
	}
	if closes != 1 {
		t.Fatalf("%d closes at multi cleanup, want 1", closes)
	}
}

// runMulti drives one transfer through a go-curl multi to completion.
func runMulti(t *testing.T, m *gocurl.CURLM, e *gocurl.CURL) {
	t.Helper()
	must(t, m.AddHandle(e))
	deadline := time.Now().Add(10 * time.Second)
	for {
		running, err := m.Perform()
		must(t, err)
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("multi transfer did not finish")
		}
		time.Sleep(time.Millisecond)
	}
	msg, _ := m.Info_read()
	if msg == nil {
		t.Fatal("no message from the multi")
	}
}

// A callback panic is raised again from the curlsock call that drove libcurl,
// with its original value; the rest of that call's callbacks do not run.
func TestPanicInEachCallback(t *testing.T) {
	type marker struct{ name string }
	for _, kind := range []string{"open", "sockopt", "close"} {
		t.Run(kind, func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, "tcp4")
			var rec recorder
			e, _ := newEasy(t)
			rec.install(t, e)
			want := &marker{kind}
			calls := 0
			switch kind {
			case "open":
				must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(d any, p SockType, a *Sockaddr) (int, error) {
					calls++
					panic(want)
				}))
			case "sockopt":
				must(t, e.Setopt(OPT_SOCKOPTFUNCTION, func(any, int, SockType) (int, error) {
					calls++
					panic(want)
				}))
			case "close":
				must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(any, int) error {
					calls++
					panic(want)
				}))
				must(t, e.Setopt(OPT_FORBID_REUSE, 1))
			}
			// Two addresses: after the panic the second attempt must fail
			// without running Go code.
			_, port, _ := net.SplitHostPort(srv.Addr)
			must(t, e.Setopt(OPT_RESOLVE, []string{"two.test:" + port + ":127.0.0.1,127.0.0.1"}))
			must(t, e.Setopt(OPT_URL, "http://two.test:"+port+"/"))
			got, _ := capturedPanic(func() { e.Perform() })
			if got != want {
				t.Fatalf("recovered %#v, want the callback's own value %#v", got, want)
			}
			if calls != 1 {
				t.Fatalf("the panicking callback ran %d times, want 1", calls)
			}
			// The handle works again once the panic was raised.
			must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, rec.open))
			must(t, e.Setopt(OPT_SOCKOPTFUNCTION, rec.sockopt))
			must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, rec.close))
			must(t, e.Perform())
		})
	}
}

// A panic in a close-socket callback during Cleanup is raised from Cleanup,
// and the socket is still closed.
func TestPanicInCloseDuringCleanup(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e := EasyInit()
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(any, int) error { panic("boom") }))
	must(t, e.Perform())
	if got, _ := capturedPanic(e.Cleanup); got != "boom" {
		t.Fatalf("Cleanup raised %#v, want \"boom\"", got)
	}
}

// Errors of one Perform never show up in the next.
func TestErrorsDoNotCarryOver(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	refuse := true
	myErr := errors.New("no")
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		if refuse {
			return SOCKET_BAD, myErr
		}
		return OpenSocket(a)
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	if err := e.Perform(); !errors.Is(err, myErr) {
		t.Fatalf("first Perform = %v, want %v", err, myErr)
	}
	refuse = false
	must(t, e.Perform())
	must(t, e.Setopt(OPT_URL, fmt.Sprintf("http://127.0.0.1:%d/", closedPort(t))))
	err := e.Perform()
	if errors.Is(err, myErr) {
		t.Fatalf("third Perform = %v: carries the first one's error", err)
	}
	if _, ok := err.(CurlError); !ok {
		t.Fatalf("third Perform = %#v, want a plain CurlError", err)
	}
}

func TestSetoptWrongTypes(t *testing.T) {
	noLeaks(t)
	e, _ := newEasy(t)
	for _, tc := range []struct {
		opt   int
		param any
	}{
		{OPT_OPENSOCKETFUNCTION, func() {}},
		{OPT_OPENSOCKETFUNCTION, "x"},
		{OPT_SOCKOPTFUNCTION, func(any, int) error { return nil }},
		{OPT_CLOSESOCKETFUNCTION, func(any, int, SockType) (int, error) { return 0, nil }},
	} {
		err := e.Setopt(tc.opt, tc.param)
		if !errors.Is(err, ErrOptionType) {
			t.Errorf("Setopt(%d, %T) = %v, want ErrOptionType", tc.opt, tc.param, err)
		}
	}
	// Typed nils unset like nil.
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, OpenSocketFunc(nil)))
	must(t, e.Setopt(OPT_SOCKOPTFUNCTION, SockoptFunc(nil)))
	must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, CloseSocketFunc(nil)))
}

func TestErrorMessage(t *testing.T) {
	err := &Error{Code: CurlError(E_COULDNT_CONNECT), Callbacks: []*CallbackError{
		{Callback: "opensocket", FD: -1, Addr: "127.0.0.1:80", Err: errors.New("denied")},
		{Callback: "sockopt", FD: 7, Addr: "[::1]:443", Err: ErrSockoptFailed},
	}}
	// libcurl's own message differs between versions.
	want := CurlError(E_COULDNT_CONNECT).Error() + " (opensocket 127.0.0.1:80: denied; sockopt [::1]:443 (fd 7): curlsock: sockopt callback failed)"
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Fatal(diff)
	}
}

// A handle duplicated with go-curl's own Duphandle carries the original's
// registration ids. Once the original is cleaned up they resolve to nothing,
// and the copy's connection attempts fail closed instead of running freed
// callbacks.
func TestUnattributedOpenFailsClosed(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	a := EasyInit()
	calls := 0
	must(t, a.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, addr *Sockaddr) (int, error) {
		calls++
		return OpenSocket(addr)
	}))
	d := Wrap(a.CURL.Duphandle())
	t.Cleanup(d.Cleanup)
	a.Cleanup()
	runtime.GC()
	must(t, d.Setopt(OPT_URL, srv.url("/")))
	must(t, d.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
	err := d.Perform()
	if !errors.Is(err, CurlError(E_COULDNT_CONNECT)) || !errors.Is(err, ErrUnattributed) {
		t.Fatalf("Perform = %v, want E_COULDNT_CONNECT and ErrUnattributed", err)
	}
	if calls != 0 || srv.Conns() != 0 {
		t.Fatalf("%d callback calls, %d connections: want none", calls, srv.Conns())
	}
}

// Handles created and cleaned up on many goroutines at once: malloc reuses
// addresses at once, and a new handle must never inherit a dead handle's
// registration.
func TestEasyInitRacesCleanup(t *testing.T) {
	noLeaks(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				e := EasyInit()
				if err := e.Setopt(OPT_CLOSESOCKETFUNCTION, func(any, int) error { return nil }); err != nil {
					errs <- err
					e.Cleanup()
					return
				}
				e.Cleanup()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A panic in a callback run by go-curl's own multi, which curlsock cannot
// see, is raised from the handle's next curlsock call; the handle's
// callbacks are not disabled meanwhile.
func TestPanicBehindCurlsocksBack(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	n := 0
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) {
		n++
		if n == 1 {
			panic("behind the back")
		}
		return OpenSocket(a)
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	m := gocurl.MultiInit()
	defer m.Cleanup()
	must(t, m.AddHandle(e.CURL))
	for i := 0; i < 1000; i++ {
		if running, _ := m.Perform(); running == 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	must(t, m.RemoveHandle(e.CURL))
	if got, _ := capturedPanic(func() { e.Setopt(OPT_VERBOSE, 0) }); got != "behind the back" {
		t.Fatalf("next call raised %#v", got)
	}
	runMulti(t, m, e.CURL)
	must(t, m.RemoveHandle(e.CURL))
	if n != 2 || srv.Conns() != 1 {
		t.Fatalf("%d callback calls, %d connections: the handle should work again", n, srv.Conns())
	}
}
