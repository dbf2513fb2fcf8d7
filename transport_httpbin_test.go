//go:build linux

package curl

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"crypto/sha256"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mccutchen/go-httpbin/v2/httpbin"
)

// The tests here run go-httpbin in process and send every request through
// net/http's Transport and through curl.Transport, each with an http.Client
// of its own, then compare what came back: status, headers, lengths,
// transfer encoding, trailers and the decoded body. httpbin's echo
// endpoints (/anything, /get, /post, /headers, /user-agent, ...) send back
// the request as the server saw it, so equal bodies mean equal requests.

// hbServer is a go-httpbin server and the two transports compared on it.
type hbServer struct {
	name string
	url  string // no trailing slash
	cert []byte // the TLS server's leaf certificate (DER), nil for plain HTTP
	std  http.RoundTripper
	curl *Transport
}

// startHttpbin starts go-httpbin twice: plain HTTP/1.1, and HTTPS with
// HTTP/2. Both share one curl.Transport (on an engine of the test's own),
// as an application's client would.
func startHttpbin(t *testing.T) []*hbServer {
	t.Helper()
	hb := httpbin.New()

	plain := httptest.NewServer(hb)
	t.Cleanup(plain.Close)
	secure := httptest.NewUnstartedServer(hb)
	secure.EnableHTTP2 = true
	secure.StartTLS()
	t.Cleanup(secure.Close)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw})
	if err := os.WriteFile(caFile, pemData, 0o600); err != nil {
		t.Fatal(err)
	}

	eng := NewEngine(WithShards(2))
	ctr := &Transport{Engine: eng, CAFile: caFile}
	std := http.DefaultTransport.(*http.Transport).Clone()
	std.Proxy = nil
	t.Cleanup(func() {
		std.CloseIdleConnections()
		ctr.CloseIdleConnections()
		eng.Close()
	})
	return []*hbServer{
		{name: "http1", url: plain.URL, std: std, curl: ctr},
		{name: "h2", url: secure.URL, cert: secure.Certificate().Raw, std: secure.Client().Transport, curl: ctr},
	}
}

// hbBody is how a case sends its body.
type hbBody int

const (
	hbNone    hbBody = iota // no body (nil)
	hbKnown                 // a strings.Reader: ContentLength and GetBody set
	hbUnknown               // a reader of unknown length (ContentLength 0)
	hbPipe                  // an io.Pipe written slowly, in pieces
)

// hbKind is how a response body is decoded for the comparison.
type hbKind int

const (
	hbRaw       hbKind = iota // the bytes
	hbJSON                    // one JSON document
	hbLines                   // a JSON document per line
	hbGzipJSON                // gzip the test decodes, then JSON
	hbDeflate                 // zlib the test decodes, then JSON
	hbUUID                    // {"uuid": v4}: only the shape
	hbMultipart               // multipart/byteranges: the parts
)

// hbCase is one request, or a sequence of them on one client (steps).
type hbCase struct {
	name    string
	method  string
	path    string // appended to the server's URL
	header  http.Header
	host    string        // req.Host
	user    *url.Userinfo // in the URL
	basic   []string      // SetBasicAuth(user, password)
	body    string
	bodyAs  hbBody
	length  int64         // if not 0, req.ContentLength, whatever the body's length
	close   bool          // req.Close
	timeout time.Duration // the request's deadline; 0: 20 s
	kind    hbKind
	ignore  []string // response headers that differ between any two requests
	jar     bool     // the client has a cookie jar
	// defaultUA leaves the User-Agent to the transport. The other cases
	// send one of their own, so that the default one (net/http's differs
	// between HTTP/1.1 and HTTP/2) is compared by these cases alone.
	defaultUA bool
	// earlyAnswer: the server answers without reading the request body
	// and resets the HTTP/2 stream with NO_ERROR, which libcurl 7.88
	// takes for a framing error ("Stream error in the HTTP/2 framing
	// layer"; the curl 7.88.1 tool fails the same way, 8.x does not).
	earlyAnswer bool
	skipH2      bool // a documented difference over HTTP/2

	steps []hbCase // run in order on one client instead

	// Checks of net/http's own result, that the case tests what it means to.
	wantStatus int
	wantErr    string // "do: deadline", "read: deadline", ...
	anyErr     bool   // errors other than a deadline's compare as "error"
	// Over HTTP/2 net/http gets this status and no error instead.
	wantStatusH2 int
	echoData     bool // the echoed "data" is body
	wantHops     int  // redirects followed
	// check, if set, checks each transport's result on its own.
	check func(t *testing.T, r hbResult)
}

// hbResult is what one transport got for one request.
type hbResult struct {
	Err              string
	Status           string
	StatusCode       int
	Proto            string
	Header           http.Header
	ContentLength    int64
	Uncompressed     bool
	TransferEncoding []string
	Close            bool
	TLS              string
	TrailerAnnounced []string    // resp.Trailer's keys before the body is read
	Trailer          http.Header // after EOF
	Body             any
	Hops             int
	FinalURL         string
	Cookies          []string // the jar's, for the server's URL
}

func (c *hbCase) request(ctx context.Context, base string) (*http.Request, error) {
	var body io.Reader
	switch c.bodyAs {
	case hbKnown:
		body = strings.NewReader(c.body)
	case hbUnknown:
		body = struct{ io.Reader }{strings.NewReader(c.body)}
	case hbPipe:
		pr, pw := io.Pipe()
		go func() {
			data := c.body
			for len(data) > 0 {
				time.Sleep(20 * time.Millisecond)
				n := min(len(data), max(len(c.body)/5, 1))
				if _, err := pw.Write([]byte(data[:n])); err != nil {
					return // the transport closed the body
				}
				data = data[n:]
			}
			pw.Close()
		}()
		body = pr
	}
	method := c.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequestWithContext(ctx, method, base+c.path, body)
	if err != nil {
		return nil, err
	}
	if !c.defaultUA {
		req.Header.Set("User-Agent", "curlsock-httpbin-test/1.0")
	}
	for k, vv := range c.header {
		req.Header[k] = slices.Clone(vv)
	}
	if c.host != "" {
		req.Host = c.host
	}
	if c.user != nil {
		req.URL.User = c.user
	}
	if c.length != 0 {
		req.ContentLength = c.length
	}
	req.Close = c.close
	if c.basic != nil {
		req.SetBasicAuth(c.basic[0], c.basic[1])
	}
	return req, nil
}

// hbRun runs c through rt with a client of its own: one result per step.
func hbRun(t *testing.T, srv *hbServer, rt http.RoundTripper, c *hbCase) []hbResult {
	t.Helper()
	hops := 0
	client := &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			hops = len(via)
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
	var jar *cookiejar.Jar
	if c.jar {
		jar, _ = cookiejar.New(nil)
		client.Jar = jar
	}
	steps := c.steps
	if steps == nil {
		steps = []hbCase{*c}
	}
	base, _ := url.Parse(srv.url)
	var out []hbResult
	for i := range steps {
		hops = 0
		r := hbFetch(t, srv, client, &steps[i])
		r.Hops = hops
		if jar != nil {
			for _, ck := range jar.Cookies(base) {
				r.Cookies = append(r.Cookies, ck.String())
			}
			slices.Sort(r.Cookies)
		}
		out = append(out, r)
	}
	return out
}

func hbFetch(t *testing.T, srv *hbServer, client *http.Client, c *hbCase) hbResult {
	t.Helper()
	timeout := c.timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var r hbResult
	req, err := c.request(ctx, srv.url)
	if err != nil {
		r.Err = "making the request: " + err.Error()
		return r
	}
	resp, err := client.Do(req)
	if err != nil {
		r.Err = "do: " + hbErr(err, c.anyErr)
		return r
	}
	defer resp.Body.Close()
	r.Status = resp.Status
	r.StatusCode = resp.StatusCode
	r.Proto = resp.Proto
	r.Header = resp.Header.Clone()
	r.Header.Del("Date")
	for _, k := range c.ignore {
		r.Header.Del(k)
	}
	r.ContentLength = resp.ContentLength
	r.Uncompressed = resp.Uncompressed
	r.TransferEncoding = resp.TransferEncoding
	r.Close = resp.Close
	if resp.TLS != nil {
		leaf := "no certificate"
		if len(resp.TLS.PeerCertificates) > 0 {
			leaf = "another certificate"
			if bytes.Equal(resp.TLS.PeerCertificates[0].Raw, srv.cert) {
				leaf = "the server's certificate"
			}
		}
		r.TLS = fmt.Sprintf("handshake complete %v, server name %q, ALPN %q, %s",
			resp.TLS.HandshakeComplete, resp.TLS.ServerName, resp.TLS.NegotiatedProtocol, leaf)
	}
	for k := range resp.Trailer {
		r.TrailerAnnounced = append(r.TrailerAnnounced, k)
	}
	slices.Sort(r.TrailerAnnounced)
	r.FinalURL = resp.Request.URL.String()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		r.Err = "read: " + hbErr(err, c.anyErr)
		return r // the body's length depends on the timing
	}
	r.Trailer = resp.Trailer
	ct := resp.Header.Get("Content-Type")
	if mt, params, err := mime.ParseMediaType(ct); err == nil && strings.HasPrefix(mt, "multipart/") {
		// The boundary is random: compare the parts instead.
		r.Header.Set("Content-Type", strings.Replace(ct, params["boundary"], "BOUNDARY", 1))
		if c.kind == hbMultipart {
			r.Body = hbParts(data, params["boundary"])
			return r
		}
	}
	r.Body = hbDecode(c.kind, data)
	return r
}

// hbErr says whether err is a deadline's, or what it is (or only that it
// is an error: the transports word theirs differently).
func hbErr(err error, generic bool) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case generic:
		return "error"
	}
	return err.Error()
}

func hbDecode(kind hbKind, data []byte) any {
	switch kind {
	case hbJSON:
		return hbJSONValue(data)
	case hbLines:
		var lines []any
		for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
			lines = append(lines, hbJSONValue([]byte(line)))
		}
		return lines
	case hbGzipJSON, hbDeflate:
		var zr io.Reader
		var err error
		if kind == hbGzipJSON {
			zr, err = gzip.NewReader(bytes.NewReader(data))
		} else {
			zr, err = zlib.NewReader(bytes.NewReader(data))
		}
		if err != nil {
			return fmt.Sprintf("not compressed (%v): %s", err, hbBytes(data))
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			return fmt.Sprintf("not compressed (%v): %s", err, hbBytes(data))
		}
		return hbJSONValue(plain)
	case hbUUID:
		var v struct{ UUID string }
		if json.Unmarshal(data, &v) == nil && uuidV4.MatchString(v.UUID) {
			return "a v4 UUID"
		}
		return hbBytes(data)
	}
	return hbBytes(data)
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func hbJSONValue(data []byte) any {
	var v any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return fmt.Sprintf("invalid JSON (%v): %s", err, hbBytes(data))
	}
	return v
}

// hbBytes is a body as text, or its length and hash if it is binary or long.
func hbBytes(data []byte) string {
	if utf8.Valid(data) && len(data) <= 16<<10 {
		return string(data)
	}
	return fmt.Sprintf("%d bytes, sha256 %x", len(data), sha256.Sum256(data))
}

// hbParts are the parts of a multipart body, as text.
func hbParts(data []byte, boundary string) []string {
	var parts []string
	mr := multipart.NewReader(bytes.NewReader(data), boundary)
	for {
		p, err := mr.NextPart()
		if err != nil {
			if err != io.EOF {
				parts = append(parts, "error: "+err.Error())
			}
			return parts
		}
		b, err := io.ReadAll(p)
		if err != nil {
			b = append(b, "error: "+err.Error()...)
		}
		parts = append(parts, fmt.Sprintf("%s | %s | %s", p.Header.Get("Content-Type"), p.Header.Get("Content-Range"), b))
	}
}

// hbCompare runs c through both transports and compares their results.
func hbCompare(t *testing.T, srv *hbServer, c *hbCase) {
	t.Helper()
	std := hbRun(t, srv, srv.std, c)
	cur := hbRun(t, srv, srv.curl, c)
	// Check first that the case tests what it is meant to.
	last := std[len(std)-1]
	wantStatus, wantErr := c.wantStatus, c.wantErr
	if srv.name == "h2" && c.wantStatusH2 != 0 {
		wantStatus, wantErr = c.wantStatusH2, ""
	}
	if wantStatus != 0 && last.StatusCode != wantStatus {
		t.Errorf("net/http got status %d (%s), the case wants %d", last.StatusCode, last.Err, wantStatus)
	}
	if last.Err != wantErr {
		t.Errorf("net/http got error %q, the case wants %q", last.Err, wantErr)
	}
	if last.Hops != c.wantHops {
		t.Errorf("net/http followed %d redirects, the case wants %d", last.Hops, c.wantHops)
	}
	for i, r := range []hbResult{last, cur[len(cur)-1]} {
		who := []string{"net/http", "curl.Transport"}[i]
		if c.check != nil {
			t.Run([]string{"nethttp", "curl"}[i], func(t *testing.T) { c.check(t, r) })
		}
		if !c.echoData {
			continue
		}
		m, _ := r.Body.(map[string]any)
		if got, _ := m["data"].(string); got != c.body {
			t.Errorf("%s: the echoed data (%d bytes) is not the body (%d bytes): %.100q", who, len(got), len(c.body), got)
		}
	}
	if srv.name == "h2" && c.defaultUA {
		// net/http's HTTP/2 sends Go-http-client/2.0; curl.Transport sets
		// its headers before the handshake chooses the protocol, and sends
		// Go-http-client/1.1 (documented on Transport).
		for i := range std {
			std[i].Body = hbReplace(std[i].Body, "Go-http-client/2.0", "Go-http-client/1.1")
		}
	}
	if diff := cmp.Diff(std, cur, cmpopts.EquateEmpty()); diff != "" {
		method := c.method
		if method == "" {
			method = "GET"
		}
		t.Errorf("%s %s: net/http (-) and curl.Transport (+) differ:\n%s", method, c.path, diff)
	}
}

// hbReplace replaces old by new in every string of a decoded JSON value.
func hbReplace(v any, old, new string) any {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, old, new)
	case []any:
		for i := range v {
			v[i] = hbReplace(v[i], old, new)
		}
	case map[string]any:
		for k := range v {
			v[k] = hbReplace(v[k], old, new)
		}
	}
	return v
}

// hbNoGzipAsked checks that the echoed request did not ask for gzip.
func hbNoGzipAsked(t *testing.T, r hbResult) {
	t.Helper()
	m, _ := r.Body.(map[string]any)
	h, _ := m["headers"].(map[string]any)
	if h == nil {
		t.Errorf("no echoed headers in %v", r.Body)
	} else if v, ok := h["Accept-Encoding"]; ok {
		t.Errorf("the request had Accept-Encoding %v", v)
	}
}

// hbH builds a header from name, value pairs; a name may come back.
func hbH(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h[http.CanonicalHeaderKey(kv[i])] = append(h[http.CanonicalHeaderKey(kv[i])], kv[i+1])
	}
	return h
}

func hbCases() []hbCase {
	const (
		form     = "name=curl+sock&list=1&list=2&empty=&esc=%26%3D%2B"
		jsonBody = `{"a": 1, "b": [true, null, "x"], "c": {"d": "é"}}`
		text     = "hello, world\nsecond line\n"
	)
	formCT := hbH("Content-Type", "application/x-www-form-urlencoded")
	jsonCT := hbH("Content-Type", "application/json")
	textCT := hbH("Content-Type", "text/plain; charset=utf-8")

	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.SetBoundary("curlsock-boundary-1234")
	_ = mw.WriteField("field", "value")
	fw, _ := mw.CreateFormFile("file", "a.txt")
	_, _ = fw.Write([]byte("file contents\n"))
	_ = mw.Close()

	var bin strings.Builder
	for i := range 256 {
		bin.WriteByte(byte(i))
	}
	long := strings.Repeat("0123456789abcdef", 20<<10) // 320 KiB

	cases := []hbCase{
		// Methods and bodies, echoed.
		{name: "get/query", path: "/get?a=1&a=2&b=two%20words&empty=&plus=1%2B1", kind: hbJSON, wantStatus: 200},
		{name: "get/plain", path: "/get", kind: hbJSON, wantStatus: 200, defaultUA: true},
		{name: "get/body", path: "/anything", body: text, bodyAs: hbKnown, header: textCT, kind: hbJSON, echoData: true},
		{name: "get/unknown-length", path: "/anything", header: textCT, body: text, bodyAs: hbUnknown, kind: hbJSON, echoData: true},
		{name: "get/unknown-length-empty", path: "/anything", bodyAs: hbUnknown, kind: hbJSON},
		{name: "post/form", method: "POST", path: "/post", header: formCT, body: form, bodyAs: hbKnown, kind: hbJSON, echoData: true},
		{name: "post/form-unknown-length", method: "POST", path: "/post", header: formCT, body: form, bodyAs: hbUnknown, kind: hbJSON, echoData: true},
		{name: "post/json", method: "POST", path: "/anything?x=y", header: jsonCT, body: jsonBody, bodyAs: hbKnown, kind: hbJSON, echoData: true},
		{name: "post/multipart", method: "POST", path: "/post", header: hbH("Content-Type", mw.FormDataContentType()), body: mp.String(), bodyAs: hbKnown, kind: hbJSON},
		{name: "post/binary", method: "POST", path: "/anything", body: bin.String(), bodyAs: hbKnown, kind: hbJSON},
		{name: "post/long-unknown-length", method: "POST", path: "/anything", header: textCT, body: long, bodyAs: hbUnknown, kind: hbJSON, echoData: true},
		{name: "post/empty", method: "POST", path: "/post", kind: hbJSON, wantStatus: 200, defaultUA: true},
		{name: "post/empty-unknown-length", method: "POST", path: "/anything", bodyAs: hbUnknown, kind: hbJSON},
		{name: "put/json", method: "PUT", path: "/put", header: jsonCT, body: jsonBody, bodyAs: hbKnown, kind: hbJSON, echoData: true},
		{name: "put/json-unknown-length", method: "PUT", path: "/put", header: jsonCT, body: jsonBody, bodyAs: hbUnknown, kind: hbJSON, echoData: true},
		{name: "put/empty", method: "PUT", path: "/put", kind: hbJSON},
		{name: "patch/text", method: "PATCH", path: "/patch", header: textCT, body: text, bodyAs: hbKnown, kind: hbJSON, echoData: true},
		{name: "patch/text-unknown-length", method: "PATCH", path: "/patch", header: textCT, body: text, bodyAs: hbUnknown, kind: hbJSON, echoData: true},
		{name: "delete/body", method: "DELETE", path: "/delete", header: formCT, body: form, bodyAs: hbKnown, kind: hbJSON, echoData: true},
		{name: "delete/no-body", method: "DELETE", path: "/delete", kind: hbJSON, wantStatus: 200},
		{name: "delete/unknown-length", method: "DELETE", path: "/anything", header: textCT, body: text, bodyAs: hbUnknown, kind: hbJSON, echoData: true},
		{name: "delete/unknown-length-empty", method: "DELETE", path: "/anything", bodyAs: hbUnknown, kind: hbJSON},
		{name: "options", method: "OPTIONS", path: "/anything", header: hbH("Origin", "http://o.example", "Access-Control-Request-Headers", "X-Foo"), wantStatus: 200},
		{name: "custom-method", method: "PURGE", path: "/anything/purge", header: textCT, body: text, bodyAs: hbKnown, kind: hbJSON, echoData: true},
		{name: "post/slow-pipe", method: "POST", path: "/anything", header: textCT, body: strings.Repeat("piece of a streamed body;", 40), bodyAs: hbPipe, kind: hbJSON, echoData: true},
		{name: "expect-continue", method: "POST", path: "/anything", header: hbH("Content-Type", "text/plain", "Expect", "100-continue"), body: text, bodyAs: hbKnown, kind: hbJSON, echoData: true},
		{name: "request-close", method: "POST", path: "/anything", header: textCT, body: text, bodyAs: hbKnown, close: true, kind: hbJSON, echoData: true},
		// A ContentLength that the body does not have is the caller's
		// error: net/http refuses to send such a request, except a body
		// shorter than announced over HTTP/2, which the server refuses.
		// Over HTTP/2 net/http sends the short body and returns the
		// server's 400; curl.Transport fails the request on both protocols,
		// as net/http's HTTP/1 does (TestTransportContentLengthMismatch).
		{name: "content-length/longer-than-body", method: "POST", path: "/anything", header: textCT, body: text, bodyAs: hbKnown, length: int64(len(text)) + 10, timeout: 3 * time.Second, anyErr: true, wantErr: "do: error", wantStatusH2: 400, skipH2: true},
		{name: "content-length/shorter-than-body", method: "POST", path: "/anything", header: textCT, body: text, bodyAs: hbKnown, length: 5, timeout: 3 * time.Second, anyErr: true, wantErr: "do: error"},
		{name: "dump-request/get", path: "/dump/request?q=1", header: hbH("X-A", "1", "X-A", "2"), defaultUA: true},
		{name: "dump-request/post", method: "POST", path: "/dump/request", header: textCT, body: text, bodyAs: hbKnown},

		// Request headers.
		{name: "headers/multi-valued", path: "/headers", header: hbH("X-Multi", "one", "X-Multi", "two", "X-Multi", "three, four"), kind: hbJSON},
		{name: "headers/empty-value", path: "/headers", header: hbH("X-Empty", "", "X-Full", "full"), kind: hbJSON},
		{name: "headers/accept", path: "/headers", header: hbH("Accept", "application/json", "Accept-Language", "fr"), kind: hbJSON},
		{name: "headers/host-override", path: "/headers", host: "example.com", kind: hbJSON},
		{name: "anything/host-override", path: "/anything/x?y=z", host: "example.com:8080", kind: hbJSON},
		{name: "headers/close", path: "/headers", header: hbH("Connection", "close"), kind: hbJSON},
		{name: "user-agent/default", path: "/user-agent", kind: hbJSON, defaultUA: true},
		{name: "user-agent/custom", path: "/user-agent", header: hbH("User-Agent", "curlsock-test/1.0"), kind: hbJSON},
		{name: "user-agent/empty", path: "/headers", header: hbH("User-Agent", ""), kind: hbJSON},
		{name: "bearer", path: "/bearer", header: hbH("Authorization", "Bearer tok123"), kind: hbJSON, wantStatus: 200},

		// Paths and queries, as sent.
		{name: "path/escaped-slash", path: "/anything/a%2Fb/c%20d?q=%2F%20&r=%E2%82%AC", kind: hbJSON},
		{name: "path/unicode", path: "/anything/ünï?k=ü", kind: hbJSON},
		{name: "path/force-query", path: "/anything?", kind: hbJSON},
		{name: "path/semicolon-query", path: "/anything?a=1;b=2&c=3", kind: hbJSON},
		{name: "path/dot-segments", path: "/anything/x/../y", kind: hbJSON, wantHops: 1},
		{name: "path/double-slash", path: "/anything//z", kind: hbJSON, wantHops: 1},

		// Basic auth.
		{name: "basic-auth/userinfo", path: "/basic-auth/u/p", user: url.UserPassword("u", "p"), kind: hbJSON, wantStatus: 200},
		{name: "basic-auth/userinfo-escaped", path: "/basic-auth/u%20s/p@ss", user: url.UserPassword("u s", "p@ss"), kind: hbJSON, wantStatus: 200},
		{name: "basic-auth/set", path: "/basic-auth/u/p", basic: []string{"u", "p"}, kind: hbJSON, wantStatus: 200},
		{name: "basic-auth/wrong-password", path: "/basic-auth/u/p", basic: []string{"u", "nope"}, kind: hbJSON, wantStatus: 401},
		{name: "basic-auth/userinfo-wrong", path: "/basic-auth/u/p", user: url.UserPassword("u", "nope"), kind: hbJSON, wantStatus: 401},
		{name: "basic-auth/none", path: "/basic-auth/u/p", kind: hbJSON, wantStatus: 401},
		{name: "basic-auth/header-wins", path: "/basic-auth/u/p", user: url.UserPassword("u", "nope"), basic: []string{"u", "p"}, kind: hbJSON, wantStatus: 200},
		{name: "hidden-basic-auth", path: "/hidden-basic-auth/u/p", kind: hbJSON, wantStatus: 404},

		// Redirects, followed by http.Client.
		{name: "redirect/3", path: "/redirect/3", kind: hbJSON, wantStatus: 200, wantHops: 3},
		{name: "redirect/3-absolute", path: "/redirect/3?absolute=true", kind: hbJSON, wantStatus: 200, wantHops: 3},
		{name: "absolute-redirect/4", path: "/absolute-redirect/4", kind: hbJSON, wantStatus: 200, wantHops: 4},
		{name: "relative-redirect/2", path: "/relative-redirect/2", kind: hbJSON, wantStatus: 200, wantHops: 2},
		{name: "redirect/too-many", path: "/redirect/11", wantErr: `do: Get "/relative-redirect/1": stopped after 10 redirects`, wantHops: 10},
		{name: "redirect-to/302", path: "/redirect-to?url=%2Fget%3Fz%3D1", kind: hbJSON, wantStatus: 200, wantHops: 1},
		{name: "redirect-to/307-post", method: "POST", path: "/redirect-to?url=%2Fanything&status_code=307", header: textCT, body: text, bodyAs: hbKnown, kind: hbJSON, wantStatus: 200, echoData: true, wantHops: 1, earlyAnswer: true},
		{name: "redirect-to/307-post-large", method: "POST", path: "/redirect-to?url=%2Fanything&status_code=307", header: textCT, body: long[:100<<10], bodyAs: hbKnown, kind: hbJSON, wantStatus: 200, echoData: true, wantHops: 1, earlyAnswer: true},
		{name: "redirect-to/307-post-unknown-length", method: "POST", path: "/redirect-to?url=%2Fanything&status_code=307", header: textCT, body: text, bodyAs: hbUnknown, wantStatus: 307, earlyAnswer: true},
		{name: "redirect-to/308-put", method: "PUT", path: "/redirect-to?url=%2Fanything&status_code=308", header: jsonCT, body: jsonBody, bodyAs: hbKnown, kind: hbJSON, wantStatus: 200, echoData: true, wantHops: 1, earlyAnswer: true},
		{name: "redirect-to/303-post", method: "POST", path: "/redirect-to?url=%2Fanything&status_code=303", header: formCT, body: form, bodyAs: hbKnown, kind: hbJSON, wantStatus: 200, wantHops: 1, earlyAnswer: true},
		{name: "redirect-to/301-post", method: "POST", path: "/redirect-to?url=%2Fanything&status_code=301", header: formCT, body: form, bodyAs: hbKnown, kind: hbJSON, wantStatus: 200, wantHops: 1, earlyAnswer: true},
		{name: "status/307-post", method: "POST", path: "/status/307", header: textCT, body: text, bodyAs: hbKnown, kind: hbJSON, wantStatus: 200, wantHops: 2, earlyAnswer: true},

		// Cookies, with a jar.
		{name: "cookies/jar", jar: true, steps: []hbCase{
			{path: "/cookies/set?a=1&b=two", kind: hbJSON, wantStatus: 200},
			{path: "/cookies", kind: hbJSON},
			{path: "/cookies/delete?a=", kind: hbJSON},
			{path: "/cookies", kind: hbJSON},
		}},
		{name: "cookies/header", path: "/cookies", header: hbH("Cookie", "x=1; y=2"), kind: hbJSON},

		// Content encodings.
		{name: "gzip", path: "/gzip", kind: hbJSON, wantStatus: 200, check: func(t *testing.T, r hbResult) {
			if !r.Uncompressed || r.ContentLength != -1 || r.Header.Get("Content-Encoding") != "" {
				t.Errorf("/gzip: Uncompressed %v, ContentLength %d, Content-Encoding %q: not decoded", r.Uncompressed, r.ContentLength, r.Header.Get("Content-Encoding"))
			}
		}},
		{name: "gzip/asked-by-request", path: "/gzip", header: hbH("Accept-Encoding", "gzip"), kind: hbGzipJSON},
		{name: "gzip/identity", path: "/anything", header: hbH("Accept-Encoding", "identity"), kind: hbJSON},
		{name: "deflate", path: "/deflate", kind: hbDeflate, wantStatus: 200},
		{name: "encoding/utf8", path: "/encoding/utf8", wantStatus: 200},

		// Bodies of every shape.
		{name: "bytes/1024", path: "/bytes/1024?seed=7", wantStatus: 200},
		{name: "bytes/0", path: "/bytes/0", wantStatus: 200},
		{name: "bytes/1MiB", path: "/bytes/1048576?seed=3", wantStatus: 200},
		{name: "stream-bytes/100000", path: "/stream-bytes/100000?seed=5&chunk_size=1000", wantStatus: 200},
		{name: "stream-bytes/20", path: "/stream-bytes/20?seed=2", wantStatus: 200},
		{name: "stream/5", path: "/stream/5?s=1", kind: hbLines, wantStatus: 200},
		{name: "jsonl", path: "/jsonl?count=3", kind: hbLines, wantStatus: 200},
		{name: "image/png", path: "/image/png", wantStatus: 200},
		{name: "image/jpeg", path: "/image/jpeg", wantStatus: 200},
		{name: "image/svg", path: "/image/svg", wantStatus: 200},
		{name: "image/accept-webp", path: "/image", header: hbH("Accept", "image/webp"), wantStatus: 200},
		{name: "html", path: "/html", wantStatus: 200},
		{name: "json", path: "/json", kind: hbJSON, wantStatus: 200},
		{name: "xml", path: "/xml", wantStatus: 200},
		{name: "robots", path: "/robots.txt", wantStatus: 200},
		{name: "links", path: "/links/3/1", wantStatus: 200},
		{name: "base64", path: "/base64/Y3VybHNvY2s=", wantStatus: 200},
		{name: "uuid", path: "/uuid", kind: hbUUID, wantStatus: 200},
		{name: "not-found", path: "/no/such/endpoint", wantStatus: 404},
		{name: "method-not-allowed", method: "POST", path: "/get", wantStatus: 405},

		// Ranges.
		{name: "range/none", path: "/range/100", wantStatus: 200},
		{name: "range/10-19", path: "/range/100", header: hbH("Range", "bytes=10-19"), wantStatus: 206},
		{name: "range/90-", path: "/range/100", header: hbH("Range", "bytes=90-"), wantStatus: 206},
		{name: "range/suffix", path: "/range/100", header: hbH("Range", "bytes=-5"), wantStatus: 206},
		{name: "range/unsatisfiable", path: "/range/100", header: hbH("Range", "bytes=200-300"), wantStatus: 416},
		{name: "range/multi", path: "/range/100", header: hbH("Range", "bytes=0-1,50-52"), kind: hbMultipart, wantStatus: 206},
		{name: "range/echo-no-gzip", path: "/anything", header: hbH("Range", "bytes=0-9"), kind: hbJSON, wantStatus: 200, check: hbNoGzipAsked},

		// Conditional requests.
		{name: "etag/if-none-match-hit", path: "/etag/abc", header: hbH("If-None-Match", `"abc"`), ignore: []string{"Last-Modified"}, wantStatus: 304},
		{name: "etag/if-none-match-miss", path: "/etag/abc", header: hbH("If-None-Match", `"xyz"`), ignore: []string{"Last-Modified"}, kind: hbJSON, wantStatus: 200},
		{name: "etag/if-match-hit", path: "/etag/abc", header: hbH("If-Match", `"abc"`), ignore: []string{"Last-Modified"}, kind: hbJSON, wantStatus: 200},
		{name: "etag/if-match-miss", path: "/etag/abc", header: hbH("If-Match", `"xyz"`), ignore: []string{"Last-Modified"}, wantStatus: 412},
		{name: "cache", path: "/cache", ignore: []string{"Last-Modified", "Etag"}, kind: hbJSON, wantStatus: 200},
		{name: "cache/if-modified-since", path: "/cache", header: hbH("If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"), wantStatus: 304},
		{name: "cache/60", path: "/cache/60", kind: hbJSON, wantStatus: 200},

		// Response headers and trailers.
		{name: "response-headers/multi", path: "/response-headers?X-Multi=a&X-Multi=b&X-Single=s&Set-Cookie=k%3Dv", kind: hbJSON, wantStatus: 200},
		{name: "response-headers/empty-and-type", path: "/response-headers?X-Empty=&Content-Type=text%2Fplain", kind: hbJSON, wantStatus: 200},
		{name: "trailers", path: "/trailers?X-Trailer-One=1&X-Trailer-Two=two", kind: hbJSON, wantStatus: 200},
		{name: "trailers/none", path: "/trailers", kind: hbJSON, wantStatus: 200},
		{name: "trailers/post", method: "POST", path: "/trailers?X-T=v", header: textCT, body: text, bodyAs: hbKnown, kind: hbJSON, wantStatus: 200, echoData: true},

		// Deadlines.
		{name: "drip/deadline-during-body", path: "/drip?duration=2s&numbytes=4&delay=0", timeout: 800 * time.Millisecond, wantErr: "read: deadline"},
		{name: "drip/deadline-before-headers", path: "/drip?duration=0&numbytes=5&delay=2s", timeout: 500 * time.Millisecond, wantErr: "do: deadline"},
		{name: "drip/within-deadline", path: "/drip?duration=400ms&numbytes=4&delay=100ms", timeout: 5 * time.Second, wantStatus: 200},
		{name: "drip/code", path: "/drip?duration=0&numbytes=3&delay=0&code=418", wantStatus: 418},
		{name: "delay/deadline", path: "/delay/1", timeout: 500 * time.Millisecond, wantErr: "do: deadline"},
		{name: "delay/within-deadline", path: "/delay/0.2", timeout: 5 * time.Second, kind: hbJSON, wantStatus: 200},
	}

	// Every status: the redirects are followed to their end.
	for _, code := range []int{100, 103, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308,
		400, 401, 402, 403, 404, 406, 407, 409, 410, 418, 429, 451, 500, 501, 502, 503, 504, 599} {
		c := hbCase{name: fmt.Sprintf("status/%d", code), path: fmt.Sprintf("/status/%d", code), wantStatus: code}
		switch code {
		case 301, 302, 303, 307:
			c.wantHops = 2
		case 308:
			c.wantHops = 1
		}
		switch code {
		case 100, 103:
			c.wantStatus = 200 // the interim response is skipped
		case 301, 302, 303, 307:
			c.wantStatus, c.kind = 200, hbJSON // to /redirect/1, then /get
		case 308:
			c.wantStatus = 200 // to /image/jpeg
		}
		cases = append(cases, c)
	}

	// HEAD: the headers a GET would get, and no body.
	for _, p := range []string{"/get", "/head", "/anything", "/bytes/100?seed=1", "/json", "/html", "/gzip", "/deflate",
		"/stream/3", "/stream-bytes/50", "/status/404", "/status/204", "/range/100", "/etag/e", "/response-headers?X-H=1", "/trailers?X-T=1"} {
		c := hbCase{name: "head" + p, method: "HEAD", path: p, ignore: []string{"Last-Modified"}}
		cases = append(cases, c)
	}
	cases = append(cases, hbCase{name: "head/range", method: "HEAD", path: "/range/100", header: hbH("Range", "bytes=1-2"), wantStatus: 206})
	return cases
}

// TestTransportHttpbin compares curl.Transport with net/http's Transport
// endpoint by endpoint, over HTTP/1.1 and over HTTPS with HTTP/2.
func TestTransportHttpbin(t *testing.T) {
	servers := startHttpbin(t)
	cases := hbCases()
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			for i := range cases {
				c := &cases[i]
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					if c.skipH2 && srv.name == "h2" {
						t.Skip("a documented difference over HTTP/2")
					}
					if c.earlyAnswer && srv.name == "h2" && versionNum < 0x080000 {
						t.Skipf("libcurl %s fails an HTTP/2 request answered before its body was read", versionString())
					}
					hbCompare(t, srv, c)
				})
			}
		})
	}
}

// TestTransportHttpbinConcurrent runs many requests at once through one
// curl.Transport and checks every body against net/http's.
func TestTransportHttpbinConcurrent(t *testing.T) {
	servers := startHttpbin(t)
	const goroutines, perGoroutine = 64, 4
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			// What net/http gets, as the reference.
			stdClient := &http.Client{Transport: srv.std}
			want := map[string][]byte{}
			for g := range goroutines {
				for i := range perGoroutine {
					u := fmt.Sprintf("%s/bytes/%d?seed=%d", srv.url, 1000+g*37+i*4099, g*perGoroutine+i)
					resp, err := stdClient.Get(u)
					if err != nil {
						t.Fatal(err)
					}
					want[u], err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			client := &http.Client{Transport: srv.curl}
			var wg sync.WaitGroup
			errs := make(chan error, goroutines*perGoroutine*2)
			for g := range goroutines {
				wg.Go(func() {
					for i := range perGoroutine {
						u := fmt.Sprintf("%s/bytes/%d?seed=%d", srv.url, 1000+g*37+i*4099, g*perGoroutine+i)
						resp, err := client.Get(u)
						if err != nil {
							errs <- err
							continue
						}
						got, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, want[u]) {
							errs <- fmt.Errorf("GET %s: status %d, %d bytes (want %d), error %v", u, resp.StatusCode, len(got), len(want[u]), err)
						}
						// An upload too: the echo must be this goroutine's.
						body := fmt.Sprintf("goroutine %d request %d %s", g, i, strings.Repeat("x", g*100))
						resp, err = client.Post(srv.url+"/anything", "text/plain", strings.NewReader(body))
						if err != nil {
							errs <- err
							continue
						}
						var echo struct{ Data string }
						err = json.NewDecoder(resp.Body).Decode(&echo)
						resp.Body.Close()
						if err != nil || echo.Data != body {
							errs <- fmt.Errorf("POST: echoed %q, want %q (error %v)", echo.Data, body, err)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			n := 0
			for err := range errs {
				if n++; n <= 10 {
					t.Error(err)
				}
			}
			if n > 10 {
				t.Errorf("and %d more errors", n-10)
			}
		})
	}
}

// TestTransportHttpbinMultiplexed sends a request on an HTTP/2 connection
// that another request made and is still using, and gets its response
// first: resp.TLS must be the connection's all the same.
func TestTransportHttpbinMultiplexed(t *testing.T) {
	srv := startHttpbin(t)[1]
	run := func(rt http.RoundTripper) []hbResult {
		client := &http.Client{Transport: rt}
		slow := make(chan hbResult, 1)
		go func() {
			slow <- hbFetch(t, srv, client, &hbCase{path: "/delay/0.5", kind: hbJSON, ignore: []string{"Server-Timing"}})
		}()
		time.Sleep(150 * time.Millisecond) // the connection is up, and speaks HTTP/2
		fast := hbFetch(t, srv, client, &hbCase{path: "/get", kind: hbJSON})
		return []hbResult{<-slow, fast}
	}
	std, cur := run(srv.std), run(srv.curl)
	if diff := cmp.Diff(std, cur, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("net/http (-) and curl.Transport (+) differ:\n%s", diff)
	}
}
