//go:build linux

package curl

/*
#include <stdlib.h>
#include <curl/curl.h>
#include "tlsinfo.h"
*/
import "C"

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"sync"
	"unsafe"
)

// tlsState is resp.TLS for an HTTPS response. It runs in the header
// callback, where the transfer's connection is at hand: from its OpenSSL
// object come the version, the cipher suite, ALPN, the server name sent,
// resumption and the peer's certificates, whichever transfer of the
// connection made the handshake. Over another TLS backend only
// HandshakeComplete is known. VerifiedChains stays nil: libcurl verifies,
// it does not say against what.
func (x *exchange) tlsState() *tls.ConnectionState {
	if x.req.URL.Scheme != "https" {
		return nil
	}
	st := &tls.ConnectionState{HandshakeComplete: true}
	v, err := x.e.Getinfo(INFO_TLS_SSL_PTR)
	si, _ := v.(TLSSessionInfo)
	if err != nil || si.Backend != C.CURLSSLBACKEND_OPENSSL || si.Internals == 0 {
		return st
	}
	// An address of libcurl's, valid while this callback runs.
	ssl := si.Internals
	var info C.curlsock_tls_info
	if C.curlsock_tls_info_get(C.uintptr_t(ssl), &info) != 0 {
		return st
	}
	st.Version = uint16(info.version)
	st.CipherSuite = uint16(info.cipher)
	st.DidResume = info.resumed != 0
	st.NegotiatedProtocol = C.GoStringN((*C.char)(unsafe.Pointer(&info.alpn[0])), info.alpn_len)
	st.ServerName = C.GoString(&info.sni[0])
	st.PeerCertificates = peerChain(ssl, int(info.ncerts))
	return st
}

// loadTLSFunctions finds the OpenSSL functions of libcurl's libssl, once.
var loadTLSFunctions = sync.OnceFunc(func() { C.curlsock_tls_load() })

// peerChain returns the parsed certificates of ssl's peer. A resumed
// session has only the leaf: its chain is the one this process saw at the
// full handshake with that leaf, if it still keeps it. Parsed chains are
// kept by their leaf, so that requests after the first only compare DER.
func peerChain(ssl uintptr, n int) []*x509.Certificate {
	ders := make([][]byte, 0, max(n, 1))
	for i := range n {
		der, ok := tlsDER(func(p **C.uchar) C.int { return C.curlsock_tls_cert(C.uintptr_t(ssl), C.int(i), p) })
		if !ok {
			return nil
		}
		ders = append(ders, der)
	}
	if n == 0 {
		leaf, ok := tlsDER(func(p **C.uchar) C.int { return C.curlsock_tls_leaf(C.uintptr_t(ssl), p) })
		if !ok {
			return nil
		}
		if certs := chains.get(leaf, nil); certs != nil {
			return certs
		}
		ders = append(ders, leaf)
	}
	if certs := chains.get(ders[0], ders); certs != nil {
		return certs
	}
	certs := make([]*x509.Certificate, 0, len(ders))
	for _, der := range ders {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil
		}
		certs = append(certs, c)
	}
	if n > 0 {
		chains.put(certs)
	}
	return certs
}

// tlsDER copies out the DER that get writes into a C buffer.
func tlsDER(get func(**C.uchar) C.int) ([]byte, bool) {
	var p *C.uchar
	l := get(&p)
	if l < 0 {
		return nil, false
	}
	der := C.GoBytes(unsafe.Pointer(p), l)
	C.free(unsafe.Pointer(p))
	return der, true
}

// chains keeps parsed chains by the DER of their leaf.
var chains = chainTable{m: map[string][]*x509.Certificate{}}

const maxChains = 1024

type chainTable struct {
	mu sync.Mutex
	m  map[string][]*x509.Certificate
}

// get returns the chain kept for leaf; with ders, only if it is that one.
func (t *chainTable) get(leaf []byte, ders [][]byte) []*x509.Certificate {
	t.mu.Lock()
	certs := t.m[string(leaf)]
	t.mu.Unlock()
	if ders == nil || certs == nil {
		return certs
	}
	if len(certs) != len(ders) {
		return nil
	}
	for i, c := range certs {
		if !bytes.Equal(c.Raw, ders[i]) {
			return nil
		}
	}
	return certs
}

func (t *chainTable) put(certs []*x509.Certificate) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) >= maxChains {
		clear(t.m) // an emptied table only costs parsing again
	}
	t.m[string(certs[0].Raw)] = certs
}
