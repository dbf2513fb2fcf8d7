// The C driver of the engine benchmark: libcurl's multi socket API driven
// from a level-triggered epoll set and a timerfd, in the style of curl's
// docs/examples/ephiperfifo.c, on one thread, with no Go in the loop. It is
// what the curlsock engine is compared with.
#ifndef BENCH_CDRIVER_H
#define BENCH_CDRIVER_H

#include <stdint.h>
#include <curl/curl.h>

typedef struct cdrv cdrv;

typedef struct {
	long long done;    // transfers that ended (ok + failed)
	long long failed;  // ended with a CURLcode other than CURLE_OK or an HTTP status other than 200
	long long connects; // new connections (CURLINFO_NUM_CONNECTS summed)
	int first_error;   // the first failure's CURLcode (or 1000 + HTTP status)
	int error;         // the driver itself failed (errno, or -1 on timeout)
} cdrv_result;

// cdrv_new makes conc easy handles for url (FORBID_REUSE when forbid_reuse),
// each writing into the counter *bytes, and a multi with its epoll set.
// With kick_each, every handle added is started at once with its own
// curl_multi_socket_action, as curlsock's engine does, instead of once for
// all the handles added in a batch of events.
cdrv *cdrv_new(const char *const *urls, int nurls, int conc, int forbid_reuse, int kick_each, unsigned long long *bytes);
// cdrv_run runs total transfers, conc at a time (a handle that finished is
// added again while fewer than total were started), and returns when all
// ended or after timeout_ms of no progress.
void cdrv_run(cdrv *d, long long total, int timeout_ms, cdrv_result *res);
void cdrv_free(cdrv *d);

// The write callback every variant of the benchmark uses unless it measures
// a Go one: counts the body into *(unsigned long long *)userdata.
size_t bench_discard(char *p, size_t size, size_t n, void *userdata);
CURLcode bench_set_discard(void *easy, unsigned long long *counter);

// Calls of epoll_wait from C code in this program (curlsock's shards and
// the C driver) that returned events, and the events they returned: this
// program's epoll_wait (cdriver.c) replaces libc's for them.
void bench_epoll_counts(unsigned long long *calls, unsigned long long *events);

#endif
