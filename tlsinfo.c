#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "tlsinfo.h"

// OpenSSL 1.1.1 and 3.x, declared with opaque pointers.
static struct {
	int (*version)(const void *ssl);
	const void *(*current_cipher)(const void *ssl);
	uint16_t (*cipher_id)(const void *cipher);
	void (*alpn)(const void *ssl, const unsigned char **data, unsigned int *len);
	int (*reused)(const void *ssl);
	const char *(*servername)(const void *ssl, int type);
	void *(*chain)(const void *ssl);
	int (*sk_num)(const void *sk);
	void *(*sk_value)(const void *sk, int i);
	int (*i2d)(const void *x509, unsigned char **out);
	void *(*peer)(const void *ssl); // a reference, for x509_free
	void (*x509_free)(void *x509);
} ossl;
static int ossl_ok;
static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;

// libcurl_scope returns a handle whose symbol lookups go through libcurl's
// own dependencies, so that the OpenSSL functions found are those of the
// libssl that made libcurl's SSL objects, not of another libssl the process
// loaded first (RTLD_DEFAULT would take the first one in the global scope).
// libcurl is found by the address of its version data: the address of one of
// its functions could be the executable's PLT stub. A libcurl linked into the
// executable gives the executable's scope.
static void *libcurl_scope(void) {
	Dl_info info;
	if (dladdr(curl_version_info(CURLVERSION_NOW), &info) == 0 || info.dli_fname == NULL)
		return NULL;
	void *h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	return h != NULL ? h : dlopen(NULL, RTLD_LAZY);
}

static void ossl_load(void) {
	void *h = libcurl_scope();
	if (h == NULL)
		return;
	*(void **)&ossl.version = dlsym(h, "SSL_version");
	*(void **)&ossl.current_cipher = dlsym(h, "SSL_get_current_cipher");
	*(void **)&ossl.cipher_id = dlsym(h, "SSL_CIPHER_get_protocol_id");
	*(void **)&ossl.alpn = dlsym(h, "SSL_get0_alpn_selected");
	*(void **)&ossl.reused = dlsym(h, "SSL_session_reused");
	*(void **)&ossl.servername = dlsym(h, "SSL_get_servername");
	*(void **)&ossl.chain = dlsym(h, "SSL_get_peer_cert_chain");
	*(void **)&ossl.sk_num = dlsym(h, "OPENSSL_sk_num");
	*(void **)&ossl.sk_value = dlsym(h, "OPENSSL_sk_value");
	*(void **)&ossl.i2d = dlsym(h, "i2d_X509");
	*(void **)&ossl.peer = dlsym(h, "SSL_get1_peer_certificate"); // 3.x
	if (ossl.peer == NULL)
		*(void **)&ossl.peer = dlsym(h, "SSL_get_peer_certificate"); // 1.1.1
	*(void **)&ossl.x509_free = dlsym(h, "X509_free");
	int ok = ossl.version && ossl.current_cipher && ossl.cipher_id && ossl.alpn && ossl.reused &&
		  ossl.servername && ossl.chain && ossl.sk_num && ossl.sk_value && ossl.i2d && ossl.peer &&
		  ossl.x509_free;
	__atomic_store_n(&ossl_ok, ok, __ATOMIC_RELEASE);
}

// curlsock_tls_load looks the OpenSSL functions up, outside libcurl's
// callbacks (it asks libcurl for its version data).
void curlsock_tls_load(void) {
	pthread_once(&ossl_once, ossl_load);
}

// curlsock_tls_info_get describes ssl, an OpenSSL SSL*; -1 if libcurl has
// no OpenSSL (or curlsock_tls_load was not called).
int curlsock_tls_info_get(uintptr_t sslp, curlsock_tls_info *out) {
	void *ssl = (void *)sslp;
	if (!__atomic_load_n(&ossl_ok, __ATOMIC_ACQUIRE) || ssl == NULL)
		return -1;
	memset(out, 0, sizeof *out);
	out->version = ossl.version(ssl);
	const void *c = ossl.current_cipher(ssl);
	out->cipher = c ? ossl.cipher_id(c) : 0;
	out->resumed = ossl.reused(ssl);
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;
	ossl.alpn(ssl, &alpn, &alen);
	if (alpn != NULL && alen < sizeof out->alpn) {
		memcpy(out->alpn, alpn, alen);
		out->alpn_len = (int)alen;
	}
	const char *sni = ossl.servername(ssl, 0); // TLSEXT_NAMETYPE_host_name
	if (sni != NULL && strlen(sni) < sizeof out->sni)
		strcpy(out->sni, sni);
	void *sk = ossl.chain(ssl);
	out->ncerts = sk ? ossl.sk_num(sk) : 0;
	return 0;
}

static int x509_der(const void *x, unsigned char **der);

// curlsock_tls_cert gives certificate i of the peer's chain in DER, in a
// buffer to free(); its length, or -1.
int curlsock_tls_cert(uintptr_t ssl, int i, unsigned char **der) {
	void *sk = ossl.chain((void *)ssl);
	if (sk == NULL || i < 0 || i >= ossl.sk_num(sk))
		return -1;
	return x509_der(ossl.sk_value(sk, i), der);
}

// curlsock_tls_leaf gives the peer's certificate in DER, in a buffer to
// free(); its length, or -1. A resumed session has it, not the chain.
int curlsock_tls_leaf(uintptr_t ssl, unsigned char **der) {
	void *x = ossl.peer((void *)ssl);
	if (x == NULL)
		return -1;
	int n = x509_der(x, der);
	ossl.x509_free(x);
	return n;
}

static int x509_der(const void *x, unsigned char **der) {
	int n = ossl.i2d(x, NULL);
	if (n <= 0)
		return -1;
	unsigned char *buf = malloc(n), *p = buf;
	if (buf == NULL || ossl.i2d(x, &p) != n) {
		free(buf);
		return -1;
	}
	*der = buf;
	return n;
}
