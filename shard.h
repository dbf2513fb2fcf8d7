// C side of the engine's shards (shard.go): libcurl's multi socket API
// driven from a private level-triggered epoll set, as curl's
// docs/examples/ephiperfifo.c does, so that no Go callback runs for socket
// or timer bookkeeping.
#ifndef CURLSOCK_SHARD_H
#define CURLSOCK_SHARD_H

#include <stdint.h>
#include <curl/curl.h>

#define CURLSOCK_ROUND_MAX 64

typedef struct {
	CURL *easy;
	CURLcode code;
} curlsock_done;

// What one round did, in C memory so that reading it allocates nothing.
typedef struct {
	int events;    // readiness events acted on
	int woken;     // the command eventfd was readable
	int more;      // finished transfers are left for the next round
	CURLMcode mrc; // the first error of curl_multi_socket_action, CURLM_OK if none
	int ndone;
	curlsock_done done[CURLSOCK_ROUND_MAX];
} curlsock_round;

typedef struct curlsock_shard {
	CURLM *multi;
	int epfd;  // libcurl's sockets, the timer and the command eventfd
	int tfd;   // timerfd for libcurl's timer
	int efd;   // eventfd: commands from other goroutines
	long maxconnects;
	long timeout;    // set by the timer callback
	int timer_set;   // the timer callback ran since shard_timers looked
	int arm_pending; // timeout is to be armed on the timerfd
	curlsock_round round;
} curlsock_shard;

curlsock_shard *curlsock_shard_new(long maxconnects);
void curlsock_shard_round(curlsock_shard *s, uintptr_t frame);
CURLMcode curlsock_shard_add(curlsock_shard *s, CURL *e, uintptr_t frame);
CURLMcode curlsock_shard_remove(curlsock_shard *s, CURL *e, uintptr_t frame);
CURLcode curlsock_shard_pause(curlsock_shard *s, CURL *e, int bitmask, uintptr_t frame);
CURLMcode curlsock_shard_recycle(curlsock_shard *s, uintptr_t frame);
CURLMcode curlsock_shard_free(curlsock_shard *s, uintptr_t frame);
void curlsock_shard_abandon(curlsock_shard *s);
int curlsock_shard_wake(curlsock_shard *s);
uintptr_t curlsock_shard_current(void);
void curlsock_shard_thread_reset(void);

#endif
