#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include "callbacks.h"
#include "shard.h"

// CURLMOPT_SOCKETFUNCTION: mirror libcurl's interest in the epoll set. It
// runs inside libcurl, so it calls nothing of libcurl's but
// curl_multi_assign, which its docs allow here: a socket libcurl reports for
// the first time has no socketp yet and is added, later reports modify it
// (libcurl forgets socketp on REMOVE). libcurl 7.88 may report REMOVE late,
// for a socket it already closed (its Happy Eyeballs losers are closed with
// a bare close()), and libcurl <= 7.81 may pass a NULL socketp for a socket
// it reported before: so an add falls back to a modify and back, and a
// failed delete is ignored (isahc's selector does the same).
// The frame of the shard this thread is driving, 0 if none: unlike the
// thread's frame, it stays set while a callback drives another handle
// (a nested Perform), so that a Do from there to this shard is refused.
static __thread uintptr_t shard_current;

uintptr_t curlsock_shard_current(void) {
	return shard_current;
}

// After a runtime.Goexit abandoned a call into libcurl on this thread.
void curlsock_shard_thread_reset(void) {
	curlsock_frame_state none = {0, 0};
	curlsock_frame_leave(none);
	shard_current = 0;
}

// A call into the multi runs as the shard's frame: callbacks find their
// curlsock call by it, and a nested Do finds the shard it would wait for.
typedef struct {
	curlsock_frame_state frame;
	uintptr_t shard;
} shard_call;

static shard_call shard_enter(uintptr_t frame) {
	shard_call saved = {curlsock_frame_enter(frame), shard_current};
	shard_current = frame;
	return saved;
}

static void shard_leave(shard_call saved) {
	shard_current = saved.shard;
	curlsock_frame_leave(saved.frame);
}

static int shard_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp) {
	curlsock_shard *s = userp;
	(void)e;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);
		return 0;
	}
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.data.fd = fd;
	if (what & CURL_POLL_IN)
		ev.events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev.events |= EPOLLOUT;
	if (socketp == NULL) {
		if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 && errno == EEXIST)
			epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev);
		curl_multi_assign(s->multi, fd, s);
	} else if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) {
		epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	return 0;
}

// CURLMOPT_TIMERFUNCTION: only records the timeout. Calling libcurl from
// here is forbidden (curl #3537); shard_timers acts on it once the libcurl
// call that set it has returned.
static int shard_timer(CURLM *m, long timeout_ms, void *userp) {
	curlsock_shard *s = userp;
	(void)m;
	s->timeout = timeout_ms;
	s->timer_set = 1;
	return 0;
}

static void shard_note(curlsock_shard *s, CURLMcode rc) {
	if (rc != CURLM_OK && s->round.mrc == CURLM_OK)
		s->round.mrc = rc;
}

static void shard_arm(curlsock_shard *s, long ms) {
	struct itimerspec its;
	memset(&its, 0, sizeof its);
	if (ms > 0) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (ms % 1000) * 1000000;
	} else if (ms == 0) {
		its.it_value.tv_nsec = 1;
	}
	timerfd_settime(s->tfd, 0, &its, NULL);
}

// shard_timers acts on the timer libcurl set during the last call: a 0
// timeout ("as soon as possible") is run at once, a few times at most, so
// that a started transfer connects within the round that added it. Any
// other is left for shard_arm_timer, once per round: libcurl may move its
// timer after every socket it acts on.
static void shard_timers(curlsock_shard *s) {
	int running;
	for (int i = 0; s->timer_set; i++) {
		s->timer_set = 0;
		if (s->timeout != 0 || i == 8) {
			s->arm_pending = 1;
			return;
		}
		shard_note(s, curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running));
	}
}

// shard_arm_timer arms the timerfd for libcurl's last timeout, if it
// changed since the last arming; -1 disarms it.
static void shard_arm_timer(curlsock_shard *s) {
	if (s->arm_pending) {
		s->arm_pending = 0;
		shard_arm(s, s->timeout);
	}
}

static void shard_act(curlsock_shard *s, curl_socket_t fd, int mask) {
	int running;
	shard_note(s, curl_multi_socket_action(s->multi, fd, mask, &running));
	shard_timers(s);
}

// shard_collect takes finished transfers out of the multi.
static void shard_collect(curlsock_shard *s) {
	curlsock_round *r = &s->round;
	CURLMsg *msg;
	int left = 0;
	while (r->ndone < CURLSOCK_ROUND_MAX && (msg = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *e = msg->easy_handle;
		CURLcode code = msg->data.result;
		// msg is freed by the removal.
		curl_multi_remove_handle(s->multi, e);
		r->done[r->ndone].easy = e;
		r->done[r->ndone].code = code;
		r->ndone++;
	}
	r->more = r->ndone == CURLSOCK_ROUND_MAX && left > 0;
}

// shard_multi makes the shard's multi.
static CURLM *shard_multi(curlsock_shard *s) {
	CURLM *m = curl_multi_init();
	if (m == NULL)
		return NULL;
	if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, shard_socket) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, s) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, shard_timer) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_TIMERDATA, s) != CURLM_OK ||
	    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, s->maxconnects) != CURLM_OK) {
		curl_multi_cleanup(m);
		return NULL;
	}
	return m;
}

curlsock_shard *curlsock_shard_new(long maxconnects) {
	curlsock_shard *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->maxconnects = maxconnects;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	s->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->multi = shard_multi(s);
	struct epoll_event ev;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	int ok = s->epfd >= 0 && s->tfd >= 0 && s->efd >= 0 && s->multi != NULL;
	if (ok) {
		ev.data.fd = s->tfd;
		ok = epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->tfd, &ev) == 0;
	}
	if (ok) {
		ev.data.fd = s->efd;
		ok = epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->efd, &ev) == 0;
	}
	if (!ok) {
		if (s->multi != NULL)
			curl_multi_cleanup(s->multi);
		s->multi = NULL;
		curlsock_shard_abandon(s);
		return NULL;
	}
	return s;
}

// curlsock_shard_round acts on every ready descriptor without waiting (the
// caller waits for the epoll set in Go's netpoller), as the curlsock call
// frame, and collects the transfers that ended.
void curlsock_shard_round(curlsock_shard *s, uintptr_t frame) {
	curlsock_round *r = &s->round;
	r->events = r->woken = r->more = r->ndone = 0;
	r->mrc = CURLM_OK;
	struct epoll_event evs[CURLSOCK_ROUND_MAX];
	shard_call saved = shard_enter(frame);
	int n = epoll_wait(s->epfd, evs, CURLSOCK_ROUND_MAX, 0);
	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		uint64_t count;
		if (fd == s->tfd) {
			if (read(s->tfd, &count, sizeof count) < 0 && errno == EAGAIN)
				continue; // rearmed meanwhile: not due yet
			shard_act(s, CURL_SOCKET_TIMEOUT, 0);
		} else if (fd == s->efd) {
			if (read(s->efd, &count, sizeof count) == sizeof count)
				r->woken = 1;
		} else {
			int mask = 0;
			if (evs[i].events & EPOLLIN)
				mask |= CURL_CSELECT_IN;
			if (evs[i].events & EPOLLOUT)
				mask |= CURL_CSELECT_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				mask |= CURL_CSELECT_ERR;
			shard_act(s, fd, mask);
		}
	}
	r->events = n > 0 ? n : 0;
	shard_collect(s);
	// Removals may have moved libcurl's timer (PIPEWAIT-pending transfers).
	shard_timers(s);
	shard_arm_timer(s);
	shard_leave(saved);
}

CURLMcode curlsock_shard_add(curlsock_shard *s, CURL *e, uintptr_t frame) {
	shard_call saved = shard_enter(frame);
	CURLMcode rc = curl_multi_add_handle(s->multi, e);
	// libcurl asked for a 0 timeout: the transfer starts now.
	if (rc == CURLM_OK)
		shard_timers(s);
	shard_arm_timer(s);
	shard_leave(saved);
	return rc;
}

CURLMcode curlsock_shard_remove(curlsock_shard *s, CURL *e, uintptr_t frame) {
	shard_call saved = shard_enter(frame);
	CURLMcode rc = curl_multi_remove_handle(s->multi, e);
	shard_timers(s);
	shard_arm_timer(s);
	shard_leave(saved);
	return rc;
}

// curlsock_shard_pause sets e's pause state (curl_easy_pause) from the
// goroutine driving the shard, outside any callback: resuming may deliver
// held data to the write callback before it returns.
CURLcode curlsock_shard_pause(curlsock_shard *s, CURL *e, int bitmask, uintptr_t frame) {
	shard_call saved = shard_enter(frame);
	CURLcode rc = curl_easy_pause(e, bitmask);
	// Resuming asks for a 0 timeout: the transfer goes on now.
	shard_timers(s);
	shard_arm_timer(s);
	shard_leave(saved);
	return rc;
}

// curlsock_shard_recycle replaces the multi of a shard with no transfers
// by a new one: the old one's cached connections close through their
// close-socket callbacks. libcurl has no call that closes only the idle
// connections of a multi. If the new multi cannot be made, the old one
// stays and CURLM_OUT_OF_MEMORY is returned.
CURLMcode curlsock_shard_recycle(curlsock_shard *s, uintptr_t frame) {
	CURLM *m = shard_multi(s);
	if (m == NULL)
		return CURLM_OUT_OF_MEMORY;
	shard_call saved = shard_enter(frame);
	CURLMcode rc = curl_multi_cleanup(s->multi);
	shard_leave(saved);
	s->multi = m;
	s->timer_set = s->arm_pending = 0;
	s->timeout = -1;
	shard_arm(s, -1);
	return rc;
}

// curlsock_shard_free closes the multi (its cached connections close
// through their close-socket callbacks) and the shard's descriptors.
CURLMcode curlsock_shard_free(curlsock_shard *s, uintptr_t frame) {
	shard_call saved = shard_enter(frame);
	CURLMcode rc = curl_multi_cleanup(s->multi);
	shard_leave(saved);
	if (rc != CURLM_OK)
		return rc;
	s->multi = NULL;
	curlsock_shard_abandon(s);
	return CURLM_OK;
}

// curlsock_shard_abandon frees the shard but not its multi: what is left
// of a multi whose call into libcurl never returned (runtime.Goexit in a
// callback) cannot be cleaned up.
void curlsock_shard_abandon(curlsock_shard *s) {
	if (s->epfd >= 0)
		close(s->epfd);
	if (s->tfd >= 0)
		close(s->tfd);
	if (s->efd >= 0)
		close(s->efd);
	free(s);
}

int curlsock_shard_wake(curlsock_shard *s) {
	uint64_t one = 1;
	return write(s->efd, &one, sizeof one) == sizeof one ? 0 : -1;
}
