package main

// The C side of the benchmark: variant (b)'s socket callbacks written in C,
// variant (bg)'s C trampolines into Go, and the write callback every variant uses (a C function that counts the
// body and discards it), so that the body costs the same everywhere and no
// Go write callback runs per transfer.

/*
#cgo pkg-config: libcurl
#cgo CFLAGS: -DCURL_DISABLE_DEPRECATION
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>
#include <curl/curl.h>

static curl_socket_t bench_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
	(void)clientp; (void)purpose;
	return socket(a->family, a->socktype, a->protocol);
}

static int bench_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose) {
	(void)clientp; (void)fd; (void)purpose;
	return CURL_SOCKOPT_OK;
}

static int bench_close(void *clientp, curl_socket_t fd) {
	(void)clientp;
	return close(fd);
}

// Variant (bg): C trampolines whose bodies are Go functions (cgomin.go).
// clientp carries the mode bits of the diagnostic variants.
extern int benchGoOpen(uintptr_t mode, int family, int socktype, int protocol);
extern int benchGoSockopt(uintptr_t mode, int fd);
extern int benchGoClose(uintptr_t mode, int fd);

static curl_socket_t bench_go_open(void *clientp, curlsocktype purpose, struct curl_sockaddr *a) {
	(void)purpose;
	return benchGoOpen((uintptr_t)clientp, a->family, a->socktype, a->protocol);
}

static int bench_go_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose) {
	(void)purpose;
	return benchGoSockopt((uintptr_t)clientp, fd);
}

static int bench_go_close(void *clientp, curl_socket_t fd) {
	return benchGoClose((uintptr_t)clientp, fd);
}

static size_t bench_discard(char *p, size_t size, size_t n, void *userdata) {
	(void)p;
	*(unsigned long long *)userdata += size * n;
	return size * n;
}

// go: 0 for the C callbacks of (b), else 1 + the mode bits of (bg) and its
// diagnostic variants.
static CURLcode bench_set_callbacks(void *h, int go) {
	CURLcode rc;
	void *data = go ? (void *)(uintptr_t)(go - 1) : NULL;
	if ((rc = curl_easy_setopt((CURL *)h, CURLOPT_OPENSOCKETFUNCTION, go ? bench_go_open : bench_open)) != CURLE_OK) return rc;
	if ((rc = curl_easy_setopt((CURL *)h, CURLOPT_OPENSOCKETDATA, data)) != CURLE_OK) return rc;
	if ((rc = curl_easy_setopt((CURL *)h, CURLOPT_SOCKOPTFUNCTION, go ? bench_go_sockopt : bench_sockopt)) != CURLE_OK) return rc;
	if ((rc = curl_easy_setopt((CURL *)h, CURLOPT_SOCKOPTDATA, data)) != CURLE_OK) return rc;
	if ((rc = curl_easy_setopt((CURL *)h, CURLOPT_CLOSESOCKETFUNCTION, go ? bench_go_close : bench_close)) != CURLE_OK) return rc;
	return curl_easy_setopt((CURL *)h, CURLOPT_CLOSESOCKETDATA, data);
}

static CURLcode bench_set_discard(void *h, unsigned long long *counter) {
	CURLcode rc;
	if ((rc = curl_easy_setopt((CURL *)h, CURLOPT_WRITEFUNCTION, bench_discard)) != CURLE_OK) return rc;
	return curl_easy_setopt((CURL *)h, CURLOPT_WRITEDATA, (void *)counter);
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// setCCallbacks sets variant (b)'s C socket callbacks on the CURL * h.
func setCCallbacks(h unsafe.Pointer) error {
	if rc := C.bench_set_callbacks(h, 0); rc != C.CURLE_OK {
		return fmt.Errorf("curl_easy_setopt (C socket callbacks): %d", int(rc))
	}
	return nil
}

// setMinGoCallbacks sets variant (bg)'s callbacks: C trampolines calling
// the Go functions of cgomin.go, doing the extra work of mode.
func setMinGoCallbacks(h unsafe.Pointer, mode int) error {
	if rc := C.bench_set_callbacks(h, C.int(1+mode)); rc != C.CURLE_OK {
		return fmt.Errorf("curl_easy_setopt (minimal Go socket callbacks): %d", int(rc))
	}
	return nil
}

// bodyCounter counts the body bytes libcurl hands bench_discard. It lives in
// C memory: libcurl keeps its address as CURLOPT_WRITEDATA.
type bodyCounter struct{ p *C.ulonglong }

func newBodyCounter() bodyCounter {
	return bodyCounter{(*C.ulonglong)(C.calloc(1, C.size_t(unsafe.Sizeof(C.ulonglong(0)))))}
}

func (c bodyCounter) get() uint64 { return uint64(*c.p) }
func (c bodyCounter) reset()      { *c.p = 0 }
func (c bodyCounter) free()       { C.free(unsafe.Pointer(c.p)) }

// setDiscard makes the CURL * h count its body into c and drop it.
func setDiscard(h unsafe.Pointer, c bodyCounter) error {
	if rc := C.bench_set_discard(h, c.p); rc != C.CURLE_OK {
		return fmt.Errorf("curl_easy_setopt (write callback): %d", int(rc))
	}
	return nil
}
