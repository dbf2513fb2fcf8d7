//go:build linux

package curl

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runAll drives m until no transfer is running and returns the messages.
func runAll(t *testing.T, m *CURLM) []*CURLMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var msgs []*CURLMessage
	for {
		running, err := m.Perform()
		must(t, err)
		for {
			msg, _ := m.Info_read()
			if msg == nil {
				break
			}
			msgs = append(msgs, msg)
		}
		if running == 0 {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatal("multi transfers did not finish")
		}
		_, err = m.Wait(100)
		must(t, err)
	}
}

func newMulti(t *testing.T) *CURLM {
	t.Helper()
	m := MultiInit()
	if m == nil {
		t.Fatal("MultiInit returned nil")
	}
	t.Cleanup(func() { m.Cleanup() })
	return m
}

func TestMultiConcurrentTransfers(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	m := newMulti(t)
	var rec recorder
	handles := map[*CURL]string{}
	for i := range 4 {
		e, body := newEasy(t)
		rec.install(t, e)
		must(t, e.Setopt(OPT_CLOSESOCKETDATA, i))
		must(t, e.Setopt(OPT_URL, srv.url(fmt.Sprintf("/m%d", i))))
		must(t, m.AddHandle(e))
		handles[e] = fmt.Sprintf("hello tcp4 /m%d", i)
		t.Cleanup(func() {
			if got := body.String(); got != handles[e] {
				t.Errorf("body %q, want %q", got, handles[e])
			}
		})
	}
	msgs := runAll(t, m)
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	for _, msg := range msgs {
		if _, ok := handles[msg.Easy_handle]; !ok {
			t.Fatalf("message for an unknown handle %p", msg.Easy_handle)
		}
		must(t, msg.Result())
		must(t, m.RemoveHandle(msg.Easy_handle))
	}
	if o := rec.count("open"); o != 4 {
		t.Fatalf("%d opens, want 4", o)
	}
}

func TestMultiCallbackErrorPerTransfer(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	m := newMulti(t)
	myErr := errors.New("refused in a multi")
	bad, _ := newEasy(t)
	must(t, bad.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { return SOCKET_BAD, myErr }))
	must(t, bad.Setopt(OPT_URL, srv.url("/bad")))
	good, _ := newEasy(t)
	must(t, good.Setopt(OPT_OPENSOCKETFUNCTION, func(_ any, _ SockType, a *Sockaddr) (int, error) { return OpenSocket(a) }))
	must(t, good.Setopt(OPT_URL, srv.url("/good")))
	must(t, m.AddHandle(bad))
	must(t, m.AddHandle(good))
	for _, msg := range runAll(t, m) {
		err := msg.Result()
		switch msg.Easy_handle {
		case bad:
			if !errors.Is(err, myErr) || !errors.Is(err, CurlError(E_COULDNT_CONNECT)) {
				t.Errorf("bad transfer: %v", err)
			}
		case good:
			must(t, err)
		default:
			t.Errorf("unknown handle")
		}
	}
	if len(good.CallbackErrors()) != 0 {
		t.Errorf("good transfer has callback errors %v", good.CallbackErrors())
	}
}

// A panic in a callback run by the multi is raised from the multi call.
func TestMultiPanic(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	m := newMulti(t)
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_OPENSOCKETFUNCTION, func(any, SockType, *Sockaddr) (int, error) { panic("in multi") }))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, m.AddHandle(e))
	got, _ := capturedPanic(func() {
		for range 1000 {
			if n, _ := m.Perform(); n == 0 {
				return
			}
			m.Wait(10)
		}
	})
	if got != "in multi" {
		t.Fatalf("recovered %#v", got)
	}
	must(t, m.RemoveHandle(e))
}

// A's connection outlives A in the multi's cache: B (no callbacks) reuses it,
// and the multi's cleanup closes it with A's callback and data.
func TestMultiCloseAfterEasyCleanup(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	m := MultiInit()
	var rec recorder
	a, _ := newEasy(t)
	rec.install(t, a)
	must(t, a.Setopt(OPT_CLOSESOCKETDATA, "A"))
	must(t, a.Setopt(OPT_URL, srv.url("/a")))
	must(t, m.AddHandle(a))
	runAll(t, m)
	runtime.GC()
	must(t, m.RemoveHandle(a))
	runtime.GC()
	a.Cleanup()
	runtime.GC()
	b, _ := newEasy(t)
	must(t, b.Setopt(OPT_URL, srv.url("/b")))
	must(t, m.AddHandle(b))
	runAll(t, m)
	runtime.GC()
	must(t, m.RemoveHandle(b))
	b.Cleanup()
	runtime.GC()
	if srv.Conns() != 1 || rec.count("close") != 0 {
		t.Fatalf("%d connections, %d closes before the multi's cleanup; want 1 and 0", srv.Conns(), rec.count("close"))
	}
	if got := Registrations(); got.CloseCallbacks != 1 || got.Sockets != 1 {
		t.Fatalf("registrations %+v: want A's close callback and its socket alive", got)
	}
	must(t, m.Cleanup())
	runtime.GC()
	ev := rec.Events()
	if last := ev[len(ev)-1]; last.Kind != "close" || last.Data != "A" || rec.count("close") != 1 {
		t.Fatalf("events %+v, want one close with A's data at the multi's cleanup", ev)
	}
	if got := Registrations(); got.CloseCallbacks != 0 || got.Sockets != 0 || got.Multis != 0 {
		t.Fatalf("registrations %+v after the multi's cleanup", got)
	}
}

// The server drops A's idle connection; during B's transfer libcurl prunes the
// dead connection through A's close-socket callback.
func TestMultiEvictDuringOtherTransfer(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	m := newMulti(t)
	var recA, recB recorder
	a, _ := newEasy(t)
	recA.install(t, a)
	must(t, a.Setopt(OPT_CLOSESOCKETDATA, "A"))
	must(t, a.Setopt(OPT_URL, srv.url("/a")))
	must(t, m.AddHandle(a))
	runAll(t, m)
	must(t, m.RemoveHandle(a))
	a.Cleanup()
	runtime.GC()
	srv.CloseClientConnections()
	time.Sleep(50 * time.Millisecond) // let the FIN arrive
	b, _ := newEasy(t)
	recB.install(t, b)
	must(t, b.Setopt(OPT_CLOSESOCKETDATA, "B"))
	must(t, b.Setopt(OPT_URL, srv.url("/b")))
	must(t, m.AddHandle(b))
	for _, msg := range runAll(t, m) {
		must(t, msg.Result())
	}
	if recA.count("close") != 1 || recA.Events()[len(recA.Events())-1].Data != "A" {
		t.Fatalf("A's events %+v: want its connection closed during B's transfer", recA.Events())
	}
	if recB.count("open") != 1 {
		t.Fatalf("B's events %+v: want a new connection", recB.Events())
	}
	must(t, m.RemoveHandle(b))
}

func TestMultiMisuse(t *testing.T) {
	noLeaks(t)
	m := MultiInit()
	if err := m.Setopt(MOPT_SOCKETFUNCTION, func() {}); !errors.Is(err, ErrOptionType) {
		t.Errorf("Setopt(MOPT_SOCKETFUNCTION) = %v", err)
	}
	if err := m.Setopt(MOPT_MAXCONNECTS, "x"); !errors.Is(err, ErrOptionType) {
		t.Errorf("Setopt(MOPT_MAXCONNECTS, string) = %v", err)
	}
	must(t, m.Setopt(MOPT_MAXCONNECTS, 4))
	if err := m.AddHandle(nil); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("AddHandle(nil) = %v", err)
	}
	must(t, m.Cleanup())
	must(t, m.Cleanup())
	if _, err := m.Perform(); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("Perform after Cleanup = %v", err)
	}
}

// Changing the close-socket data while the handle is in a multi keeps the old
// registration until the handle leaves it: a connection made meanwhile may
// hold the old id before it has a socket.
func TestMultiCloserChangeKeepsOld(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	m := newMulti(t)
	var rec recorder
	e, _ := newEasy(t)
	rec.install(t, e)
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "old"))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, m.AddHandle(e))
	must(t, e.Setopt(OPT_CLOSESOCKETDATA, "new"))
	if got := Registrations().CloseCallbacks; got != 2 {
		t.Fatalf("%d close registrations in the multi, want old and new", got)
	}
	runAll(t, m)
	must(t, m.RemoveHandle(e))
	// The connection's socket was opened while the old registration was
	// retired: it lives as long as that socket, in the multi's cache.
	if got := Registrations().CloseCallbacks; got != 2 {
		t.Fatalf("%d close registrations after RemoveHandle, want 2", got)
	}
	must(t, m.Cleanup())
	if got := Registrations().CloseCallbacks; got != 1 {
		t.Fatalf("%d close registrations after the multi's cleanup, want 1", got)
	}
	if n := rec.count("close"); n != 1 {
		t.Fatalf("%d close callbacks, want 1", n)
	}
}

// libcurl 8.x closes the connections a handle's own Performs cached when the
// handle joins a multi: that close runs in AddHandle's frame. A panic there
// is raised by AddHandle (not by a later, unrelated call), and a Cleanup
// from the callback waits until libcurl has returned, leaving AddHandle to
// say the handle is gone. libcurl 7.88 keeps the connection: nothing runs.
func TestMultiAddHandleClosesCachedConnection(t *testing.T) {
	for _, cleanup := range []bool{false, true} {
		t.Run(fmt.Sprintf("cleanup=%v", cleanup), func(t *testing.T) {
			noLeaks(t)
			srv := newServer(t, "tcp4")
			m := newMulti(t)
			e, _ := newEasy(t)
			armed, ran := false, 0
			must(t, e.Setopt(OPT_CLOSESOCKETFUNCTION, func(_ any, fd int) error {
				err := unix.Close(fd)
				if armed {
					ran++
					if cleanup {
						e.Cleanup()
					} else {
						panic("close in AddHandle")
					}
				}
				return err
			}))
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			must(t, e.Perform())
			armed = true
			var err error
			got, _ := capturedPanic(func() { err = m.AddHandle(e) })
			armed = false
			switch {
			case ran == 0:
				if got != nil || err != nil {
					t.Fatalf("AddHandle = %v, panic %v with no close callback", err, got)
				}
				must(t, m.RemoveHandle(e))
				return
			case cleanup:
				if got != nil || !errors.Is(err, ErrHandleClosed) {
					t.Fatalf("AddHandle = %v, panic %v; want ErrHandleClosed", err, got)
				}
				if n, err := m.Perform(); n != 0 || err != nil {
					t.Fatalf("multi Perform = %d, %v: the cleaned-up handle still runs", n, err)
				}
				return
			case got != "close in AddHandle":
				t.Fatalf("AddHandle raised %#v", got)
			}
			if p, panicked := capturedPanic(func() { e.Setopt(OPT_VERBOSE, 0) }); panicked {
				t.Fatalf("a later Setopt raised %#v", p)
			}
			must(t, m.RemoveHandle(e))
		})
	}
}
