//go:build linux

package curl

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Lists are C memory libcurl keeps pointers to: replacing one, cleaning up,
// and duplicating must neither leak (go test -asan checks at exit) nor leave
// a handle pointing at freed memory.
func TestSlistOptions(t *testing.T) {
	noLeaks(t)
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("X-A"), ",", r.Header.Get("X-B"))
	}))
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_HTTPHEADER, []string{"X-A: 1"}))
	must(t, e.Setopt(OPT_HTTPHEADER, []string{"X-A: 2", "X-B: 3"}))
	d := e.Duphandle()
	defer d.Cleanup()
	var dupBody strings.Builder
	must(t, d.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool { dupBody.Write(b); return true }))
	e.Cleanup() // frees e's list; d must have its own
	runtime.GC()
	must(t, d.Perform())
	if dupBody.String() != "2,3" {
		t.Fatalf("duplicate sent headers %q, want 2,3", dupBody.String())
	}
	must(t, d.Setopt(OPT_HTTPHEADER, nil))
	dupBody.Reset()
	must(t, d.Perform())
	if dupBody.String() != "," {
		t.Fatalf("after unsetting: %q", dupBody.String())
	}
	_ = body
	if err := d.Setopt(OPT_HTTPHEADER, "X-A: 1"); !errors.Is(err, ErrOptionType) {
		t.Fatalf("a string for a list option: %v", err)
	}
}

// POSTFIELDS is the one string libcurl does not copy.
func TestPostfieldsKeptAlive(t *testing.T) {
	noLeaks(t)
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_POSTFIELDS, "first=1"))
	must(t, e.Setopt(OPT_POSTFIELDS, []byte("second=2")))
	runtime.GC()
	d := e.Duphandle()
	defer d.Cleanup()
	must(t, e.Perform())
	if body.String() != "second=2" {
		t.Fatalf("posted %q", body.String())
	}
	var dupBody strings.Builder
	must(t, d.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool { dupBody.Write(b); return true }))
	e.Cleanup()
	must(t, d.Perform())
	if dupBody.String() != "second=2" {
		t.Fatalf("duplicate posted %q", dupBody.String())
	}
}

// POSTFIELDS replaced by a caller-owned CurlString: the copy kept for the
// earlier string is dropped, and a Duphandle posts the new value too.
// COPYPOSTFIELDS, which libcurl copies, takes a string or []byte.
func TestPostfieldsVariants(t *testing.T) {
	noLeaks(t)
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	post := func(e *CURL) string {
		t.Helper()
		var b strings.Builder
		must(t, e.Setopt(OPT_WRITEFUNCTION, func(p []byte, _ any) bool { b.Write(p); return true }))
		must(t, e.Perform())
		return b.String()
	}
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_POSTFIELDS, "old"))
	cs := NewCurlString("new")
	defer FreeCurlString(cs)
	must(t, e.Setopt(OPT_POSTFIELDS, cs))
	d := e.Duphandle()
	defer d.Cleanup()
	if got, dup := post(e), post(d); got != "new" || dup != "new" {
		t.Fatalf("posted %q, duplicate posted %q; want new, new", got, dup)
	}
	for _, tc := range []struct {
		v    any
		want string
	}{{"copied=1", "copied=1"}, {[]byte("copied=2"), "copied=2"}} {
		must(t, e.Setopt(OPT_COPYPOSTFIELDS, tc.v))
		if got := post(e); got != tc.want {
			t.Fatalf("COPYPOSTFIELDS %q posted %q", tc.want, got)
		}
	}
	if err := e.Setopt(OPT_COPYPOSTFIELDS, 7); !errors.Is(err, ErrOptionType) {
		t.Fatalf("COPYPOSTFIELDS 7: %v, want ErrOptionType", err)
	}
}

// Pause from a callback resumes what the write callback paused (go-curl's
// false); on a cleaned-up handle Pause says so instead of reaching whatever
// handle libcurl put at that address since. Escape and Unescape never touch
// the handle.
func TestPauseEscapeDropIn(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	var body strings.Builder
	paused := false
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		if !paused {
			paused = true
			return false
		}
		body.Write(b)
		return true
	}))
	must(t, e.Setopt(OPT_NOPROGRESS, false))
	must(t, e.Setopt(OPT_PROGRESSFUNCTION, func(_, _, _, _ float64, _ any) bool {
		if paused && body.Len() == 0 {
			if err := e.Pause(PAUSE_CONT); err != nil {
				t.Errorf("Pause(PAUSE_CONT) = %v", err)
			}
		}
		return true
	}))
	must(t, e.Setopt(OPT_URL, srv.url("/paused")))
	must(t, e.Perform())
	if !paused || body.String() != "hello tcp4 /paused" {
		t.Fatalf("paused %v, body %q", paused, body.String())
	}
	if got := e.Escape("a b/\x00é"); got != "a%20b%2F%00%C3%A9" {
		t.Errorf("Escape = %q", got)
	}
	e.Cleanup()
	if err := e.Pause(PAUSE_CONT); !errors.Is(err, ErrHandleClosed) {
		t.Errorf("Pause after Cleanup = %v, want ErrHandleClosed", err)
	}
	if got := e.Unescape("a%20b%00c"); got != "a b\x00c" {
		t.Errorf("Unescape after Cleanup = %q", got)
	}
}

func TestOptionTypes(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/types")))
	must(t, e.Setopt(OPT_MAXFILESIZE_LARGE, int64(1<<40))) // off_t from int64, which go-curl refused
	must(t, e.Setopt(OPT_MAXFILESIZE_LARGE, uint64(1<<40)))
	must(t, e.Setopt(OPT_MAXFILESIZE_LARGE, 1<<40))
	must(t, e.Setopt(OPT_MAXFILESIZE_LARGE, nil)) // resets, as in go-curl
	must(t, e.Setopt(OPT_VERBOSE, false))
	must(t, e.Setopt(OPT_USERAGENT, CurlString(nil)))
	must(t, e.Setopt(OPT_USERAGENT, nil))
	must(t, e.Perform())
	if body.String() != "hello tcp4 /types" {
		t.Fatalf("body %q", body.String())
	}
	for _, tc := range []struct {
		name  string
		opt   int
		param any
	}{
		{"off_t-overflow", OPT_MAXFILESIZE_LARGE, uint64(1 << 63)},
		{"off_t-float", OPT_MAXFILESIZE_LARGE, 1.0},
		{"long-string", OPT_VERBOSE, "yes"},
		{"string-int", OPT_USERAGENT, 42},
		{"object-go-value", OPT_STDERR, os.Stderr},
		{"cbptr-go-value", OPT_DEBUGDATA, &struct{}{}},
		{"function-go-func", OPT_DEBUGFUNCTION, func() {}},
		{"blob-int", OPT_CAINFO_BLOB, 7},
		{"write-wrong-signature", OPT_WRITEFUNCTION, func([]byte) {}},
		{"read-wrong-signature", OPT_READFUNCTION, func([]byte, any) bool { return true }},
		{"form-wrong", OPT_HTTPPOST, "x"},
	} {
		if err := e.Setopt(tc.opt, tc.param); !errors.Is(err, ErrOptionType) {
			t.Errorf("%s: Setopt = %v, want ErrOptionType", tc.name, err)
		}
	}
	// An option number this libcurl does not know: libcurl's own error.
	if err := e.Setopt(10999, "x"); err != CurlError(E_UNKNOWN_OPTION) {
		t.Errorf("unknown option: %v, want E_UNKNOWN_OPTION", err)
	}
}

// A blob option with the TLS server's CA: libcurl copies the bytes.
func TestBlobOption(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tls")
	pem, err := os.ReadFile(writeCA(t, srv))
	must(t, err)
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/blob")))
	must(t, e.Setopt(OPT_CAINFO_BLOB, pem))
	clear(pem)
	runtime.GC()
	must(t, e.Perform())
	if body.String() != "hello tls /blob" {
		t.Fatalf("body %q", body.String())
	}
}

// go-curl's data callbacks keep working on a duplicate after the original is
// cleaned up (go-curl's crashed: the copy's data pointed at the original).
func TestDataCallbacksOnDuplicate(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e := EasyInit()
	var got []string
	must(t, e.Setopt(OPT_URL, srv.url("/dup")))
	must(t, e.Setopt(OPT_WRITEDATA, "w"))
	must(t, e.Setopt(OPT_WRITEFUNCTION, func(b []byte, data any) bool {
		got = append(got, fmt.Sprint(data, ":", string(b)))
		return true
	}))
	must(t, e.Setopt(OPT_HEADERFUNCTION, func(b []byte, data any) bool { return true }))
	must(t, e.Setopt(OPT_NOPROGRESS, false))
	progress := 0
	must(t, e.Setopt(OPT_PROGRESSFUNCTION, func(_, _, _, _ float64, _ any) bool { progress++; return true }))
	d := e.Duphandle()
	e.Cleanup()
	runtime.GC()
	must(t, d.Perform())
	d.Cleanup()
	if diff := cmp.Diff([]string{"w:hello tcp4 /dup"}, got); diff != "" {
		t.Fatal(diff)
	}
	if progress == 0 {
		t.Fatal("progress callback never ran on the duplicate")
	}
}

// A panic in a data callback is raised from Perform, and the handle works
// afterwards.
func TestDataCallbackPanics(t *testing.T) {
	for _, kind := range []string{"write", "header", "read", "progress"} {
		t.Run(kind, func(t *testing.T) {
			noLeaks(t)
			srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body) // so that the client sends it
				fmt.Fprint(w, "ok")
			}))
			e, _ := newEasy(t)
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			switch kind {
			case "write":
				must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { panic(kind) }))
			case "header":
				must(t, e.Setopt(OPT_HEADERFUNCTION, func([]byte, any) bool { panic(kind) }))
			case "read":
				must(t, e.Setopt(OPT_UPLOAD, 1))
				must(t, e.Setopt(OPT_READFUNCTION, func([]byte, any) int { panic(kind) }))
			case "progress":
				must(t, e.Setopt(OPT_NOPROGRESS, false))
				must(t, e.Setopt(OPT_PROGRESSFUNCTION, func(_, _, _, _ float64, _ any) bool { panic(kind) }))
			}
			if got, _ := capturedPanic(func() { e.Perform() }); got != kind {
				t.Fatalf("Perform raised %#v, want %q", got, kind)
			}
			must(t, e.Setopt(OPT_UPLOAD, 0))
			must(t, e.Setopt(OPT_NOPROGRESS, true))
			must(t, e.Setopt(OPT_WRITEFUNCTION, func([]byte, any) bool { return true }))
			must(t, e.Setopt(OPT_HEADERFUNCTION, nil))
			must(t, e.Perform())
		})
	}
}

// Upload through the read callback, with an invalid count refused.
func TestReadCallback(t *testing.T) {
	noLeaks(t)
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/up")))
	must(t, e.Setopt(OPT_UPLOAD, 1))
	payload := strings.NewReader("uploaded bytes")
	must(t, e.Setopt(OPT_READDATA, payload))
	must(t, e.Setopt(OPT_READFUNCTION, func(buf []byte, data any) int {
		n, _ := data.(io.Reader).Read(buf)
		return n
	}))
	must(t, e.Perform())
	if body.String() != "PUT uploaded bytes" {
		t.Fatalf("body %q", body.String())
	}
	must(t, e.Setopt(OPT_READFUNCTION, func(buf []byte, _ any) int { return len(buf) + 1 }))
	err := e.Perform()
	if !errors.Is(err, ErrInvalidResult) || !errors.Is(err, CurlError(E_ABORTED_BY_CALLBACK)) {
		t.Fatalf("Perform = %v, want ErrInvalidResult and E_ABORTED_BY_CALLBACK", err)
	}
}

// Send and Recv on a CONNECT_ONLY connection, including empty buffers.
func TestSendRecv(t *testing.T) {
	noLeaks(t)
	srv := newServer(t, "tcp4")
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Setopt(OPT_CONNECT_ONLY, 1))
	must(t, e.Perform())
	if n, err := e.Send(nil); n != 0 || err != nil {
		t.Fatalf("Send(nil) = %d, %v", n, err)
	}
	req := []byte("GET /raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	for len(req) > 0 {
		n, err := e.Send(req)
		if err != nil && err != CurlError(E_AGAIN) {
			t.Fatal(err)
		}
		req = req[n:]
	}
	var resp []byte
	buf := make([]byte, 512)
	for range 1000 {
		n, err := e.Recv(buf)
		resp = append(resp, buf[:n]...)
		if err == nil && n == 0 {
			break
		}
		if err != nil && err != CurlError(E_AGAIN) {
			t.Fatal(err)
		}
		if err == CurlError(E_AGAIN) {
			time.Sleep(time.Millisecond)
		}
	}
	if !strings.HasSuffix(string(resp), "hello tcp4 /raw") {
		t.Fatalf("response %q", resp)
	}
	if n, err := e.Recv(nil); n != 0 || err != nil {
		t.Fatalf("Recv(nil) = %d, %v", n, err)
	}
}
