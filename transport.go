//go:build linux

package curl

/*
#include "callbacks.h"
*/
import "C"

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Transport is an http.RoundTripper that runs requests on an Engine, so that
// any http.Client gets libcurl and curlsock's socket toolkit:
//
//	client := &http.Client{Transport: &curl.Transport{Sockets: &curl.Sockets{Guard: sock.NewGuard()}}}
//
// It behaves as net/http's Transport does: the server sees the request
// net/http would send (no header of libcurl's own, Go's User-Agent unless
// the request sets one, the path as given), bodies stream both ways with
// bounded memory, the request's context cancels the request at any stage,
// redirects and cookies are left to http.Client, and responses are gzip
// decoded exactly when net/http would decode them. Connections are reused
// across requests to one origin, and HTTPS speaks HTTP/2 when the server
// offers it.
//
// Where it differs from net/http:
//   - Over HTTP/2, libcurl keeps buffering a response the reader is behind
//     on up to the stream's window (32 MiB with libcurl 7.88, about 10 MiB
//     with 8.x); over HTTP/1 the Transport holds at most 256 KiB.
//   - The default User-Agent is Go-http-client/1.1 over HTTP/2 too: the
//     headers are set before the handshake chooses the protocol.
//   - resp.TLS is filled from libcurl's OpenSSL connection (version, cipher
//     suite, ALPN, server name, resumption, peer certificates); with another
//     TLS backend only HandshakeComplete is set. VerifiedChains stays nil.
//   - libcurl 7.88 drops the trailers of an HTTP/2 response whose body had
//     a Content-Length.
//   - Request trailers (req.Trailer) are sent with a body of unknown length,
//     as net/http does over HTTP/1.1; libcurl sends them over HTTP/1.1
//     only, so such a request does not use HTTP/2. libcurl 7.x does not
//     send them: its trailer support overflows its upload buffer.
//   - A protocol upgrade (101 Switching Protocols) fails the request.
//   - An https request through a proxy URL with credentials gets a tunnel
//     of its own, over HTTP/1.1, closed after it: libcurl 8 would reuse a
//     tunnel whatever the credentials of the request (net/http keys its
//     connections by them).
//   - libcurl takes at most 100 KB of response header (net/http 1 MB).
//   - A request body that is not as long as its ContentLength fails the
//     request over HTTP/2 too (net/http's HTTP/2 sends it as it is).
//
// A Transport is safe for concurrent use. Its fields must not change once
// it has been used.
type Transport struct {
	// Engine runs the transfers; nil means the package's default engine
	// (the one curl.Do uses).
	Engine *Engine
	// Sockets is installed on every handle the Transport uses: a request
	// the guard refuses fails with an error matching the guard's with
	// errors.Is. If it cannot be installed, requests fail.
	Sockets *Sockets
	// Proxy returns the proxy for a request, as http.Transport.Proxy does
	// (http.ProxyFromEnvironment works as with net/http); nil, or a nil
	// URL, means no proxy: libcurl's own reading of the environment is off.
	Proxy func(*http.Request) (*url.URL, error)
	// Setup, if set, runs on every request's handle after the Transport set
	// its options: any other libcurl option (HTTP version, TLS, socket
	// callbacks, which compose with Sockets). It must not set the data
	// callbacks (write, header, read), nor OPT_URL or the method: the
	// Transport's streams depend on them. Redirects (OPT_FOLLOWLOCATION)
	// and negotiated authentication (OPT_HTTPAUTH) make libcurl send a
	// second response, which fails the request: http.Client does both.
	Setup func(e *CURL) error

	// ConnectTimeout bounds connecting, the TLS handshake included
	// (CURLOPT_CONNECTTIMEOUT_MS); 0 means libcurl's default, 300 s.
	ConnectTimeout time.Duration
	// IdleConnTimeout closes connections idle for longer
	// (CURLOPT_MAXAGE_CONN, in whole seconds); 0 means libcurl's default,
	// 118 s.
	IdleConnTimeout time.Duration
	// DisableKeepAlives closes each connection after its request
	// (CURLOPT_FORBID_REUSE), as a request with Close set does.
	DisableKeepAlives bool
	// DisableCompression stops the Transport from asking for gzip and
	// decoding it.
	DisableCompression bool
	// InsecureSkipVerify accepts any certificate and host name
	// (CURLOPT_SSL_VERIFYPEER and CURLOPT_SSL_VERIFYHOST off).
	InsecureSkipVerify bool
	// CAFile names a PEM file of the certificate authorities to trust
	// instead of the system's (CURLOPT_CAINFO).
	CAFile string

	poolOnce sync.Once
	pool     *handlePool
}

// handlePool keeps a Transport's idle handles, Sockets installed. It is
// apart from the Transport so that a Transport dropped without
// CloseIdleConnections frees them (runtime.AddCleanup).
type handlePool struct {
	mu   sync.Mutex
	idle []*CURL
	// closing: handles released now are cleaned up, not kept. drain sets
	// it (a request still running at CloseIdleConnections gives its handle
	// back later), the next request clears it, as net/http's closeIdle.
	closing bool
}

func (p *handlePool) drain() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closing = nil, true
	p.mu.Unlock()
	for _, e := range idle {
		e.Cleanup()
	}
}

func (tr *Transport) handles() *handlePool {
	tr.poolOnce.Do(func() {
		tr.pool = &handlePool{}
		runtime.AddCleanup(tr, (*handlePool).drain, tr.pool)
	})
	return tr.pool
}

// maxIdleHandles bounds the handles a Transport keeps between requests.
// Handles hold no connection (the engine's multis do), only what an easy
// handle costs to make again.
const maxIdleHandles = 256

// defaultUserAgent is net/http's.
const defaultUserAgent = "Go-http-client/1.1"

// ErrBodyClosed is what Read returns on a response body after Close.
var ErrBodyClosed = errors.New("curlsock: read on closed response body")

// RoundTrip runs one HTTP request and returns its response once the final
// response headers are in (1xx responses are skipped). The body streams:
// its first bytes are readable while the server still sends, and an error
// after the headers is returned by Read, never taken for the end of the
// body. Close the body before its end to stop the transfer.
//
// It returns an error only when no response was obtained, as
// http.RoundTripper requires, and always closes the request's body. When
// the request's context ends first, the error matches ctx.Err() with
// errors.Is; errors of the socket toolkit (a guard's refusal, a Control
// hook's error) match with errors.Is and errors.As too.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	prepared := false
	defer func() {
		if !prepared && req != nil && req.Body != nil {
			req.Body.Close() // also when Setup or Proxy panicked
		}
	}()
	x, err := tr.prepare(req)
	if err != nil {
		return nil, err
	}
	prepared = true
	return x.roundTrip()
}

// CloseIdleConnections closes the connections left idle by the Transport's
// requests and the handles it keeps; a request still running frees its
// handle when it ends, unless a new request came in between (as net/http
// closes the connections that become idle). libcurl cannot close only some
// of a multi's connections, so it recycles the engine's multis (see
// Engine.CloseIdleConnections): with the default engine, or an engine that
// other code uses too, the idle connections of every user of the engine
// close, and a shard busy with transfers closes its idle connections once
// it has none in flight.
func (tr *Transport) CloseIdleConnections() {
	tr.handles().drain()
	tr.engine().CloseIdleConnections()
}

func (tr *Transport) engine() *Engine {
	if tr.Engine != nil {
		return tr.Engine
	}
	return defaultEngineOf()
}

// handle returns a handle from the pool, or a new one with the Transport's
// Sockets installed.
func (tr *Transport) handle() (*CURL, error) {
	p := tr.handles()
	p.mu.Lock()
	p.closing = false
	if n := len(p.idle); n > 0 {
		e := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return e, nil
	}
	p.mu.Unlock()
	e := EasyInit()
	if e == nil {
		return nil, errors.New("curlsock: cannot create an easy handle")
	}
	if tr.Sockets != nil {
		if err := tr.Sockets.Install(e); err != nil {
			e.Cleanup()
			return nil, err
		}
	}
	return e, nil
}

// release resets e and keeps it for a next request, or cleans it up.
func (tr *Transport) release(e *CURL) {
	e.Reset() // the Sockets installation stays
	p := tr.handles()
	p.mu.Lock()
	if !p.closing && len(p.idle) < maxIdleHandles {
		p.idle = append(p.idle, e)
		e = nil
	}
	p.mu.Unlock()
	if e != nil {
		e.Cleanup()
	}
}

// prepare checks req and sets a handle up for it.
func (tr *Transport) prepare(req *http.Request) (*exchange, error) {
	if req == nil {
		return nil, errors.New("curlsock: nil Request")
	}
	if err := validRequest(req); err != nil {
		return nil, err
	}
	if req.URL.Scheme == "https" {
		loadTLSFunctions() // for resp.TLS, not from the header callback
	}
	x := &exchange{tr: tr, req: req}
	if req.Method != http.MethodHead && !tr.DisableCompression &&
		req.Header.Get("Accept-Encoding") == "" && req.Header.Get("Range") == "" {
		x.requestedGzip = true
	}
	body, size := req.Body, req.ContentLength
	if body != nil && body != http.NoBody && size == 0 && lacksBody(req.Method) {
		body = probeBody(body)
	}
	if body != nil && body != http.NoBody {
		if size == 0 {
			size = -1 // net/http: 0 with a body means unknown
		}
		x.up = newUpload(body, size)
		if size < 0 && len(req.Trailer) > 0 {
			keys, err := trailerKeys(req.Trailer)
			if err != nil {
				return nil, err
			}
			if requestTrailersSafe {
				x.trailerKeys = keys
			}
		}
	}
	e, err := tr.handle()
	if err != nil {
		return nil, err
	}
	x.e = e
	ok := false
	defer func() {
		if !ok { // setOptions failed, or Setup or Proxy panicked
			e.Cleanup()
		}
	}()
	if err := tr.setOptions(e, req, x); err != nil {
		return nil, err
	}
	ok = true
	return x, nil
}

// requestTrailersSafe: libcurl 7.88 writes the last chunk's "0\r\n" before
// its upload buffer when a trailer callback is set (AddressSanitizer:
// heap-buffer-overflow in curl_multi_socket_action): request trailers are
// sent with libcurl 8 only.
var requestTrailersSafe = versionNum >= 0x080000

// trailerKeys returns the sorted keys of a request's trailer, as net/http
// announces them in a Trailer header; it refuses those net/http refuses.
func trailerKeys(trailer http.Header) ([]string, error) {
	keys := make([]string, 0, len(trailer))
	for k := range trailer {
		k = http.CanonicalHeaderKey(k)
		switch k {
		case "Transfer-Encoding", "Trailer", "Content-Length":
			return nil, fmt.Errorf("curlsock: invalid Trailer key %q", k)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys, nil
}

// requestTrailer is the trailer of a chunked request body, sent after its
// last chunk: net/http reads req.Trailer once the body has ended, so that
// the body's reader can fill in the values, which RoundTrip could not
// check: CR and LF in them become spaces, as net/http writes them, and a
// key that is not a valid name is left out.
func (x *exchange) requestTrailer() []string {
	if x.trailerKeys == nil {
		return nil
	}
	lines := make([]string, 0, len(x.req.Trailer))
	for k, vv := range x.req.Trailer {
		if !validToken(k) {
			continue
		}
		for _, v := range vv {
			lines = append(lines, k+": "+headerNewlineToSpace.Replace(v))
		}
	}
	return lines
}

var headerNewlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// lacksBody reports the methods whose requests usually have no body: for
// them net/http sends an empty body of unknown length as no body at all.
func lacksBody(method string) bool {
	switch method {
	case "", "GET", "HEAD", "DELETE", "OPTIONS", "PROPFIND", "SEARCH":
		return true
	}
	return false
}

// probeBody reads the first byte of a body of unknown length, as net/http's
// transferWriter does: an immediate EOF means no body (nil); a byte, or no
// answer within 200 ms, means a body, returned whole.
func probeBody(body io.ReadCloser) io.ReadCloser {
	ch := make(chan probeResult, 1)
	go func() {
		var r probeResult
		r.n, r.err = body.Read(r.b[:])
		ch <- r
	}()
	timer := time.NewTimer(200 * time.Millisecond)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.n == 0 && r.err == io.EOF {
			body.Close()
			return nil
		}
		return &probedBody{first: r.b[:r.n], err: r.err, ReadCloser: body}
	case <-timer.C:
		return &probedBody{pending: ch, ReadCloser: body}
	}
}

type probeResult struct {
	b   [1]byte
	n   int
	err error
}

// probedBody is a body whose first read probeBody made.
type probedBody struct {
	io.ReadCloser
	first   []byte
	err     error
	pending chan probeResult // the first read, still running
}

func (p *probedBody) Read(b []byte) (int, error) {
	if p.pending != nil {
		r := <-p.pending
		p.pending, p.first, p.err = nil, r.b[:r.n], r.err
	}
	if len(p.first) > 0 {
		n := copy(b, p.first)
		p.first = p.first[n:]
		return n, nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.ReadCloser.Read(b)
}

// validRequest refuses what net/http's Transport refuses, and anything that
// would let a header or the method smuggle a line into libcurl's request.
func validRequest(req *http.Request) error {
	u := req.URL
	switch {
	case u == nil:
		return errors.New("curlsock: nil Request.URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("curlsock: unsupported protocol scheme %q", u.Scheme)
	case u.Host == "":
		return errors.New("curlsock: no Host in request URL")
	case req.Method != "" && !validToken(req.Method):
		return fmt.Errorf("curlsock: invalid method %q", req.Method)
	case req.Method == http.MethodConnect:
		return errors.New("curlsock: CONNECT requests are not supported")
	case req.ContentLength != 0 && (req.Body == nil || req.Body == http.NoBody):
		return fmt.Errorf("curlsock: http: Request.ContentLength=%d with nil Body", req.ContentLength)
	}
	if err := validFields("header", req.Header); err != nil {
		return err
	}
	if err := validFields("trailer", req.Trailer); err != nil {
		return err
	}
	if !validHeaderValue(req.Host) || strings.ContainsAny(req.Host, " /") {
		return fmt.Errorf("curlsock: invalid Host %q", req.Host)
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFields checks the names and values of a request's header or trailer.
func validFields(what string, h http.Header) error {
	for k, vv := range h {
		if !validToken(k) {
			return fmt.Errorf("curlsock: invalid %s field name %q", what, k)
		}
		for _, v := range vv {
			if !validHeaderValue(v) {
				return fmt.Errorf("curlsock: invalid %s field value for %q", what, k)
			}
		}
	}
	return nil
}

// validHeaderValue refuses the bytes that would end a header line.
func validHeaderValue(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00")
}

// setOptions sets e up for req: libcurl sends the request net/http would.
func (tr *Transport) setOptions(e *CURL, req *http.Request, x *exchange) error {
	u := req.URL
	target := u.Scheme + "://" + u.Host + u.RequestURI()
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	// Plain numbers go to libcurl directly; Setopt's checks are for the
	// options curlsock governs (OPT_URL, lists, the proxy).
	longs := make([]longOpt, 0, 10)
	longs = append(longs, longOpt{C.CURLOPT_PATH_AS_IS, 1}, longOpt{C.CURLOPT_NOSIGNAL, 1},
		longOpt{C.CURLOPT_SUPPRESS_CONNECT_HEADERS, 1})
	opts := make([]optVal, 0, 6)
	opts = append(opts, optVal{OPT_URL, target}, optVal{OPT_HTTPHEADER, tr.headerLines(req, x)})
	switch {
	case method == http.MethodHead:
		longs = append(longs, longOpt{C.CURLOPT_NOBODY, 1})
	case x.up != nil || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		// Every body goes as an upload: libcurl adds no Content-Type to it
		// (as it would to a POST), and a body of unknown length is sent
		// chunked over HTTP/1.1. net/http sends Content-Length: 0 for an
		// empty POST, PUT or PATCH.
		size := int64(0)
		if x.up != nil {
			size = x.up.size
		}
		longs = append(longs, longOpt{C.CURLOPT_UPLOAD, 1})
		opts = append(opts, optVal{OPT_INFILESIZE_LARGE, size}, optVal{OPT_CUSTOMREQUEST, method})
	case method != http.MethodGet:
		opts = append(opts, optVal{OPT_CUSTOMREQUEST, method})
	}
	proxy := ""
	if tr.Proxy != nil {
		p, err := tr.Proxy(req)
		if err != nil {
			return err
		}
		if p != nil {
			proxy = p.String()
			if p.User != nil && u.Scheme == "https" {
				// libcurl 8.14.1 matches a CONNECT tunnel without
				// comparing the proxy credentials that opened it: a later
				// request with other credentials, or none, would ride it.
				// Such a tunnel serves its own request only: HTTP/1.1 (no
				// stream of another request on it) and closed after it.
				longs = append(longs, longOpt{C.CURLOPT_FORBID_REUSE, 1},
					longOpt{C.CURLOPT_HTTP_VERSION, C.CURL_HTTP_VERSION_1_1})
			}
		}
	}
	// "" also turns off libcurl's reading of proxies from the environment.
	opts = append(opts, optVal{OPT_PROXY, proxy})
	if proxy == "" && strings.HasSuffix(target, "?") {
		// libcurl 8 drops an empty query from OPT_URL; net/http sends it.
		opts = append(opts, optVal{OPT_REQUEST_TARGET, u.RequestURI()})
	}
	if tr.InsecureSkipVerify {
		longs = append(longs, longOpt{C.CURLOPT_SSL_VERIFYPEER, 0}, longOpt{C.CURLOPT_SSL_VERIFYHOST, 0})
	}
	if tr.CAFile != "" {
		opts = append(opts, optVal{OPT_CAINFO, tr.CAFile})
	}
	if tr.ConnectTimeout > 0 {
		longs = append(longs, longOpt{C.CURLOPT_CONNECTTIMEOUT_MS, max(tr.ConnectTimeout.Milliseconds(), 1)})
	}
	if tr.IdleConnTimeout > 0 {
		longs = append(longs, longOpt{C.CURLOPT_MAXAGE_CONN, int64(max(tr.IdleConnTimeout/time.Second, 1))})
	}
	if x.trailerKeys != nil {
		// libcurl sends request trailers in HTTP/1.1's chunked encoding only.
		longs = append(longs, longOpt{C.CURLOPT_HTTP_VERSION, C.CURL_HTTP_VERSION_1_1})
		// Only then: libcurl calls it for every chunked upload.
		if rc := C.curlsock_set_trailer(e.handle(), 1, C.uintptr_t(e.reg.id)); rc != C.CURLE_OK {
			return fmt.Errorf("curlsock: transport: CURLOPT_TRAILERFUNCTION: %w", CurlError(rc))
		}
	}
	if tr.DisableKeepAlives || req.Close {
		longs = append(longs, longOpt{C.CURLOPT_FORBID_REUSE, 1})
	}
	p := e.handle()
	for _, o := range longs {
		if rc := C.curlsock_setopt_long(p, o.opt, C.long(o.v)); rc != C.CURLE_OK {
			return fmt.Errorf("curlsock: transport: %s: %w", optionName(int(o.opt)), CurlError(rc))
		}
	}
	for _, o := range opts {
		if err := e.Setopt(o.opt, o.v); err != nil {
			return fmt.Errorf("curlsock: transport: %w", err)
		}
	}
	if err := e.setSink(x); err != nil {
		return fmt.Errorf("curlsock: transport: %w", err)
	}
	if tr.Setup != nil {
		if err := tr.Setup(e); err != nil {
			return err
		}
	}
	return nil
}

// longOpt is a numeric option libcurl takes as a long.
type longOpt struct {
	opt C.CURLoption
	v   int64
}

// optVal is an option and its value.
type optVal struct {
	opt int
	v   any
}

// headerLines are req's headers as libcurl takes them, with what net/http
// adds and what libcurl would add on its own turned off.
func (tr *Transport) headerLines(req *http.Request, x *exchange) []string {
	lines := make([]string, 0, len(req.Header)+6)
	if req.Host != "" && req.Host != req.URL.Host {
		lines = append(lines, "Host: "+req.Host)
	}
	ua := defaultUserAgent
	if _, ok := req.Header["User-Agent"]; ok {
		ua = req.Header.Get("User-Agent")
	}
	if ua != "" {
		lines = append(lines, "User-Agent: "+ua)
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // as net/http: from the request's fields
		}
		for _, v := range vv {
			if v == "" {
				lines = append(lines, k+";") // libcurl's way to send an empty value
			} else {
				lines = append(lines, k+": "+v)
			}
		}
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		pass, _ := u.Password()
		lines = append(lines, "Authorization: Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	if x.requestedGzip {
		lines = append(lines, "Accept-Encoding: gzip")
	}
	if x.trailerKeys != nil {
		lines = append(lines, "Trailer: "+strings.Join(x.trailerKeys, ","))
	}
	if req.Close && !headerHasToken(req.Header["Connection"], "close") {
		lines = append(lines, "Connection: close")
	}
	// libcurl's own headers, off unless the request has them: an empty
	// "Name:" removes one.
	for _, k := range []string{"Accept", "Expect", "Content-Type"} {
		if _, ok := req.Header[k]; !ok {
			lines = append(lines, k+":")
		}
	}
	return lines
}

// headerHasToken reports whether a comma-separated header has token t.
func headerHasToken(vv []string, t string) bool {
	for _, v := range vv {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), t) {
				return true
			}
		}
	}
	return false
}

// roundTrip starts the transfer and waits for the final response headers.
func (x *exchange) roundTrip() (*http.Response, error) {
	ctx := x.req.Context()
	x.ready = make(chan struct{})
	x.signal = make(chan struct{}, 1)
	t, err := x.tr.engine().start(ctx, x.e, func(t *transfer) { x.t = t })
	if err != nil {
		x.closeRequestBody()
		x.tr.release(x.e)
		return nil, err
	}
	x.stop = context.AfterFunc(ctx, func() { x.abort(canceled(ctx)) })
	if x.up != nil {
		x.up.start(x, x.up.body, 0)
	}
	select {
	case <-x.ready:
	case <-t.done:
	}
	x.mu.Lock()
	ok := x.headersDone
	x.mu.Unlock()
	if !ok {
		err := x.finish()
		if err == nil {
			err = errors.New("curlsock: the server sent no response")
		}
		return nil, err
	}
	resp := x.response()
	if resp.Body == http.NoBody {
		// Nothing to read. The transfer has usually ended in the round
		// that brought the headers; if not (the request body is still on
		// its way), it ends on its own, and its handle goes back then.
		select {
		case <-t.done:
			x.finish()
		default:
			go func() {
				<-t.done
				x.finish()
			}()
		}
	}
	return resp, nil
}

// response makes the http.Response of the final headers, as net/http's
// readTransfer fills it.
func (x *exchange) response() *http.Response {
	x.mu.Lock()
	defer x.mu.Unlock()
	h := x.hdr
	resp := &http.Response{
		Status:     x.status,
		StatusCode: x.code,
		Proto:      x.proto,
		ProtoMajor: x.major,
		ProtoMinor: x.minor,
		Header:     h,
		Request:    x.req,
		TLS:        x.tls,
	}
	chunked := x.major == 1 && headerHasToken(h["Transfer-Encoding"], "chunked")
	if chunked {
		resp.TransferEncoding = []string{"chunked"}
		h.Del("Transfer-Encoding")
		h.Del("Content-Length")
	}
	if vv, ok := h["Trailer"]; ok && (chunked || x.major >= 2) {
		resp.Trailer = http.Header{}
		for _, v := range vv {
			for k := range strings.SplitSeq(v, ",") {
				if k = strings.TrimSpace(k); k != "" {
					resp.Trailer[http.CanonicalHeaderKey(k)] = nil
				}
			}
		}
		h.Del("Trailer")
	}
	resp.Close = x.major < 1 || headerHasToken(h["Connection"], "close") ||
		x.major == 1 && x.minor == 0 && !headerHasToken(h["Connection"], "keep-alive")
	if resp.Close && x.major == 1 && x.minor >= 1 {
		h.Del("Connection")
	}
	cl := int64(-1)
	if v := h.Get("Content-Length"); v != "" && !chunked {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			cl = n
		}
	}
	noBody := x.req.Method == http.MethodHead || x.code == http.StatusNoContent ||
		x.code == http.StatusNotModified || x.code/100 == 1
	switch {
	case x.req.Method == http.MethodHead:
		resp.ContentLength = cl // what the server says a GET would get
	case noBody:
		resp.ContentLength = 0
	default:
		resp.ContentLength = cl
	}
	if x.major == 1 && !chunked && cl < 0 && !noBody {
		resp.Close = true // the body ends with the connection
	}
	if noBody || resp.ContentLength == 0 {
		resp.Body = http.NoBody
		return resp
	}
	x.resp = resp
	body := &responseBody{x: x}
	resp.Body = body
	if x.requestedGzip && strings.EqualFold(h.Get("Content-Encoding"), "gzip") {
		h.Del("Content-Encoding")
		h.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
		resp.Body = &gzipBody{body: body}
	}
	return resp
}
