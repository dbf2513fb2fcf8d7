//go:build linux

package curl

/*
#include "callbacks.h"
#include "shard.h"
*/
import "C"

import (
	"context"
	"hash/maphash"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// An Engine runs transfers on libcurl's multi socket API and Go's
// netpoller: a transfer parks its caller's goroutine, not an OS thread, and
// ends when its context does. Ten thousand transfers at once cost a few OS
// threads, not ten thousand.
//
// The engine has shards, each a libcurl multi with its own connection cache,
// driven by one goroutine. A transfer goes to the shard its origin (scheme,
// host and port of OPT_URL) hashes to, so that connections are reused across
// Do calls to one origin, and concurrent HTTP/2 transfers to one origin
// share one connection (the engine sets OPT_PIPEWAIT).
//
// Callbacks run on the shard's goroutine: every callback of a transfer, and
// every callback of every other transfer of that shard, waits while one
// runs. A callback that blocks (a slow write callback, a blocking dial in an
// open-socket callback such as Sockets.Dialer's) stalls its whole shard for
// as long; give the engine fast callbacks, or hand slow work to another
// goroutine.
//
// Handles on one engine share its connection caches: libcurl matches a
// cached connection by scheme, host, port and its own options, not by the
// socket callbacks that made it, so a transfer may reuse a connection whose
// open-socket callback (a rewrite, a refusal) was another handle's. A
// Sockets guard still checks the peer of a reused connection (its prereq
// check refuses it, E_ABORTED_BY_CALLBACK); for handles whose callbacks
// must see every connection, use an engine of their own or OPT_FRESH_CONNECT.
//
// The engine sets OPT_QUICK_EXIT on every handle it runs (a canceled name
// lookup's thread is left to end alone instead of stalling the shard), and
// OPT_PIPEWAIT on https transfers with libcurl 7.x (8.14.1 strands the
// transfers that wait when the connection fails its handshake); both stay
// set afterwards.
//
// An Engine is safe for concurrent use. Close it when done: its cached
// connections are closed then.
type Engine struct {
	shards      []engineShard
	maxConnects int
	seed        maphash.Seed
	isDefault   bool // curl.Do's
	closed      atomic.Bool
	wg          sync.WaitGroup
}

// engineShard starts its shard on first use.
type engineShard struct {
	mu sync.Mutex
	s  *shard
}

// EngineOption configures NewEngine.
type EngineOption func(*engineConfig)

type engineConfig struct {
	shards      int
	maxConnects int
}

// WithShards sets how many libcurl multis the engine runs, each on its own
// goroutine; n < 1 means the default, GOMAXPROCS. One multi uses at most
// one core; more shards use more cores, but connections are reused only
// within a shard.
func WithShards(n int) EngineOption {
	return func(c *engineConfig) { c.shards = n }
}

// WithMaxConnects sets how many idle connections each shard's cache keeps
// (CURLMOPT_MAXCONNECTS); n < 1 means the default, 256.
func WithMaxConnects(n int) EngineOption {
	return func(c *engineConfig) { c.maxConnects = n }
}

// NewEngine returns an engine. Its shards start on first use.
func NewEngine(opts ...EngineOption) *Engine {
	var cfg engineConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.shards < 1 {
		cfg.shards = runtime.GOMAXPROCS(0)
	}
	if cfg.maxConnects < 1 {
		cfg.maxConnects = 256
	}
	return &Engine{shards: make([]engineShard, cfg.shards), maxConnects: cfg.maxConnects, seed: maphash.MakeSeed()}
}

// Do runs the transfer e is set up for and returns when it ended and e is
// out of the engine, e's options kept, as after Perform. Its result is
// Perform's: nil, a CurlError, or an *Error with the callbacks' errors; a
// panic in a callback of the transfer is raised again here, in the caller's
// goroutine, and fails that transfer only.
//
// When ctx is done first, the transfer is stopped (its connection closed, or
// on HTTP/2 its stream reset) and Do returns an error matching ctx.Err()
// with errors.Is. A ctx already done returns ctx.Err() without starting, and
// a closed engine ErrEngineClosed. While e is in Do, other calls on it from
// other goroutines return ErrHandleBusy (Duphandle returns nil, Reset does
// nothing), and Cleanup stops the transfer (Do returns ErrHandleClosed).
// From a callback running on the shard the transfer would go to, Do returns
// ErrEngineReentry: the shard's goroutine would wait for itself.
func (eng *Engine) Do(ctx context.Context, e *CURL) error {
	t, err := eng.start(ctx, e, nil)
	if err != nil {
		return err
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		// If the shard stopped meanwhile, it ends the transfer itself.
		_ = t.shard.submit(command{kind: cmdCancel, t: t, err: canceled(ctx)})
		<-t.done
	}
	return e.endTransferOf(t)
}

// start hands e's transfer to its shard. The caller waits for t.done, then
// calls e.endTransferOf(t) once; it cancels the transfer with a cmdCancel.
// bind, if set, learns of the transfer before the shard can run it.
func (eng *Engine) start(ctx context.Context, e *CURL, bind func(*transfer)) (*transfer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if eng.closed.Load() {
		return nil, ErrEngineClosed
	}
	if e == nil {
		return nil, ErrHandleClosed
	}
	for {
		s, err := eng.shardFor(e)
		if err != nil {
			return nil, err
		}
		if shardFrameOfThread() == s.frame.id {
			// The shard's goroutine would wait for itself.
			return nil, ErrEngineReentry
		}
		t, err := e.beginTransfer(ctx, s)
		if err != nil {
			return nil, err
		}
		if bind != nil {
			bind(t)
		}
		err = s.submit(command{kind: cmdAdd, t: t})
		if err == nil {
			return t, nil
		}
		e.reg.abortTransfer()
		if err != errShardLost {
			return nil, err
		}
		// Abandoned meanwhile (see serve): the next shardFor starts anew.
	}
}

// CloseIdleConnections closes the connections the engine's shards keep
// idle. libcurl cannot close a multi's idle connections while transfers run
// on it, so each shard replaces its multi by a new one when it next has no
// transfer in flight: for an idle shard before any transfer started after
// this call, for a busy one later. Their connections close through the
// close-socket callbacks they were made with, as at Close.
func (eng *Engine) CloseIdleConnections() {
	eng.submitAll(command{kind: cmdRecycle})
}

// submitAll sends c to every shard that has started.
func (eng *Engine) submitAll(c command) {
	for i := range eng.shards {
		es := &eng.shards[i]
		es.mu.Lock()
		if es.s != nil {
			_ = es.s.submit(c)
		}
		es.mu.Unlock()
	}
}

// shardFor returns the shard of e's origin, started if need be.
func (eng *Engine) shardFor(e *CURL) (*shard, error) {
	i := 0
	if len(eng.shards) > 1 {
		e.reg.mu.Lock()
		scheme, host := urlOrigin(e.reg.opts.url)
		e.reg.mu.Unlock()
		var h maphash.Hash
		h.SetSeed(eng.seed)
		writeLower(&h, scheme)
		writeLower(&h, host)
		i = int(h.Sum64() % uint64(len(eng.shards)))
	}
	es := &eng.shards[i]
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.s != nil {
		return es.s, nil
	}
	if eng.closed.Load() {
		return nil, ErrEngineClosed
	}
	kind := kindShard
	if eng.isDefault {
		kind = kindDefaultShard
	}
	s, err := newShard(kind, eng.maxConnects)
	if err != nil {
		return nil, err
	}
	es.s = s
	eng.wg.Add(1)
	go eng.serve(es, s)
	return s, nil
}

// serve drives a shard until the engine closes. If a callback ends the
// goroutine (runtime.Goexit), the shard is abandoned and a new one takes
// its place.
func (eng *Engine) serve(es *engineShard, s *shard) {
	// The shard keeps its thread. Measured (BENCHMARKS.md): the goroutine
	// moving between threads cost a tenth to a fifth of the throughput. And
	// a runtime.Goexit in a callback abandons libcurl's C frames on this
	// thread, which then ends with the goroutine (under AddressSanitizer
	// their poisoned redzones would fault the next C call on that stack).
	runtime.LockOSThread()
	defer eng.wg.Done()
	const (
		running = iota
		freeing
		done
	)
	phase := running
	defer func() {
		switch phase {
		case running:
			es.mu.Lock()
			if es.s == s {
				es.s = nil // the next Do starts a new shard
			}
			es.mu.Unlock()
			s.abandon()
		case freeing:
			// A close callback ended the goroutine inside
			// curl_multi_cleanup: what is left of the multi leaks.
			C.curlsock_shard_thread_reset()
			s.forget()
		}
	}()
	s.run(func() bool { return false })
	phase = freeing
	s.free()
	phase = done
}

// Close ends the transfers in flight (their Do returns ErrEngineClosed),
// closes the cached connections through their close-socket callbacks, and
// waits for the shards to stop. Later Do calls return ErrEngineClosed. From
// a callback running on one of the engine's shards it returns
// ErrEngineReentry.
func (eng *Engine) Close() error {
	if id := shardFrameOfThread(); id != 0 && eng.owns(id) {
		return ErrEngineReentry
	}
	if eng.closed.Swap(true) {
		return nil
	}
	eng.submitAll(command{kind: cmdClose})
	eng.wg.Wait()
	return nil
}

// owns reports whether id is the frame of one of eng's shards.
func (eng *Engine) owns(id uintptr) bool {
	for i := range eng.shards {
		es := &eng.shards[i]
		es.mu.Lock()
		s := es.s
		es.mu.Unlock()
		if s != nil && s.frame.id == id {
			return true
		}
	}
	return false
}

// urlOrigin returns the scheme and host:port of a URL as written (http
// when it names no scheme, as libcurl guesses for most), in the URL's own
// case: enough to send one origin to one shard.
func urlOrigin(u string) (scheme, host string) {
	scheme, host, ok := strings.Cut(u, "://")
	if !ok {
		scheme, host = "http", u
	}
	if i := strings.IndexAny(host, "/?#"); i >= 0 {
		host = host[:i]
	}
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	return scheme, host
}

// writeLower hashes s in ASCII lower case, without a lower-cased copy.
func writeLower(h *maphash.Hash, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h.WriteByte(c)
	}
	h.WriteByte('/')
}

var defaultEngine struct {
	sync.Mutex
	e *Engine
}

// Do runs e's transfer on the package's default engine, created on first
// use with NewEngine's defaults and never closed: see Engine.Do.
func Do(ctx context.Context, e *CURL) error {
	return defaultEngineOf().Do(ctx, e)
}

// defaultEngineOf returns the default engine, made on first use.
func defaultEngineOf() *Engine {
	defaultEngine.Lock()
	defer defaultEngine.Unlock()
	if defaultEngine.e == nil {
		defaultEngine.e = NewEngine()
		defaultEngine.e.isDefault = true
	}
	return defaultEngine.e
}

// beginTransfer claims e for a transfer of an engine or PerformContext.
func (e *CURL) beginTransfer(ctx context.Context, s *shard) (*transfer, error) {
	h := e.reg
	h.mu.Lock()
	h.waitIdleOp()
	scheme, _ := urlOrigin(h.opts.url)
	switch {
	case h.cleaned:
		h.mu.Unlock()
		return nil, ErrHandleClosed
	case h.performing || h.multi != nil || h.active != nil:
		h.mu.Unlock()
		return nil, ErrHandleBusy
	case h.opts.connectOnly:
		h.mu.Unlock()
		return nil, ErrConnectOnly
	}
	t := &transfer{e: e, ctx: ctx, shard: s, done: make(chan struct{})}
	h.active = t
	h.mu.Unlock()
	// A panic left by a callback since the last call (one closing a cached
	// connection of this handle) is raised, as Perform does.
	if p, v := h.takePanic(); p {
		h.abortTransfer()
		panic(v)
	}
	h.startTransfer()
	if err := h.refusal(); err != nil {
		h.abortTransfer()
		return nil, err
	}
	h.unpoison()
	// A removal during a threaded name lookup would wait for the lookup to
	// end, stalling the shard: with QUICK_EXIT libcurl leaves the thread to
	// finish alone.
	p := e.handle()
	C.curlsock_setopt_long(p, C.CURLOPT_QUICK_EXIT, 1)
	// PIPEWAIT makes concurrent HTTP/2 transfers to one origin wait for the
	// one connection instead of opening more. Only for https, where ALPN
	// tells within the handshake: on cleartext http libcurl 7.88 held every
	// new transfer until an in-flight HTTP/1.1 response arrived.
	if pipewaitSafe && strings.EqualFold(scheme, "https") {
		C.curlsock_setopt_long(p, C.CURLOPT_PIPEWAIT, 1)
	}
	return t, nil
}

// pipewaitSafe: libcurl 8.14.1 leaves transfers waiting under PIPEWAIT
// stranded when the connection they wait for fails its TLS handshake: they
// end at their timeout (measured: 24 of 2,400 failing handshakes, 32 at once
// on one multi; none without PIPEWAIT, none on 7.88.1).
// make stress STRESS_CURL8=1 shows it (its engine workers' tls-fail
// transfers).
var pipewaitSafe = versionNum < 0x080000

// abortTransfer releases a claim for a transfer that never started.
func (h *handleReg) abortTransfer() {
	h.mu.Lock()
	h.active = nil
	h.mu.Unlock()
}

// endTransferOf returns what the ended transfer t returns to its caller,
// and frees the handle if it was cleaned up meanwhile.
func (e *CURL) endTransferOf(t *transfer) error {
	h := e.reg
	h.endTransfer()
	h.mu.Lock()
	h.active = nil
	cleanup := h.cleanupAfter
	h.cleanupAfter = false
	h.mu.Unlock()
	h.unpoison()
	h.releaseRetired()
	err := t.err
	if err == nil {
		err = h.result(curlErr(t.code))
	}
	if cleanup {
		e.cleanup()
		err = ErrHandleClosed
	}
	h.raise()
	return err
}

// shardFrameOfThread returns the frame id of the shard this thread is
// driving, even from inside a nested call driving another handle; 0 if none.
func shardFrameOfThread() uintptr { return uintptr(C.curlsock_shard_current()) }

// busy reports ErrHandleBusy when e is in a transfer of an engine or of
// PerformContext and the caller is not one of that transfer's callbacks,
// which run on the goroutine driving it.
func (h *handleReg) busy() error {
	if h.activeElsewhere() != nil {
		return ErrHandleBusy
	}
	return nil
}

// activeElsewhere returns e's transfer of an engine or PerformContext if the
// caller is not one of its callbacks; nil otherwise.
func (h *handleReg) activeElsewhere() *transfer {
	h.mu.Lock()
	t := h.active
	h.mu.Unlock()
	if t == nil || shardFrameOfThread() == t.shard.frame.id {
		return nil
	}
	return t
}
