//go:build linux

package curl

/*
#include <curl/curl.h>
*/
import "C"

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
)

// The Transport's streams: an exchange is one request's transfer, whose
// data callbacks (a dataSink, run by the engine's shard) fill a bounded
// response buffer that the response body drains, and drain a bounded
// request buffer that a goroutine fills from the request body. A side that
// finds its buffer full (response) or empty (request) pauses the transfer;
// the other side resumes it through the shard (cmdPause), so no callback
// ever waits for the application.

const (
	// responseBufferMax is how much of a response body the Transport
	// holds for a reader that is behind; libcurl holds one more write
	// (16 KiB) while paused. The transfer resumes once the reader has
	// taken half.
	responseBufferMax = 256 << 10
	// uploadBufferMax is how much of a request body is read ahead.
	uploadBufferMax = 64 << 10
	uploadChunk     = 32 << 10
)

// errCallbackPanicked is what reads return after a callback's panic was
// raised from the exchange's end.
var errCallbackPanicked = errors.New("curlsock: the transfer ended with a callback's panic")

// errBodyClosedEarly ends a transfer whose response body was closed before
// its end.
var errBodyClosedEarly = errors.New("curlsock: response body closed")

type exchange struct {
	tr            *Transport
	req           *http.Request
	e             *CURL
	t             *transfer
	stop          func() bool // stops the context's cancel
	up            *upload     // nil: no request body
	requestedGzip bool
	trailerKeys   []string      // announced in a Trailer header: the request has trailers
	ready         chan struct{} // closed once the final headers are in
	signal        chan struct{} // body data or the end, for a waiting reader

	mu sync.Mutex
	// The response being received, written by the header callback.
	proto        string
	major, minor int
	code         int
	status       string
	hdr          http.Header
	lastKey      string
	headersDone  bool
	tls          *tls.ConnectionState
	trailer      http.Header
	headerErr    error
	resp         *http.Response // with a body to read
	body         bodyBuffer     // body bytes not yet read
	recvPaused   bool
	readyClosed  bool
	// Touched by the shard's goroutine only.
	wakeQueued bool
	// The end, once finish ran.
	finishOnce sync.Once
	finished   bool
	result     error
	closed     bool // Close was called on the body
	aborting   bool // abort was called: the write callback fails the transfer
}

// write takes body bytes, or pauses the transfer while the reader is behind.
func (x *exchange) write(p []byte) uint {
	x.mu.Lock()
	if x.aborting {
		x.mu.Unlock()
		return 0 // being stopped: libcurl ends the stream itself
	}
	if x.body.len() >= responseBufferMax {
		x.recvPaused = true
		x.mu.Unlock()
		return C.CURL_WRITEFUNC_PAUSE
	}
	x.body.write(p)
	x.mu.Unlock()
	x.wakeReader()
	return uint(len(p))
}

// wakeReader has the shard wake the goroutine waiting for x (RoundTrip for
// the headers, Read for the body) once the round is over: one wake-up for
// all that a round brought.
func (x *exchange) wakeReader() {
	if !x.wakeQueued {
		x.wakeQueued = true
		x.t.shard.wakeAfterRound(x)
	}
}

func (x *exchange) wake() {
	x.wakeQueued = false
	x.mu.Lock()
	ready := x.headersDone && !x.readyClosed
	x.readyClosed = x.headersDone
	x.mu.Unlock()
	if ready {
		close(x.ready)
	}
	select {
	case x.signal <- struct{}{}:
	default:
	}
}

// header takes one header line of any response of the exchange (1xx ones
// too) or, after the body, of the trailers (CURLOPT_HEADERFUNCTION.md).
func (x *exchange) header(p []byte) uint {
	line := strings.TrimRight(string(p), "\r\n")
	var tlsInfo *tls.ConnectionState
	if line == "" {
		// The end of a header block: the final one's gets resp.TLS, read
		// with curl_easy_getinfo outside the exchange's lock. x.code and
		// x.headersDone change only in this callback.
		x.mu.Lock()
		final := !x.headersDone && x.code >= 200
		x.mu.Unlock()
		if final {
			tlsInfo = x.tlsState()
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.headersDone && strings.HasPrefix(line, "HTTP/"):
		// A response after the final one: libcurl followed a redirect or
		// an authentication round that Setup asked for.
		x.headerErr = errors.New("curlsock: libcurl sent a second response (a redirect or authentication set by Setup): not supported")
		return 0
	case x.headersDone:
		if k, v, ok := splitHeader(line); ok {
			if x.trailer == nil {
				x.trailer = http.Header{}
			}
			x.trailer[k] = append(x.trailer[k], v)
		}
	case strings.HasPrefix(line, "HTTP/"):
		if err := x.statusLine(line); err != nil {
			x.headerErr = err
			return 0 // CURLE_WRITE_ERROR
		}
	case line == "":
		if x.code == 0 {
			break
		}
		if x.code == http.StatusSwitchingProtocols {
			x.headerErr = errors.New("curlsock: 101 Switching Protocols: protocol upgrades are not supported")
			return 0
		}
		if x.code/100 == 1 {
			x.code, x.hdr = 0, nil // interim: the next response follows
			break
		}
		if err := collapseContentLength(x.hdr); err != nil {
			x.headerErr = err
			return 0
		}
		x.headersDone = true
		x.tls = tlsInfo
		x.wakeReader()
	case strings.IndexByte(line, '\r') >= 0:
		// A bare CR inside a line, which net/http refuses: some
		// parsers end the line there.
		x.headerErr = fmt.Errorf("curlsock: malformed response header line %q", line)
		return 0
	case line[0] == ' ' || line[0] == '\t':
		// An obsolete line folding: part of the last value.
		if vv := x.hdr[x.lastKey]; len(vv) > 0 {
			vv[len(vv)-1] += " " + strings.TrimSpace(line)
		}
	default:
		if k, v, ok := splitHeader(line); ok && x.hdr != nil {
			x.hdr[k] = append(x.hdr[k], v)
			x.lastKey = k
		}
	}
	return uint(len(p))
}

// collapseContentLength refuses a response with differing Content-Length
// values, as net/http does (libcurl would frame the body by the first one),
// and keeps one of several equal values.
func collapseContentLength(h http.Header) error {
	cl := h["Content-Length"]
	if len(cl) < 2 {
		return nil
	}
	first := strings.TrimSpace(cl[0])
	for _, v := range cl[1:] {
		if strings.TrimSpace(v) != first {
			return fmt.Errorf("curlsock: http: message cannot contain multiple Content-Length headers; got %q", cl)
		}
	}
	h["Content-Length"] = []string{first}
	return nil
}

// statusLine starts a response: "HTTP/1.1 200 OK", or libcurl's "HTTP/2 200".
func (x *exchange) statusLine(line string) error {
	proto, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimLeft(rest, " ")
	code, err := strconv.Atoi(rest[:min(3, len(rest))])
	if err != nil || code < 100 || code > 999 {
		return fmt.Errorf("curlsock: malformed status line %q", line)
	}
	switch proto {
	case "HTTP/2", "HTTP/3":
		x.proto, x.major, x.minor = proto+".0", int(proto[5]-'0'), 0
		rest = strconv.Itoa(code) + " " + http.StatusText(code) // as net/http's HTTP/2
	default:
		major, minor, ok := http.ParseHTTPVersion(proto)
		if !ok {
			return fmt.Errorf("curlsock: malformed HTTP version %q", proto)
		}
		x.proto, x.major, x.minor = proto, major, minor
	}
	x.code, x.status = code, rest
	x.hdr, x.lastKey = http.Header{}, ""
	return nil
}

// splitHeader splits "Name: value" into the canonical name and the value.
func splitHeader(line string) (string, string, bool) {
	k, v, ok := strings.Cut(line, ":")
	if !ok || k == "" {
		return "", "", false
	}
	return textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)), strings.Trim(v, " \t"), true
}

// finish ends the exchange once the transfer is out of the engine: the
// transfer's result (nil for a complete response), the trailers into the
// response, the request body closed and the handle back in the pool. It
// runs once; a concurrent call (Close during Read) waits for it, and later
// calls return the same result.
func (x *exchange) finish() error {
	x.finishOnce.Do(x.finishNow)
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.result
}

func (x *exchange) finishNow() {
	err := errCallbackPanicked // unless outcome returns
	defer func() {
		// Also when outcome raises a callback's panic: readers stop waiting.
		x.mu.Lock()
		x.finished, x.result = true, err
		if err == nil && x.resp != nil && len(x.trailer) > 0 {
			if x.resp.Trailer == nil {
				x.resp.Trailer = http.Header{}
			}
			for k, vv := range x.trailer {
				x.resp.Trailer[k] = vv
			}
		}
		x.mu.Unlock()
	}()
	x.stop()
	if x.up != nil {
		x.up.end()
	}
	err = x.outcome()
}

// outcome returns the transfer's result and releases the handle. A panic
// of a callback (from Setup's or Sockets' callbacks) is raised here, and
// the handle is dropped.
func (x *exchange) outcome() error {
	released := false
	defer func() {
		if !released {
			x.e.Cleanup()
		}
	}()
	err := x.e.endTransferOf(x.t)
	x.mu.Lock()
	headerErr := x.headerErr
	x.mu.Unlock()
	if code, ok := err.(CurlError); ok {
		// libcurl's own text says more than the code ("CONNECT tunnel
		// failed, response 407", the address that refused).
		if d := x.e.ErrorText(); d != "" {
			err = &Error{Code: code, Detail: d}
		}
	}
	var upErr error
	if x.up != nil {
		upErr = x.up.failure()
	}
	x.tr.release(x.e) // Reset drops the sink
	released = true
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errBodyClosedEarly):
		return errBodyClosedEarly
	case upErr != nil:
		return fmt.Errorf("curlsock: reading the request body: %w", upErr)
	case headerErr != nil:
		return headerErr
	case errors.Is(err, CurlError(C.CURLE_PARTIAL_FILE)):
		return fmt.Errorf("%w: %w", io.ErrUnexpectedEOF, err)
	}
	return err
}

// closeRequestBody closes the request body of an exchange that never ran.
func (x *exchange) closeRequestBody() {
	if x.up != nil {
		x.up.closeBody()
	}
}

// bodyBuffer holds response bytes between the write callback and the
// reader. It moves what is unread to its front before it grows, so its
// capacity stays within twice what it may hold (responseBufferMax and one
// write), whatever the length of the body.
type bodyBuffer struct {
	b []byte
	r int // b[r:] is unread
}

func (q *bodyBuffer) len() int { return len(q.b) - q.r }

func (q *bodyBuffer) write(p []byte) {
	if q.r > 0 && len(q.b)+len(p) > cap(q.b) {
		n := copy(q.b, q.b[q.r:])
		q.b, q.r = q.b[:n], 0
	}
	q.b = append(q.b, p...)
}

func (q *bodyBuffer) read(p []byte) int {
	n := copy(p, q.b[q.r:])
	q.r += n
	if q.r == len(q.b) {
		q.b, q.r = q.b[:0], 0
	}
	return n
}

// A responseBody streams the response from the exchange's buffer.
type responseBody struct{ x *exchange }

func (b *responseBody) Read(p []byte) (int, error) {
	x := b.x
	for {
		x.mu.Lock()
		switch {
		case x.closed:
			x.mu.Unlock()
			return 0, ErrBodyClosed
		case x.body.len() > 0:
			n := x.body.read(p)
			resume := x.recvPaused && x.body.len() <= responseBufferMax/2 && !x.finished
			if resume {
				x.recvPaused = false
			}
			x.mu.Unlock()
			if resume {
				x.resume()
			}
			return n, nil
		case x.finished:
			err := x.result
			x.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
		x.mu.Unlock()
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case <-x.signal:
		case <-x.t.done:
			// The transfer's last bytes were written before done closed.
			x.finish()
		}
	}
}

// Close stops a transfer still running (its connection is closed, or its
// HTTP/2 stream reset) and returns the handle to the pool.
func (b *responseBody) Close() error {
	x := b.x
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	x.mu.Unlock()
	if !x.t.ended() {
		x.abort(errBodyClosedEarly)
		<-x.t.done
	}
	x.finish()
	return nil
}

// abort stops the transfer with err (Close, the context). A transfer the
// Transport paused is resumed first, its write callback failing it:
// libcurl 7.88 went on delivering the data of an HTTP/2 stream removed
// while paused to the handle's next transfer, another request's response.
func (x *exchange) abort(err error) {
	x.mu.Lock()
	x.aborting = true
	paused := x.recvPaused
	x.mu.Unlock()
	if paused {
		x.resume()
	}
	_ = x.t.shard.submit(command{kind: cmdCancel, t: x.t, err: err})
}

// resume asks the shard to resume the transfer (curl_easy_pause(CONT)): a
// direction that still has to wait pauses itself again from its callback.
func (x *exchange) resume() {
	_ = x.t.shard.submit(command{kind: cmdPause, t: x.t, bits: C.CURLPAUSE_CONT})
}

// gzipBody decodes a gzip response lazily, as net/http's gzipReader: a
// malformed stream is a Read error.
type gzipBody struct {
	body *responseBody
	zr   *gzip.Reader
	err  error
}

func (g *gzipBody) Read(p []byte) (int, error) {
	if g.zr == nil {
		if g.err == nil {
			g.zr, g.err = gzip.NewReader(g.body)
		}
		if g.err != nil {
			return 0, g.err
		}
	}
	// In multistream mode gzip reads the body to its end, so the
	// transfer's late errors and trailers come through.
	return g.zr.Read(p)
}

func (g *gzipBody) Close() error { return g.body.Close() }

// upload streams a request body: a goroutine reads it ahead into a bounded
// buffer that the read callback drains.
type upload struct {
	body *onceCloser // the current one: a rewind replaces it
	size int64       // the request's ContentLength; -1 if unknown

	mu         sync.Mutex
	room       *sync.Cond // the buffer has room, or the pump must stop
	buf        bytes.Buffer
	gen        int // bumped by a rewind: an older pump stops
	eof        bool
	err        error
	sendPaused bool
	consumed   bool  // libcurl has taken bytes of this generation
	read       int64 // bytes the pump read from this generation's body
	taken      int64 // bytes the read callback gave libcurl
	ended      bool
}

// onceCloser closes a request body once, whoever gets there first: the
// pump at the body's end, a rewind, or the exchange's end.
type onceCloser struct {
	io.ReadCloser
	once sync.Once
}

func (c *onceCloser) Close() error {
	c.once.Do(func() { c.ReadCloser.Close() })
	return nil
}

func newUpload(body io.ReadCloser, size int64) *upload {
	u := &upload{body: &onceCloser{ReadCloser: body}, size: size}
	u.room = sync.NewCond(&u.mu)
	return u
}

// start runs a pump for body, the generation gen's.
func (u *upload) start(x *exchange, body *onceCloser, gen int) {
	go u.pump(x, body, gen)
}

// pump reads body ahead of the read callback, and closes it at its end, as
// net/http does once a body is sent.
func (u *upload) pump(x *exchange, body *onceCloser, gen int) {
	defer body.Close()
	chunk := make([]byte, uploadChunk)
	for {
		u.mu.Lock()
		for u.gen == gen && !u.ended && u.buf.Len() >= uploadBufferMax {
			u.room.Wait()
		}
		stale := u.gen != gen || u.ended
		u.mu.Unlock()
		if stale {
			return
		}
		n, err := body.Read(chunk)
		u.mu.Lock()
		if u.gen != gen || u.ended {
			u.mu.Unlock()
			return
		}
		u.buf.Write(chunk[:n])
		u.read += int64(n)
		switch {
		case u.size >= 0 && u.read > u.size, u.size >= 0 && err == io.EOF && u.read < u.size:
			// As net/http: a body that is not as long as it says fails.
			err = fmt.Errorf("http: ContentLength=%d with Body length %d", u.size, u.read)
			u.err = err
		case err == io.EOF:
			u.eof = true
		case err != nil:
			u.err = err
		}
		wake := u.sendPaused && (n > 0 || err != nil)
		if wake {
			u.sendPaused = false
		}
		u.mu.Unlock()
		if wake {
			x.resume()
		}
		if err != nil {
			return
		}
	}
}

// read is the read callback: bytes read ahead, the end, or a pause until the
// pump has more.
func (x *exchange) read(p []byte) uint {
	u := x.up
	if u == nil {
		return 0 // an empty POST, PUT or PATCH
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	avail := u.buf.Len()
	if u.size >= 0 && !u.eof && u.err == nil {
		// The last byte waits until the body's end is known: libcurl stops
		// asking once it has size bytes, and a longer body must fail.
		avail = min(avail, int(u.size-u.taken-1))
	}
	switch {
	case u.err != nil:
		return C.CURL_READFUNC_ABORT
	case avail > 0:
		n, _ := u.buf.Read(p[:min(len(p), avail)])
		u.taken += int64(n)
		u.consumed = true
		u.room.Signal()
		return uint(n)
	case u.eof:
		return 0
	}
	u.sendPaused = true
	return C.CURL_READFUNC_PAUSE
}

// seek is the seek callback: libcurl rewinds the body to send it again on
// a new connection (a reused one that the server had closed). A body not
// yet consumed needs nothing; any other starts over from req.GetBody.
func (x *exchange) seek(offset int64, origin int) int {
	u := x.up
	if u == nil {
		return C.CURL_SEEKFUNC_OK
	}
	if offset != 0 || origin != io.SeekStart {
		return C.CURL_SEEKFUNC_CANTSEEK
	}
	u.mu.Lock()
	if !u.consumed {
		u.mu.Unlock()
		return C.CURL_SEEKFUNC_OK
	}
	if x.req.GetBody == nil || u.ended {
		u.mu.Unlock()
		return C.CURL_SEEKFUNC_CANTSEEK
	}
	u.mu.Unlock()
	rc, err := getBody(x.req)
	if err != nil {
		u.mu.Lock()
		u.err = fmt.Errorf("GetBody: %w", err)
		u.mu.Unlock()
		return C.CURL_SEEKFUNC_FAIL
	}
	body := &onceCloser{ReadCloser: rc}
	u.mu.Lock()
	old := u.body
	u.body = body
	u.gen++
	u.buf.Reset()
	u.eof, u.err, u.consumed = false, nil, false
	u.read, u.taken = 0, 0
	gen := u.gen
	u.room.Broadcast()
	u.mu.Unlock()
	old.Close() // its pump, if still reading, stops
	u.start(x, body, gen)
	return C.CURL_SEEKFUNC_OK
}

// getBody calls req.GetBody, which runs on the shard's goroutine: its
// panic becomes the request's error instead of ending the process.
func getBody(req *http.Request) (body io.ReadCloser, err error) {
	defer func() {
		if v := recover(); v != nil {
			body, err = nil, fmt.Errorf("panic: %v", v)
		}
	}()
	return req.GetBody()
}

// end stops the pumps and closes every body read: a pump blocked in Read
// (an io.Pipe) returns then.
func (u *upload) end() {
	u.mu.Lock()
	u.ended = true
	u.room.Broadcast()
	u.mu.Unlock()
	u.closeBody()
}

func (u *upload) closeBody() {
	u.mu.Lock()
	b := u.body
	u.mu.Unlock()
	b.Close()
}

// failure returns the request body's read error, if it had one.
func (u *upload) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// setSink routes e's data callbacks to x.
func (e *CURL) setSink(x *exchange) error {
	e.reg.mu.Lock()
	e.reg.opts.sink = x
	e.reg.mu.Unlock()
	return e.installData()
}
