//go:build linux

package curl

// The value constants (HTTP versions, TLS versions, auth and protocol bits
// ...) used for real against libcurl, and their numbers checked against
// curl.h as written (cgo is not allowed in tests, so the numbers are typed
// in here from curl/curl.h and curl/multi.h of libcurl 7.88.1; libcurl never
// renumbers them).

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestConstantValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"HTTP_VERSION_1_1", HTTP_VERSION_1_1, 2}, // go-curl's
		{"HTTP_VERSION_2_0", HTTP_VERSION_2_0, 3},
		{"HTTP_VERSION_2", HTTP_VERSION_2, 3},
		{"HTTP_VERSION_2TLS", HTTP_VERSION_2TLS, 4},
		{"HTTP_VERSION_2_PRIOR_KNOWLEDGE", HTTP_VERSION_2_PRIOR_KNOWLEDGE, 5},
		{"HTTP_VERSION_3", HTTP_VERSION_3, 30},
		{"HTTP_VERSION_3ONLY", HTTP_VERSION_3ONLY, 31},

		{"SSLVERSION_TLSv1", SSLVERSION_TLSv1, 1}, // go-curl's
		{"SSLVERSION_TLSv1_0", SSLVERSION_TLSv1_0, 4},
		{"SSLVERSION_TLSv1_1", SSLVERSION_TLSv1_1, 5},
		{"SSLVERSION_TLSv1_2", SSLVERSION_TLSv1_2, 6},
		{"SSLVERSION_TLSv1_3", SSLVERSION_TLSv1_3, 7},
		{"SSLVERSION_MAX_NONE", SSLVERSION_MAX_NONE, 0},
		{"SSLVERSION_MAX_DEFAULT", SSLVERSION_MAX_DEFAULT, 1 << 16},
		{"SSLVERSION_MAX_TLSv1_0", SSLVERSION_MAX_TLSv1_0, 4 << 16},
		{"SSLVERSION_MAX_TLSv1_1", SSLVERSION_MAX_TLSv1_1, 5 << 16},
		{"SSLVERSION_MAX_TLSv1_2", SSLVERSION_MAX_TLSv1_2, 6 << 16},
		{"SSLVERSION_MAX_TLSv1_3", SSLVERSION_MAX_TLSv1_3, 7 << 16},

		{"SSLOPT_ALLOW_BEAST", SSLOPT_ALLOW_BEAST, 1}, // go-curl's
		{"SSLOPT_NO_REVOKE", SSLOPT_NO_REVOKE, 2},
		{"SSLOPT_NO_PARTIALCHAIN", SSLOPT_NO_PARTIALCHAIN, 4},
		{"SSLOPT_REVOKE_BEST_EFFORT", SSLOPT_REVOKE_BEST_EFFORT, 8},
		{"SSLOPT_NATIVE_CA", SSLOPT_NATIVE_CA, 16},
		{"SSLOPT_AUTO_CLIENT_CERT", SSLOPT_AUTO_CLIENT_CERT, 32},

		{"AUTH_NTLM", AUTH_NTLM, 8}, // go-curl's
		{"AUTH_ANY", AUTH_ANY, 0xffffffef},
		{"AUTH_NEGOTIATE", AUTH_NEGOTIATE, 4},
		{"AUTH_GSSAPI", AUTH_GSSAPI, 4},
		{"AUTH_DIGEST_IE", AUTH_DIGEST_IE, 16},
		{"AUTH_NTLM_WB", AUTH_NTLM_WB, 32},
		{"AUTH_BEARER", AUTH_BEARER, 64},
		{"AUTH_AWS_SIGV4", AUTH_AWS_SIGV4, 128},
		{"AUTH_ONLY", AUTH_ONLY, 1 << 31},

		{"PROTO_HTTP", PROTO_HTTP, 1},
		{"PROTO_HTTPS", PROTO_HTTPS, 2},
		{"PROTO_FTP", PROTO_FTP, 4},
		{"PROTO_FILE", PROTO_FILE, 1024},
		{"PROTO_SMTPS", PROTO_SMTPS, 1 << 17},
		{"PROTO_GOPHERS", PROTO_GOPHERS, 1 << 29},
		{"PROTO_ALL", PROTO_ALL, -1},

		{"PROXY_HTTPS", PROXY_HTTPS, 2},
		{"PROXY_SOCKS5_HOSTNAME", PROXY_SOCKS5_HOSTNAME, 7}, // go-curl's
		{"PX_NO_AUTH", PX_NO_AUTH, 12},
		{"PX_USER_REJECTED", PX_USER_REJECTED, 33},

		{"IPRESOLVE_WHATEVER", IPRESOLVE_WHATEVER, 0}, // go-curl's
		{"IPRESOLVE_V4", IPRESOLVE_V4, 1},
		{"IPRESOLVE_V6", IPRESOLVE_V6, 2},
		{"NETRC_IGNORED", NETRC_IGNORED, 0},
		{"NETRC_OPTIONAL", NETRC_OPTIONAL, 1},
		{"NETRC_REQUIRED", NETRC_REQUIRED, 2},

		{"USESSL_NONE", USESSL_NONE, 0},
		{"USESSL_TRY", USESSL_TRY, 1},
		{"USESSL_CONTROL", USESSL_CONTROL, 2},
		{"USESSL_ALL", USESSL_ALL, 3},
		{"FTPSSL_ALL", FTPSSL_ALL, 3},
		{"FTPAUTH_TLS", FTPAUTH_TLS, 2},
		{"FTPSSL_CCC_PASSIVE", FTPSSL_CCC_PASSIVE, 1},
		{"FTPSSL_CCC_ACTIVE", FTPSSL_CCC_ACTIVE, 2},
		{"FTPMETHOD_DEFAULT", FTPMETHOD_DEFAULT, 0},
		{"FTPMETHOD_MULTICWD", FTPMETHOD_MULTICWD, 1},
		{"FTPMETHOD_NOCWD", FTPMETHOD_NOCWD, 2},
		{"FTPMETHOD_SINGLECWD", FTPMETHOD_SINGLECWD, 3},
		{"FTP_CREATE_DIR_RETRY", FTP_CREATE_DIR_RETRY, 2}, // go-curl's

		{"SSH_AUTH_ANY", SSH_AUTH_ANY, -1},
		{"SSH_AUTH_DEFAULT", SSH_AUTH_DEFAULT, -1},
		{"SSH_AUTH_PUBLICKEY", SSH_AUTH_PUBLICKEY, 1},
		{"SSH_AUTH_AGENT", SSH_AUTH_AGENT, 16},
		{"SSH_AUTH_GSSAPI", SSH_AUTH_GSSAPI, 32},
		{"GSSAPI_DELEGATION_POLICY_FLAG", GSSAPI_DELEGATION_POLICY_FLAG, 1},
		{"GSSAPI_DELEGATION_FLAG", GSSAPI_DELEGATION_FLAG, 2},

		{"HEADER_UNIFIED", HEADER_UNIFIED, 0},
		{"HEADER_SEPARATE", HEADER_SEPARATE, 1},
		{"REDIR_GET_ALL", REDIR_GET_ALL, 0},
		{"REDIR_POST_301", REDIR_POST_301, 1},
		{"REDIR_POST_302", REDIR_POST_302, 2},
		{"REDIR_POST_303", REDIR_POST_303, 4},
		{"REDIR_POST_ALL", REDIR_POST_ALL, 7},
		{"TIMECOND_LASTMOD", TIMECOND_LASTMOD, 3}, // go-curl's
		{"RTSPREQ_OPTIONS", RTSPREQ_OPTIONS, 1},
		{"RTSPREQ_RECEIVE", RTSPREQ_RECEIVE, 11},
		{"ALTSVC_READONLYFILE", ALTSVC_READONLYFILE, 4},
		{"ALTSVC_H1", ALTSVC_H1, 8},
		{"ALTSVC_H2", ALTSVC_H2, 16},
		{"ALTSVC_H3", ALTSVC_H3, 32},
		{"HSTS_ENABLE", HSTS_ENABLE, 1},
		{"HSTS_READONLYFILE", HSTS_READONLYFILE, 2},
		{"MIMEOPT_FORMESCAPE", MIMEOPT_FORMESCAPE, 1},
		{"HET_DEFAULT", HET_DEFAULT, 200},
		{"UPKEEP_INTERVAL_DEFAULT", UPKEEP_INTERVAL_DEFAULT, 60000},
		{"MAX_WRITE_SIZE", MAX_WRITE_SIZE, 16384},
		{"MAX_READ_SIZE", MAX_READ_SIZE, 10 * 1024 * 1024},
		{"MAX_HTTP_HEADER", MAX_HTTP_HEADER, 100 * 1024},

		{"WRITEFUNC_PAUSE", WRITEFUNC_PAUSE, 0x10000001},
		{"WRITEFUNC_ERROR", WRITEFUNC_ERROR, 0xffffffff},
		{"READFUNC_PAUSE", READFUNC_PAUSE, 0x10000001}, // go-curl's
		{"PAUSE_ALL", PAUSE_ALL, 5},                    // go-curl's

		{"M_OK", M_OK, 0},
		{"M_CALL_MULTI_SOCKET", M_CALL_MULTI_SOCKET, -1},
		{"M_ADDED_ALREADY", M_ADDED_ALREADY, 7},
		{"M_UNRECOVERABLE_POLL", M_UNRECOVERABLE_POLL, 12},
		{"SHE_OK", SHE_OK, 0},
		{"SHE_NOT_BUILT_IN", SHE_NOT_BUILT_IN, 5},
		{"PIPE_NOTHING", PIPE_NOTHING, 0},
		{"PIPE_HTTP1", PIPE_HTTP1, 1},
		{"PIPE_MULTIPLEX", PIPE_MULTIPLEX, 2},
		{"POLL_NONE", POLL_NONE, 0},
		{"POLL_IN", POLL_IN, 1},
		{"POLL_OUT", POLL_OUT, 2},
		{"POLL_INOUT", POLL_INOUT, 3},
		{"POLL_REMOVE", POLL_REMOVE, 4},
		{"CSELECT_IN", CSELECT_IN, 1},
		{"CSELECT_OUT", CSELECT_OUT, 2},
		{"CSELECT_ERR", CSELECT_ERR, 4},
		{"SOCKET_TIMEOUT", SOCKET_TIMEOUT, -1},
		{"WAIT_POLLIN", WAIT_POLLIN, 1},
		{"WAIT_POLLPRI", WAIT_POLLPRI, 2},
		{"WAIT_POLLOUT", WAIT_POLLOUT, 4},
		{"PUSH_OK", PUSH_OK, 0},
		{"PUSH_DENY", PUSH_DENY, 1},
		{"PUSH_ERROROUT", PUSH_ERROROUT, 2},

		{"GLOBAL_ACK_EINTR", GLOBAL_ACK_EINTR, 4},
		{"LOCK_DATA_PSL", LOCK_DATA_PSL, 6},
		{"LOCK_DATA_HSTS", LOCK_DATA_HSTS, 7},
		{"SSLBACKEND_OPENSSL", SSLBACKEND_OPENSSL, 1},
		{"SSLBACKEND_GNUTLS", SSLBACKEND_GNUTLS, 2},
		{"SSLBACKEND_RUSTLS", SSLBACKEND_RUSTLS, 14},
		{"VERSION_FOURTH", VERSION_FOURTH, 3},
		{"VERSION_ELEVENTH", VERSION_ELEVENTH, 10},
		{"VERSION_HTTP2", VERSION_HTTP2, 1 << 16},
		{"VERSION_UNIX_SOCKETS", VERSION_UNIX_SOCKETS, 1 << 19},
		{"VERSION_HTTP3", VERSION_HTTP3, 1 << 25},
		{"VERSION_THREADSAFE", VERSION_THREADSAFE, 1 << 30},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, curl.h says %d", c.name, c.got, c.want)
		}
	}
}

// The bit and value constants must work where go-curl programs pass them:
// as plain ints to Setopt.
func TestConstantsAreInts(t *testing.T) {
	for _, v := range []any{AUTH_ONLY, AUTH_ANY, PROTO_ALL, SSH_AUTH_ANY, WRITEFUNC_ERROR, SSLVERSION_TLSv1_2 | SSLVERSION_MAX_TLSv1_3} {
		if _, ok := v.(int); !ok {
			t.Errorf("%v is a %T, want an int", v, v)
		}
	}
}

func hasFeature(bit int) bool {
	return VersionInfo(VERSION_FIRST).Features&bit != 0
}

func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if !errors.Is(err, CurlError(code)) {
		t.Errorf("got %v, want %v", err, CurlError(code))
	}
}

// h2Server answers with the HTTP version it saw, over TLS with ALPN h2 or
// over cleartext HTTP/2 without upgrade (prior knowledge).
func h2Server(t *testing.T, useTLS bool) *httptest.Server {
	t.Helper()
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto)
	}))
	if useTLS {
		hs.EnableHTTP2 = true
		hs.StartTLS()
	} else {
		hs.Config.Protocols = new(http.Protocols)
		hs.Config.Protocols.SetHTTP1(true)
		hs.Config.Protocols.SetUnencryptedHTTP2(true)
		hs.Start()
	}
	t.Cleanup(hs.Close)
	return hs
}

func TestHTTPVersionConstants(t *testing.T) {
	if !hasFeature(VERSION_HTTP2) {
		t.Skip("libcurl built without HTTP/2")
	}
	plain, secure := h2Server(t, false), h2Server(t, true)
	ca := writeCA(t, &testServer{Server: secure})
	for _, c := range []struct {
		name     string
		version  int
		url      string
		wantInfo int
		wantBody string
	}{
		// 2TLS: HTTP/2 only where TLS negotiates it.
		{"2TLS over http", HTTP_VERSION_2TLS, plain.URL, HTTP_VERSION_1_1, "HTTP/1.1"},
		{"2TLS over https", HTTP_VERSION_2TLS, secure.URL, HTTP_VERSION_2_0, "HTTP/2.0"},
		{"2_PRIOR_KNOWLEDGE over http", HTTP_VERSION_2_PRIOR_KNOWLEDGE, plain.URL, HTTP_VERSION_2_0, "HTTP/2.0"},
		{"1_1 over https", HTTP_VERSION_1_1, secure.URL, HTTP_VERSION_1_1, "HTTP/1.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, body := newEasy(t)
			must(t, e.Setopt(OPT_HTTP_VERSION, c.version))
			must(t, e.Setopt(OPT_CAINFO, ca))
			must(t, e.Setopt(OPT_URL, c.url))
			must(t, e.Perform())
			if got := getinfo[int](t, e, INFO_HTTP_VERSION); got != c.wantInfo {
				t.Errorf("INFO_HTTP_VERSION = %d, want %d", got, c.wantInfo)
			}
			if body.String() != c.wantBody {
				t.Errorf("server saw %q, want %q", body, c.wantBody)
			}
		})
	}
}

// The minimum and maximum halves of OPT_SSLVERSION reach the TLS handshake.
func TestSSLVersionConstants(t *testing.T) {
	var mu sync.Mutex
	var seen uint16
	srv := newServerHandler(t, "tls", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.TLS.Version
		mu.Unlock()
	}))
	ca := writeCA(t, srv)
	for _, c := range []struct {
		name    string
		version int
		want    uint16
	}{
		{"TLSv1_2 up to TLSv1_2", SSLVERSION_TLSv1_2 | SSLVERSION_MAX_TLSv1_2, tls.VersionTLS12},
		{"TLSv1_2 up to TLSv1_3", SSLVERSION_TLSv1_2 | SSLVERSION_MAX_TLSv1_3, tls.VersionTLS13},
		{"TLSv1_3", SSLVERSION_TLSv1_3 | SSLVERSION_MAX_DEFAULT, tls.VersionTLS13},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, _ := newEasy(t)
			must(t, e.Setopt(OPT_SSLVERSION, c.version))
			// Accepted, and without effect on Linux with OpenSSL: the
			// transfer still verifies against OPT_CAINFO.
			must(t, e.Setopt(OPT_SSL_OPTIONS, SSLOPT_NATIVE_CA|SSLOPT_NO_REVOKE))
			must(t, e.Setopt(OPT_CAINFO, ca))
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			must(t, e.Perform())
			mu.Lock()
			defer mu.Unlock()
			if seen != c.want {
				t.Errorf("server negotiated %s, want %s", tls.VersionName(seen), tls.VersionName(c.want))
			}
		})
	}
}

// OPT_PROTOCOLS takes PROTO_* bits: a scheme left out is refused.
func TestProtocolConstants(t *testing.T) {
	srv := newServer(t, "tcp4")
	file := filepath.Join(t.TempDir(), "f.txt")
	must(t, os.WriteFile(file, []byte("from a file"), 0o600))

	e, body := newEasy(t)
	must(t, e.Setopt(OPT_PROTOCOLS, PROTO_HTTP|PROTO_HTTPS))
	must(t, e.Setopt(OPT_URL, "file://"+file))
	wantCode(t, e.Perform(), E_UNSUPPORTED_PROTOCOL)
	must(t, e.Setopt(OPT_URL, srv.url("/p")))
	must(t, e.Perform())

	must(t, e.Setopt(OPT_PROTOCOLS, PROTO_FILE))
	wantCode(t, e.Perform(), E_UNSUPPORTED_PROTOCOL)
	body.Reset()
	must(t, e.Setopt(OPT_URL, "file://"+file))
	must(t, e.Perform())
	if body.String() != "from a file" {
		t.Errorf("file:// read %q", body)
	}
	if srv.Hits() != 1 {
		t.Errorf("server hit %d times, want 1", srv.Hits())
	}
}

func TestIPResolveConstants(t *testing.T) {
	srv := newServer(t, "tcp4")
	_, port, _ := net.SplitHostPort(srv.Addr)
	url := "http://localhost:" + port + "/"

	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_URL, url))
	must(t, e.Setopt(OPT_IPRESOLVE, IPRESOLVE_V4))
	must(t, e.Perform())
	if ip := getinfo[string](t, e, INFO_PRIMARY_IP); ip != "127.0.0.1" {
		t.Errorf("IPRESOLVE_V4 connected to %s", ip)
	}
	// The server listens on IPv4 only: with IPv6 addresses only, localhost
	// either does not resolve or refuses.
	must(t, e.Setopt(OPT_IPRESOLVE, IPRESOLVE_V6))
	if err := e.Perform(); err == nil {
		t.Error("IPRESOLVE_V6 reached an IPv4-only server")
	}
	if srv.Hits() != 1 {
		t.Errorf("server hit %d times, want 1", srv.Hits())
	}
}

func TestNetrcConstants(t *testing.T) {
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		fmt.Fprintf(w, "%s:%s", user, pass)
	}))
	netrc := filepath.Join(t.TempDir(), "netrc")
	must(t, os.WriteFile(netrc, []byte("machine 127.0.0.1 login alice password s3cret\n"), 0o600))
	for _, c := range []struct {
		name string
		mode int
		want string
	}{
		{"IGNORED", NETRC_IGNORED, ":"},
		{"OPTIONAL", NETRC_OPTIONAL, "alice:s3cret"},
		{"REQUIRED", NETRC_REQUIRED, "alice:s3cret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, body := newEasy(t)
			must(t, e.Setopt(OPT_NETRC, c.mode))
			must(t, e.Setopt(OPT_NETRC_FILE, netrc))
			must(t, e.Setopt(OPT_URL, srv.url("/")))
			must(t, e.Perform())
			if body.String() != c.want {
				t.Errorf("server saw credentials %q, want %q", body, c.want)
			}
		})
	}
}

func TestAuthBearerConstant(t *testing.T) {
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Authorization"))
	}))
	e, body := newEasy(t)
	must(t, e.Setopt(OPT_HTTPAUTH, AUTH_BEARER))
	must(t, e.Setopt(OPT_XOAUTH2_BEARER, "t0ken"))
	must(t, e.Setopt(OPT_URL, srv.url("/")))
	must(t, e.Perform())
	if body.String() != "Bearer t0ken" {
		t.Errorf("Authorization: %q", body)
	}
	// AUTH_ONLY and AUTH_ANY go through Setopt's int path as unsigned
	// longs.
	must(t, e.Setopt(OPT_HTTPAUTH, AUTH_ANY))
	must(t, e.Setopt(OPT_HTTPAUTH, AUTH_BASIC|AUTH_ONLY))
}

func TestPostRedirConstants(t *testing.T) {
	srv := newServerHandler(t, "tcp4", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/here", http.StatusMovedPermanently)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	for _, c := range []struct {
		name string
		bits int
		want string
	}{
		{"GET_ALL", REDIR_GET_ALL, "GET "},
		{"POST_301", REDIR_POST_301, "POST x=1"},
		{"POST_302", REDIR_POST_302, "GET "},
		{"POST_ALL", REDIR_POST_ALL, "POST x=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, body := newEasy(t)
			must(t, e.Setopt(OPT_POSTFIELDS, "x=1"))
			must(t, e.Setopt(OPT_FOLLOWLOCATION, 1))
			must(t, e.Setopt(OPT_POSTREDIR, c.bits))
			must(t, e.Setopt(OPT_URL, srv.url("/moved")))
			must(t, e.Perform())
			if body.String() != c.want {
				t.Errorf("after the 301: %q, want %q", body, c.want)
			}
		})
	}
}

// A SOCKS5 proxy that accepts none of the offered methods: INFO_PROXY_ERROR
// reads PX_NO_AUTH, and the transfer fails with E_PROXY.
func TestProxyErrorConstant(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hello := make([]byte, 2)
				if _, err := io.ReadFull(c, hello); err != nil {
					return
				}
				io.ReadFull(c, make([]byte, hello[1]))
				c.Write([]byte{5, 0xff})
				io.Copy(io.Discard, c)
			}()
		}
	}()
	e, _ := newEasy(t)
	must(t, e.Setopt(OPT_PROXY, "socks5://"+ln.Addr().String()))
	must(t, e.Setopt(OPT_URL, "http://example.invalid/"))
	wantCode(t, e.Perform(), E_PROXY)
	if got := getinfo[int](t, e, INFO_PROXY_ERROR); got != PX_NO_AUTH {
		t.Errorf("INFO_PROXY_ERROR = %d, want PX_NO_AUTH (%d)", got, PX_NO_AUTH)
	}
}

func TestMultiPipeliningConstants(t *testing.T) {
	m := MultiInit()
	if m == nil {
		t.Fatal("MultiInit returned nil")
	}
	defer m.Cleanup()
	for _, v := range []int{PIPE_NOTHING, PIPE_HTTP1, PIPE_MULTIPLEX} {
		if err := m.Setopt(MOPT_PIPELINING, v); err != nil {
			t.Errorf("MOPT_PIPELINING %d: %v", v, err)
		}
	}
}

func TestVersionConstants(t *testing.T) {
	info := VersionInfo(VERSION_ELEVENTH)
	// libcurl fills in its newest struct whatever the age asked for.
	if int(info.Age) < VERSION_ELEVENTH {
		t.Errorf("age %d, want at least VERSION_ELEVENTH", info.Age)
	}
	// curlsock's own tests connect over unix sockets.
	if info.Features&VERSION_UNIX_SOCKETS == 0 {
		t.Error("VERSION_UNIX_SOCKETS not among the features")
	}
	if (info.Features&VERSION_HTTPS_PROXY != 0) && info.SslVersion == "" {
		t.Error("VERSION_HTTPS_PROXY without TLS")
	}
}
