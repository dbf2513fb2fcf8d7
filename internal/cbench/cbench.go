// Package cbench drives curlsock's C trampolines the way libcurl calls them,
// without libcurl or a network, so that the benchmarks of package curl can
// measure the C→Go→C dispatch of each callback next to the bare cost of a cgo
// callback (the floor), in the same run. cgo is not allowed in _test.go
// files, hence this package.
package cbench

/*
#cgo pkg-config: libcurl
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <curl/curl.h>

// Defined by package curl (callbacks.c); resolved when the test binary that
// imports both is linked.
extern curl_socket_t curlsock_opensocket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address);
extern int curlsock_sockopt(void *clientp, curl_socket_t fd, curlsocktype purpose);
extern int curlsock_closesocket(void *clientp, curl_socket_t fd);

extern int cbenchGoNoop(uintptr_t x);

// The frame, as curlsock's Perform records it around curl_easy_perform.
typedef struct {
	uintptr_t frame;
	int poisoned;
} curlsock_frame_state;
extern curlsock_frame_state curlsock_frame_enter(uintptr_t frame);
extern void curlsock_frame_leave(curlsock_frame_state saved);

// libcurl's storage behind curl_sockaddr: the public struct followed by room
// for a sockaddr_storage, as in its Curl_sockaddr_ex.
typedef struct {
	struct curl_sockaddr sa;
	char room[sizeof(struct sockaddr_storage)];
} cbench_addr;

static void cbench_fill(cbench_addr *a, uint16_t port) {
	struct sockaddr_in in;
	memset(a, 0, sizeof(*a));
	a->sa.family = AF_INET;
	a->sa.socktype = SOCK_STREAM;
	a->sa.protocol = IPPROTO_TCP;
	a->sa.addrlen = sizeof(in);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(port);
	in.sin_addr.s_addr = htonl(0x7f000001);
	memcpy(&a->sa.addr, &in, sizeof(in));
}

static int cbench_floor(int n) {
	int sum = 0;
	for (int i = 0; i < n; i++)
		sum += cbenchGoNoop((uintptr_t)i);
	return sum;
}

// Returns the last fd, or -1 if any call refused.
// Inside the frame of the handle's own Perform, as libcurl calls it.
static int cbench_open(uintptr_t id, int n, uint16_t port) {
	cbench_addr a;
	int fd = -1;
	curlsock_frame_state saved = curlsock_frame_enter(id);
	for (int i = 0; i < n; i++) {
		cbench_fill(&a, port); // a rewrite may have changed it
		fd = curlsock_opensocket((void *)id, CURLSOCKTYPE_IPCXN, &a.sa);
		if (fd == CURL_SOCKET_BAD)
			break;
	}
	curlsock_frame_leave(saved);
	return fd;
}

// Opens and closes alternately, as libcurl does for each connection; returns
// -1 if an open refused.
static int cbench_open_close(uintptr_t hid, uintptr_t cid, int n, uint16_t port) {
	cbench_addr a;
	int rc = 0;
	curlsock_frame_state saved = curlsock_frame_enter(hid);
	for (int i = 0; i < n; i++) {
		cbench_fill(&a, port);
		int fd = curlsock_opensocket((void *)hid, CURLSOCKTYPE_IPCXN, &a.sa);
		if (fd == CURL_SOCKET_BAD) {
			rc = -1;
			break;
		}
		curlsock_closesocket((void *)cid, fd);
	}
	curlsock_frame_leave(saved);
	return rc;
}

static int cbench_sockopt(uintptr_t id, int fd, int n) {
	int rc = 0;
	curlsock_frame_state saved = curlsock_frame_enter(id);
	for (int i = 0; i < n; i++)
		rc |= curlsock_sockopt((void *)id, fd, CURLSOCKTYPE_IPCXN);
	curlsock_frame_leave(saved);
	return rc;
}

static int cbench_close(uintptr_t frame, uintptr_t id, int fd, int n) {
	int rc = 0;
	curlsock_frame_state saved = curlsock_frame_enter(frame);
	for (int i = 0; i < n; i++)
		rc |= curlsock_closesocket((void *)id, fd);
	curlsock_frame_leave(saved);
	return rc;
}
*/
import "C"

//export cbenchGoNoop
func cbenchGoNoop(x C.uintptr_t) C.int { return C.int(x & 1) }

// Floor makes n bare cgo callbacks from C into Go.
func Floor(n int) { C.cbench_floor(C.int(n)) }

// Open calls curlsock's open-socket trampoline n times for 127.0.0.1:port
// with clientp id, as libcurl does; it returns the last fd, or -1 if a call
// refused.
func Open(id uintptr, n int, port uint16) int {
	return int(C.cbench_open(C.uintptr_t(id), C.int(n), C.uint16_t(port)))
}

// OpenClose calls the open-socket trampoline (clientp hid) and the
// close-socket trampoline (clientp cid) on its result, n times each, in turn;
// it returns -1 if an open refused.
func OpenClose(hid, cid uintptr, n int, port uint16) int {
	return int(C.cbench_open_close(C.uintptr_t(hid), C.uintptr_t(cid), C.int(n), C.uint16_t(port)))
}

// Sockopt calls the sockopt trampoline n times; it returns the OR of the
// results.
func Sockopt(id uintptr, fd, n int) int {
	return int(C.cbench_sockopt(C.uintptr_t(id), C.int(fd), C.int(n)))
}

// Close calls the close-socket trampoline n times with clientp id, in the
// frame of the handle whose Perform would be running.
func Close(frame, id uintptr, fd, n int) int {
	return int(C.cbench_close(C.uintptr_t(frame), C.uintptr_t(id), C.int(fd), C.int(n)))
}
