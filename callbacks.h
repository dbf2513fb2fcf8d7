// C side of curlsock's socket callbacks. Every symbol carries the curlsock_
// prefix: go-curl, linked into the same binary, already defines non-static
// write_function, header_function and goCall* symbols.
#ifndef CURLSOCK_CALLBACKS_H
#define CURLSOCK_CALLBACKS_H

#include <stdint.h>
#include <curl/curl.h>

// The trampolines handed to libcurl. clientp is never a pointer: it is a
// registration id (a plain integer) that the Go side resolves in its tables.
curl_socket_t curlsock_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address);
int curlsock_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose);
int curlsock_closesocket(void *clientp, curl_socket_t fd);

// go-curl's data callbacks, routed the same way.
size_t curlsock_write(char *ptr, size_t size, size_t nmemb, void *userdata);
size_t curlsock_header(char *ptr, size_t size, size_t nmemb, void *userdata);
size_t curlsock_read(char *buf, size_t size, size_t nitems, void *userdata);
int curlsock_progress(void *clientp, double dltotal, double dlnow, double ultotal, double ulnow);
int curlsock_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port);
int curlsock_seek(void *clientp, curl_off_t offset, int origin);
int curlsock_trailer(struct curl_slist **list, void *userdata);

// Frames: the curlsock call that is driving libcurl on this OS thread.
typedef struct {
	uintptr_t frame;
	int poisoned;
} curlsock_frame_state;

curlsock_frame_state curlsock_frame_enter(uintptr_t frame);
void curlsock_frame_leave(curlsock_frame_state saved);
void curlsock_frame_poison(void);
uintptr_t curlsock_frame_current(void);

// Option setters with the exact C types libcurl's variadic setopt expects.
CURLcode curlsock_setopt_long(CURL *h, CURLoption opt, long v);
CURLcode curlsock_setopt_ptr(CURL *h, CURLoption opt, void *p);
CURLcode curlsock_setopt_id(CURL *h, CURLoption opt, uintptr_t id);
CURLcode curlsock_set_opensocket(CURL *h, int on);
CURLcode curlsock_set_sockopt(CURL *h, int on);
CURLcode curlsock_set_closesocket(CURL *h, int on);
CURLcode curlsock_set_write(CURL *h, int on, uintptr_t id);
CURLcode curlsock_set_header(CURL *h, int on, uintptr_t id);
CURLcode curlsock_set_read(CURL *h, int on, uintptr_t id);
CURLcode curlsock_set_progress(CURL *h, int on, uintptr_t id);
CURLcode curlsock_set_prereq(CURL *h, int on, uintptr_t id);
CURLcode curlsock_set_seek(CURL *h, int on, uintptr_t id);
CURLcode curlsock_set_trailer(CURL *h, int on, uintptr_t id);

// Error buffers, recycled (see callbacks.c).
char *curlsock_errbuf_get(void);
void curlsock_errbuf_put(char *b);

#endif
