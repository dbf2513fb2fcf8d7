#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "callbacks.h"
#include "_cgo_export.h"

// libcurl runs every socket callback on the thread that called into it
// (curl_easy_perform, curl_multi_perform, curl_*_cleanup, ...). The curlsock
// call that made that call records itself here, so that a callback knows
// where to report a panic, and so that after a panic the rest of that call's
// callbacks fail without entering Go at all.
static __thread uintptr_t curlsock_cur_frame;
static __thread int curlsock_cur_poisoned;

curlsock_frame_state curlsock_frame_enter(uintptr_t frame) {
	curlsock_frame_state saved = {curlsock_cur_frame, curlsock_cur_poisoned};
	curlsock_cur_frame = frame;
	curlsock_cur_poisoned = 0;
	return saved;
}

void curlsock_frame_leave(curlsock_frame_state saved) {
	curlsock_cur_frame = saved.frame;
	curlsock_cur_poisoned = saved.poisoned;
}

// The frame of the curlsock call driving libcurl on this thread, 0 if none:
// Go code that finds one is running inside a libcurl callback.
uintptr_t curlsock_frame_current(void) {
	return curlsock_cur_frame;
}

// Only meaningful inside a frame: outside one nothing would ever clear it.
void curlsock_frame_poison(void) {
	if (curlsock_cur_frame != 0)
		curlsock_cur_poisoned = 1;
}

curl_socket_t curlsock_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address) {
	if (curlsock_cur_poisoned)
		return CURL_SOCKET_BAD;
	return curlsockGoOpen((uintptr_t)clientp, (int)purpose, address, curlsock_cur_frame);
}

int curlsock_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose) {
	if (curlsock_cur_poisoned)
		return CURL_SOCKOPT_ERROR;
	return curlsockGoSockopt((uintptr_t)clientp, fd, (int)purpose, curlsock_cur_frame);
}

int curlsock_closesocket(void *clientp, curl_socket_t fd) {
	// libcurl ignores the result and forgets fd either way, so the fd must be
	// closed even when no callback may run. Id 0 matches no registration:
	// the Go side closes fd and drops it from its fd table at once, as for
	// any close it cannot attribute, running no callback.
	uintptr_t id = curlsock_cur_poisoned ? 0 : (uintptr_t)clientp;
	return curlsockGoClose(id, fd, curlsock_cur_frame);
}

// After a panic libcurl gets each callback's "abort" answer.
size_t curlsock_write(char *ptr, size_t size, size_t nmemb, void *userdata) {
	if (curlsock_cur_poisoned)
		return 0;
	return curlsockGoWrite((uintptr_t)userdata, ptr, size * nmemb, 0, curlsock_cur_frame);
}

size_t curlsock_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
	if (curlsock_cur_poisoned)
		return 0;
	return curlsockGoWrite((uintptr_t)userdata, ptr, size * nmemb, 1, curlsock_cur_frame);
}

size_t curlsock_read(char *buf, size_t size, size_t nitems, void *userdata) {
	if (curlsock_cur_poisoned)
		return CURL_READFUNC_ABORT;
	return curlsockGoRead((uintptr_t)userdata, buf, size * nitems, curlsock_cur_frame);
}

int curlsock_progress(void *clientp, double dltotal, double dlnow, double ultotal, double ulnow) {
	if (curlsock_cur_poisoned)
		return 1;
	return curlsockGoProgress((uintptr_t)clientp, dltotal, dlnow, ultotal, ulnow, curlsock_cur_frame);
}

int curlsock_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port, int local_port) {
	if (curlsock_cur_poisoned)
		return CURL_PREREQFUNC_ABORT;
	return curlsockGoPrereq((uintptr_t)clientp, primary_ip, local_ip, primary_port, local_port, curlsock_cur_frame);
}

int curlsock_seek(void *clientp, curl_off_t offset, int origin) {
	if (curlsock_cur_poisoned)
		return CURL_SEEKFUNC_FAIL;
	return curlsockGoSeek((uintptr_t)clientp, offset, origin, curlsock_cur_frame);
}

int curlsock_trailer(struct curl_slist **list, void *userdata) {
	if (curlsock_cur_poisoned)
		return CURL_TRAILERFUNC_ABORT;
	return curlsockGoTrailer((uintptr_t)userdata, list);
}

CURLcode curlsock_setopt_long(CURL *h, CURLoption opt, long v) {
	return curl_easy_setopt(h, opt, v);
}

CURLcode curlsock_setopt_ptr(CURL *h, CURLoption opt, void *p) {
	return curl_easy_setopt(h, opt, p);
}

CURLcode curlsock_setopt_id(CURL *h, CURLoption opt, uintptr_t id) {
	return curl_easy_setopt(h, opt, (void *)id);
}

CURLcode curlsock_set_opensocket(CURL *h, int on) {
	return curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, on ? curlsock_opensocket : NULL);
}

CURLcode curlsock_set_sockopt(CURL *h, int on) {
	return curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on ? curlsock_sockopt : NULL);
}

CURLcode curlsock_set_closesocket(CURL *h, int on) {
	return curl_easy_setopt(h, CURLOPT_CLOSESOCKETFUNCTION, on ? curlsock_closesocket : NULL);
}

// Unset, each data option gets libcurl's default back: the default write and
// read functions take a FILE * (stdout, stdin) as their data.
CURLcode curlsock_set_write(CURL *h, int on, uintptr_t id) {
	CURLcode rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on ? curlsock_write : NULL);
	return rc ? rc : curl_easy_setopt(h, CURLOPT_WRITEDATA, on ? (void *)id : (void *)stdout);
}

CURLcode curlsock_set_header(CURL *h, int on, uintptr_t id) {
	CURLcode rc = curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on ? curlsock_header : NULL);
	return rc ? rc : curl_easy_setopt(h, CURLOPT_HEADERDATA, on ? (void *)id : NULL);
}

CURLcode curlsock_set_read(CURL *h, int on, uintptr_t id) {
	CURLcode rc = curl_easy_setopt(h, CURLOPT_READFUNCTION, on ? curlsock_read : NULL);
	return rc ? rc : curl_easy_setopt(h, CURLOPT_READDATA, on ? (void *)id : (void *)stdin);
}

CURLcode curlsock_set_progress(CURL *h, int on, uintptr_t id) {
	CURLcode rc = curl_easy_setopt(h, CURLOPT_PROGRESSFUNCTION, on ? curlsock_progress : NULL);
	return rc ? rc : curl_easy_setopt(h, CURLOPT_PROGRESSDATA, on ? (void *)id : NULL);
}

CURLcode curlsock_set_prereq(CURL *h, int on, uintptr_t id) {
	CURLcode rc = curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on ? curlsock_prereq : NULL);
	return rc ? rc : curl_easy_setopt(h, CURLOPT_PREREQDATA, on ? (void *)id : NULL);
}

CURLcode curlsock_set_seek(CURL *h, int on, uintptr_t id) {
	CURLcode rc = curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on ? curlsock_seek : NULL);
	return rc ? rc : curl_easy_setopt(h, CURLOPT_SEEKDATA, on ? (void *)id : NULL);
}

CURLcode curlsock_set_trailer(CURL *h, int on, uintptr_t id) {
	CURLcode rc = curl_easy_setopt(h, CURLOPT_TRAILERFUNCTION, on ? curlsock_trailer : NULL);
	return rc ? rc : curl_easy_setopt(h, CURLOPT_TRAILERDATA, on ? (void *)id : NULL);
}

// Error buffers (CURLOPT_ERRORBUFFER) are recycled, never freed: libcurl
// copies the pointer into a duplicate (dupset in easy.c), and a handle
// duplicated with go-curl's own Duphandle, behind curlsock's back, keeps
// writing to it after its original is gone. A recycled buffer may then get
// a stranger's text, never a write into freed memory. The pool holds at
// most as many buffers as handles were ever alive at once.
static pthread_mutex_t curlsock_errbuf_mu = PTHREAD_MUTEX_INITIALIZER;
static char **curlsock_errbuf_pool;
static size_t curlsock_errbuf_n, curlsock_errbuf_cap;

char *curlsock_errbuf_get(void) {
	char *b = NULL;
	pthread_mutex_lock(&curlsock_errbuf_mu);
	if (curlsock_errbuf_n > 0)
		b = curlsock_errbuf_pool[--curlsock_errbuf_n];
	pthread_mutex_unlock(&curlsock_errbuf_mu);
	if (b == NULL)
		return calloc(1, CURL_ERROR_SIZE);
	b[0] = 0;
	return b;
}

void curlsock_errbuf_put(char *b) {
	if (b == NULL)
		return;
	pthread_mutex_lock(&curlsock_errbuf_mu);
	if (curlsock_errbuf_n == curlsock_errbuf_cap) {
		size_t cap = curlsock_errbuf_cap ? 2 * curlsock_errbuf_cap : 16;
		char **pool = realloc(curlsock_errbuf_pool, cap * sizeof *pool);
		if (pool == NULL) {
			// Kept by nobody: a small leak rather than a use after free.
			pthread_mutex_unlock(&curlsock_errbuf_mu);
			return;
		}
		curlsock_errbuf_pool = pool;
		curlsock_errbuf_cap = cap;
	}
	curlsock_errbuf_pool[curlsock_errbuf_n++] = b;
	pthread_mutex_unlock(&curlsock_errbuf_mu);
}
