// What an OpenSSL connection of libcurl's says about itself, for
// resp.TLS (transport_tls.go). libcurl hands out the connection's SSL*
// (CURLINFO_TLS_SSL_PTR) but reports neither the TLS version nor the
// cipher suite; OpenSSL does. Its functions are looked up at run time in
// the libssl libcurl is linked with, so curlsock needs no OpenSSL headers
// and works, without this, over another TLS backend.
#ifndef CURLSOCK_TLSINFO_H
#define CURLSOCK_TLSINFO_H

#include <stdint.h>

typedef struct {
	int version;      // TLS1_3_VERSION etc., as Go's tls.VersionTLS13
	uint16_t cipher;  // the IANA id, as Go's tls.TLS_* constants
	int resumed;
	int ncerts;       // the peer's chain, leaf first; 0 when resumed
	unsigned char alpn[32];
	int alpn_len;
	char sni[256];
} curlsock_tls_info;

void curlsock_tls_load(void);
int curlsock_tls_info_get(uintptr_t ssl, curlsock_tls_info *out);
int curlsock_tls_cert(uintptr_t ssl, int i, unsigned char **der);
int curlsock_tls_leaf(uintptr_t ssl, unsigned char **der);

#endif
