// The C driver (cdriver.h): curl's docs/examples/ephiperfifo.c reduced to
// what a benchmark needs. One level-triggered epoll set holds libcurl's
// sockets (CURLMOPT_SOCKETFUNCTION) and a timerfd for libcurl's timer
// (CURLMOPT_TIMERFUNCTION); every ready descriptor goes to
// curl_multi_socket_action, and finished transfers are read with
// curl_multi_info_read after each batch of events. Two departures from the
// example, both to make it cheaper, not dearer: a socket's interest changes
// with one EPOLL_CTL_MOD (the example deletes and adds again), and the
// timer is armed once per batch of events, a 0 ms timeout run at once
// (the example arms the timerfd in the callback, 1 ns for 0 ms).
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include "cdriver.h"

struct cdrv {
	CURLM *multi;
	int epfd, tfd;
	int conc;
	CURL **easies;
	long timeout;   // the last timer libcurl asked for
	int timer_set;  // ... since it was acted on
	long long total, started, done, failed, connects;
	int first_error;
	int kick_each;
};

static unsigned long long ep_calls, ep_events;

// epoll_wait for every C caller in this program: libc's, counted. curlsock's
// shards (shard.c) and the C driver call it; the Go runtime's netpoller
// makes its own system calls and is not counted.
int epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
	long n = syscall(SYS_epoll_wait, epfd, events, maxevents, timeout);
	if (n > 0) {
		__atomic_add_fetch(&ep_calls, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&ep_events, (unsigned long long)n, __ATOMIC_RELAXED);
	}
	return (int)n;
}

void bench_epoll_counts(unsigned long long *calls, unsigned long long *events) {
	*calls = __atomic_load_n(&ep_calls, __ATOMIC_RELAXED);
	*events = __atomic_load_n(&ep_events, __ATOMIC_RELAXED);
}

size_t bench_discard(char *p, size_t size, size_t n, void *userdata) {
	(void)p;
	*(unsigned long long *)userdata += size * n;
	return size * n;
}

CURLcode bench_set_discard(void *easy, unsigned long long *counter) {
	CURLcode rc = curl_easy_setopt((CURL *)easy, CURLOPT_WRITEFUNCTION, bench_discard);
	if (rc == CURLE_OK)
		rc = curl_easy_setopt((CURL *)easy, CURLOPT_WRITEDATA, (void *)counter);
	return rc;
}

// The socket callback: socketp (curl_multi_assign) marks a socket already in
// the epoll set. libcurl 7.88 may close a socket without REMOVE and hand
// out its number again with the old mark, so MOD falls back to ADD, and ADD
// to MOD.
static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
	cdrv *d = userp;
	(void)e;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.data.fd = fd;
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (socketp != NULL) {
		if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT)
			epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
	} else {
		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
			epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev);
		curl_multi_assign(d->multi, fd, d);
	}
	return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp) {
	cdrv *d = userp;
	(void)m;
	d->timeout = timeout_ms;
	d->timer_set = 1;
	return 0;
}

static void arm(cdrv *d, long ms) {
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	if (ms > 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000;
	}
	timerfd_settime(d->tfd, 0, &its, NULL);
}

static void timers(cdrv *d);

static void start(cdrv *d, CURL *e) {
	d->started++;
	curl_multi_add_handle(d->multi, e);
	if (d->kick_each)
		timers(d);
}

// collect reads finished transfers and starts the next ones on their handles.
static void collect(cdrv *d) {
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *e = msg->easy_handle;
		CURLcode rc = msg->data.result;
		long status = 0, connects = 0;
		if (rc == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
		d->connects += connects;
		if (rc != CURLE_OK || status != 200) {
			if (d->failed++ == 0)
				d->first_error = rc != CURLE_OK ? (int)rc : 1000 + (int)status;
		}
		d->done++;
		curl_multi_remove_handle(d->multi, e);
		if (d->started < d->total)
			start(d, e);
	}
}

// timers acts on the timer libcurl set during the batch: 0 ms runs now (a
// few times at most), others arm the timerfd, -1 disarms it.
static void timers(cdrv *d) {
	int running;
	for (int i = 0; d->timer_set; i++) {
		d->timer_set = 0;
		if (d->timeout != 0 || i == 8) {
			arm(d, d->timeout == 0 ? 1 : d->timeout);
			return;
		}
		curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
		collect(d);
	}
}

cdrv *cdrv_new(const char *const *urls, int nurls, int conc, int forbid_reuse, int kick_each, unsigned long long *bytes) {
	cdrv *d = calloc(1, sizeof *d);
	if (d == NULL)
		return NULL;
	d->conc = conc;
	d->kick_each = kick_each;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	d->multi = curl_multi_init();
	d->easies = calloc((size_t)conc, sizeof *d->easies);
	if (d->epfd < 0 || d->tfd < 0 || d->multi == NULL || d->easies == NULL) {
		cdrv_free(d);
		return NULL;
	}
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = d->tfd;
	epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->tfd, &ev);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	for (int i = 0; i < conc; i++) {
		CURL *e = curl_easy_init();
		if (e == NULL) {
			cdrv_free(d);
			return NULL;
		}
		d->easies[i] = e;
		curl_easy_setopt(e, CURLOPT_URL, urls[i % nurls]);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		if (forbid_reuse)
			curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
		bench_set_discard(e, bytes);
	}
	return d;
}

static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cdrv_run(cdrv *d, long long total, int timeout_ms, cdrv_result *res) {
	memset(res, 0, sizeof *res);
	d->total = total;
	d->started = d->done = d->failed = d->connects = 0;
	d->first_error = 0;
	for (int i = 0; i < d->conc && d->started < total; i++)
		start(d, d->easies[i]);
	timers(d);
	enum { MAXEV = 256 };
	struct epoll_event evs[MAXEV];
	long long last = now_ms(), progress = d->done;
	while (d->done < total) {
		int n = epoll_wait(d->epfd, evs, MAXEV, 1000);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			res->error = errno;
			break;
		}
		int running;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == d->tfd) {
				uint64_t count;
				if (read(d->tfd, &count, sizeof count) < 0 && errno == EAGAIN)
					continue; // re-armed meanwhile
				curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
				continue;
			}
			int mask = 0;
			if (evs[i].events & EPOLLIN)
				mask |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				mask |= CURL_CSELECT_ERR;
			curl_multi_socket_action(d->multi, fd, mask, &running);
		}
		collect(d);
		timers(d);
		if (d->done != progress) {
			progress = d->done;
			last = now_ms();
		} else if (now_ms() - last > timeout_ms) {
			res->error = -1;
			break;
		}
	}
	if (d->done < total) {
		// Stopped early: take every handle out.
		for (int i = 0; i < d->conc; i++)
			curl_multi_remove_handle(d->multi, d->easies[i]);
	}
	res->done = d->done;
	res->failed = d->failed;
	res->connects = d->connects;
	res->first_error = d->first_error;
}

void cdrv_free(cdrv *d) {
	if (d->multi != NULL) {
		for (int i = 0; d->easies != NULL && i < d->conc; i++) {
			if (d->easies[i] != NULL) {
				curl_multi_remove_handle(d->multi, d->easies[i]);
				curl_easy_cleanup(d->easies[i]);
			}
		}
		curl_multi_cleanup(d->multi);
	}
	free(d->easies);
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->tfd >= 0)
		close(d->tfd);
	free(d);
}
