//go:build linux

package curl_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sort"
	"sync"
	"time"

	curl "github.com/curlsock/curlsock"
	"github.com/curlsock/curlsock/sock"
)

// Many transfers at once on an engine: each Do parks its goroutine, not an
// OS thread, and every handle keeps its own callbacks and guard.
func ExampleEngine_Do() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	}))
	defer srv.Close()

	eng := curl.NewEngine()
	defer eng.Close()
	guard := sock.NewGuard(sock.WithAllowedPrefixes(netip.MustParsePrefix("127.0.0.1/32")), sock.WithAnyPort())

	var mu sync.Mutex
	var got []string
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			easy := curl.EasyInit()
			defer easy.Cleanup()
			if err := (&curl.Sockets{Guard: guard}).Install(easy); err != nil {
				fmt.Println(err)
				return
			}
			easy.Setopt(curl.OPT_URL, fmt.Sprintf("%s/item/%d", srv.URL, i))
			var body []byte
			easy.Setopt(curl.OPT_WRITEFUNCTION, func(b []byte, _ any) bool { body = append(body, b...); return true })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := eng.Do(ctx, easy); err != nil {
				fmt.Println(err)
				return
			}
			mu.Lock()
			got = append(got, string(body))
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Strings(got)
	fmt.Println(got)
	// Output: [/item/0 /item/1 /item/2]
}

// An engine with one shard: one libcurl multi, one connection cache, one
// goroutine running its callbacks.
func ExampleNewEngine() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	eng := curl.NewEngine(curl.WithShards(1))
	defer eng.Close()
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, srv.URL)
	for range 2 {
		if err := eng.Do(context.Background(), easy); err != nil {
			fmt.Println(err)
		}
	}
	// The second transfer reused the first one's connection.
	n, _ := easy.Getinfo(curl.INFO_NUM_CONNECTS)
	fmt.Println("new connections for the second transfer:", n)
	// Output: new connections for the second transfer: 0
}

// Close ends the transfers in flight and closes the cached connections.
func ExampleEngine_Close() {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0") // accepts, never answers
	defer ln.Close()

	eng := curl.NewEngine()
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, "http://"+ln.Addr().String()+"/")
	done := make(chan error)
	go func() { done <- eng.Do(context.Background(), easy) }()
	time.Sleep(50 * time.Millisecond)
	eng.Close()
	err := <-done
	fmt.Println(errors.Is(err, curl.ErrEngineClosed))
	fmt.Println(errors.Is(eng.Do(context.Background(), easy), curl.ErrEngineClosed))
	// Output:
	// true
	// true
}

// PerformContext: Perform that ends when its context does, on a multi of the
// handle's own.
func ExampleCURL_PerformContext() {
	ln, _ := net.Listen("tcp4", "127.0.0.1:0") // accepts, never answers
	defer ln.Close()

	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, "http://"+ln.Addr().String()+"/")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := easy.PerformContext(ctx)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output: true
}

// curl.Do runs a transfer on the package's default engine.
func ExampleDo() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	defer srv.Close()

	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, srv.URL)
	var body []byte
	easy.Setopt(curl.OPT_WRITEFUNCTION, func(b []byte, _ any) bool { body = append(body, b...); return true })
	if err := curl.Do(context.Background(), easy); err != nil {
		fmt.Println(err)
	}
	fmt.Println(string(body))
	// Output: hello
}

// CloseIdleConnections closes the connections an engine keeps for reuse:
// here the next transfer has to connect again.
func ExampleEngine_CloseIdleConnections() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	eng := curl.NewEngine()
	defer eng.Close()
	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, srv.URL)
	for i := range 3 {
		if i == 2 {
			eng.CloseIdleConnections()
		}
		if err := eng.Do(context.Background(), easy); err != nil {
			fmt.Println(err)
			return
		}
		n, _ := easy.Getinfo(curl.INFO_NUM_CONNECTS)
		fmt.Println("new connections:", n)
	}
	// Output:
	// new connections: 1
	// new connections: 0
	// new connections: 1
}

// Pause from another goroutine while the transfer runs on an engine: the
// shard runs it between two rounds.
func ExampleCURL_Pause() {
	more := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1048576")
		w.Write(make([]byte, 1024))
		w.(http.Flusher).Flush()
		<-more
		w.Write(make([]byte, 1<<20-1024))
	}))
	defer srv.Close()

	easy := curl.EasyInit()
	defer easy.Cleanup()
	easy.Setopt(curl.OPT_URL, srv.URL)
	var mu sync.Mutex
	got := 0
	started := make(chan struct{})
	easy.Setopt(curl.OPT_WRITEFUNCTION, func(b []byte, _ any) bool {
		mu.Lock()
		defer mu.Unlock()
		if got == 0 {
			close(started)
		}
		got += len(b)
		return true
	})
	done := make(chan error)
	go func() { done <- curl.Do(context.Background(), easy) }()
	<-started
	fmt.Println(easy.Pause(curl.PAUSE_RECV)) // the transfer waits
	close(more)
	time.Sleep(10 * time.Millisecond)
	fmt.Println(easy.Pause(curl.PAUSE_CONT)) // and goes on
	fmt.Println(<-done)
	mu.Lock()
	fmt.Println(got)
	mu.Unlock()
	// Output:
	// <nil>
	// <nil>
	// <nil>
	// 1048576
}
