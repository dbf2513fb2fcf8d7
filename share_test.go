//go:build linux

package curl

import (
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"

	gocurl "github.com/andelf/go-curl"
)

func newShare(t *testing.T, data ...int) *CURLSH {
	t.Helper()
	sh := ShareInit()
	if sh == nil {
		t.Fatal("ShareInit returned nil")
	}
	for _, d := range data {
		must(t, sh.Setopt(SHOPT_SHARE, d))
	}
	return sh
}

// With a shared connection cache, A's connection outlives A: B reuses it
// without B's callbacks ever running for it, and the share's cleanup closes it
// with A's callback and data.
func TestShareConnectCache(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	sh := newShare(t, LOCK_DATA_CONNECT)
	var recA, recB recorder
	a, _ := newEasy(t)
	recA.install(t, a)
	must(t, a.Setopt(OPT_CLOSESOCKETDATA, "A"))
	must(t, a.Setopt(OPT_SHARE, sh))
	must(t, a.Setopt(OPT_URL, srv.url("/a")))
	must(t, a.Perform())
	a.Cleanup()
	runtime.GC()
	b, _ := newEasy(t)
	recB.install(t, b)
	must(t, b.Setopt(OPT_SHARE, sh))
	must(t, b.Setopt(OPT_URL, srv.url("/b")))
	must(t, b.Perform())
	b.Cleanup()
	runtime.GC()
	if srv.Conns() != 1 || len(recB.Events()) != 0 || recA.count("close") != 0 {
		t.Fatalf("%d connections; B's events %+v; A's closes %d: want 1 reused connection, nothing else",
			srv.Conns(), recB.Events(), recA.count("close"))
	}
	must(t, sh.Cleanup())
	runtime.GC()
	ev := recA.Events()
	if last := ev[len(ev)-1]; last.Kind != "close" || last.Data != "A" {
		t.Fatalf("A's events %+v: want a close with A's data at the share's cleanup", ev)
	}
	if got := Registrations(); got.CloseCallbacks != 0 || got.Shares != 0 {
		t.Fatalf("registrations %+v after the share's cleanup", got)
	}
}

// Cookies set on one goroutine's handle reach another's, with libcurl's
// locking done by curlsock's own lock callbacks (run under -race). The
// transfers take turns: libcurl does not support sharing cookies between
// concurrent transfers (CURLSHOPT_SHARE), and since 8.12.0 it reads the
// shared jar outside the share lock (curl #16838, #17774), so that concurrent
// ones crash or hang it.
func TestShareAcrossGoroutines(t *testing.T) {
	noLeaks(t)
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			http.SetCookie(w, &http.Cookie{Name: "k", Value: "shared"})
			return
		}
		c, err := r.Cookie("k")
		if err != nil {
			http.Error(w, "no cookie", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, c.Value)
	}))
	sh := newShare(t, LOCK_DATA_COOKIE, LOCK_DATA_DNS, LOCK_DATA_SSL_SESSION)
	defer func() { must(t, sh.Cleanup()) }()
	setter, _ := newEasy(t)
	must(t, setter.Setopt(OPT_SHARE, sh))
	must(t, setter.Setopt(OPT_COOKIEFILE, ""))
	must(t, setter.Setopt(OPT_URL, srv.url("/set")))
	must(t, setter.Perform())
	setter.Cleanup()

	var wg sync.WaitGroup
	var cookies sync.Mutex // one cookie-sending transfer at a time
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := EasyInit()
			defer e.Cleanup()
			var body []byte
			e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool { body = append(body, b...); return true })
			e.Setopt(OPT_SHARE, sh)
			e.Setopt(OPT_COOKIEFILE, "")
			e.Setopt(OPT_URL, srv.url("/get"))
			for range 10 {
				body = body[:0]
				cookies.Lock()
				err := e.Perform()
				cookies.Unlock()
				if err != nil {
					errs <- err
					return
				}
				if string(body) != "shared" {
					errs <- fmt.Errorf("body %q, want the shared cookie", body)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestShareMisuse(t *testing.T) {
	noLeaks(t)
	sh := newShare(t)
	if err := sh.Setopt(SHOPT_LOCKFUNC, 1); !errors.Is(err, ErrOptionType) {
		t.Errorf("Setopt(SHOPT_LOCKFUNC) = %v", err)
	}
	if err := sh.Setopt(SHOPT_SHARE, "cookies"); !errors.Is(err, ErrOptionType) {
		t.Errorf("Setopt(SHOPT_SHARE, string) = %v", err)
	}
	e, _ := newEasy(t)
	gsh := gocurl.ShareInit()
	defer gsh.Cleanup()
	if err := e.Setopt(OPT_SHARE, gsh); !errors.Is(err, ErrOptionType) {
		t.Errorf("Setopt(OPT_SHARE, go-curl share) = %v", err)
	}
	if err := e.Setopt(OPT_SHARE, 42); !errors.Is(err, ErrOptionType) {
		t.Errorf("Setopt(OPT_SHARE, 42) = %v", err)
	}
	must(t, e.Setopt(OPT_SHARE, sh))
	// In use: libcurl refuses, and the share stays usable.
	if err := sh.Cleanup(); err != CurlShareError(SHE_IN_USE) {
		t.Errorf("Cleanup while in use = %v, want SHE_IN_USE", err)
	}
	must(t, e.Setopt(OPT_SHARE, nil))
	must(t, sh.Cleanup())
	must(t, sh.Cleanup())
	if err := sh.Setopt(SHOPT_SHARE, LOCK_DATA_DNS); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("Setopt after Cleanup = %v", err)
	}
	if err := e.Setopt(OPT_SHARE, sh); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("attaching a cleaned-up share = %v", err)
	}
}
