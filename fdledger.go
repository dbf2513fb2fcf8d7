//go:build linux

package curl

import (
	"golang.org/x/sys/unix"
)

// The fd ledger: the sockets handed to libcurl while a close-socket callback
// was set, each charged to the registration that will be asked to close it
// (registry.fds, under registry's lock). A charge keeps its registration
// alive; the close, or a sweep that finds the socket gone, releases it.

// fdEntry records a socket handed to libcurl while a close-socket callback was
// set. libcurl 7.88.x closes some sockets with plain close() (Happy Eyeballs
// losers, attempts abandoned on timeout; fixed in 8.2.0 by PR #11439), and
// the number is reused at once, so an entry also carries the socket's
// identity: a sweep drops entries whose fd no longer is that socket.
//
// On libcurl ≥ 8.2 only rare error paths still bypass the callback (an FTP
// listen socket whose setup failed; the FD_CLOEXEC failure of 8.17–8.18), so
// the identity of a socket curlsock itself just created is not taken when it
// is charged, which would cost a syscall per connection: the next sweep
// learns it, and meanwhile a number charged again is released all the same.
type fdEntry struct {
	closer   *closeReg
	known    bool // dev and ino are set
	dev, ino uint64
	// also: the registrations retired by setCloser while a transfer was
	// under way, when the socket was opened. Its connection may have been
	// created before the change and then closes the socket with one of
	// their ids, so they live as long as the socket does.
	also []*closeReg
}

// eagerIdentity: libcurl closes sockets behind curlsock's back on its normal
// paths, so an entry's identity must be taken before the number can be reused.
var eagerIdentity = versionNum < 0x080200

// chargeFD records that fd, just handed to libcurl, will be closed through a
// close-socket callback, and keeps c alive until then. st is fd's identity, or
// nil if it was not taken. A number already in the table was closed behind
// our back and reused: that entry is released.
func chargeFD(fd int, st *unix.Stat_t, c *closeReg, also []*closeReg) {
	e := fdEntry{closer: c, also: also}
	if st != nil {
		e.known, e.dev, e.ino = true, st.Dev, st.Ino
	}
	registry.Lock()
	defer registry.Unlock()
	if old, ok := registry.fds[fd]; ok {
		releaseLocked(old)
	}
	registry.fds[fd] = e
	c.sockets++
	for _, r := range also {
		r.sockets++
	}
	if len(registry.fds) >= registry.sweepAt {
		sweepLocked()
		// Amortized: a sweep costs one fstat per tracked socket.
		registry.sweepAt = 2*len(registry.fds) + 64
	}
}

// socketStat fills st with the identity of fd, an open-socket callback's
// result, or returns an error if fd is not an open socket.
func socketStat(fd int, st *unix.Stat_t) error {
	if err := unix.Fstat(fd, st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return unix.ENOTSOCK
	}
	return nil
}

// takeFD removes fd from the table before it is closed, so that a new socket
// that gets the same number on another thread is never mistaken for it.
func takeFD(fd int) (fdEntry, bool) {
	registry.Lock()
	e, ok := registry.fds[fd]
	if ok {
		delete(registry.fds, fd)
	}
	registry.Unlock()
	return e, ok
}

// releaseFD drops the charge of a socket taken with takeFD, once closed.
func releaseFD(e fdEntry) {
	registry.Lock()
	releaseLocked(e)
	registry.Unlock()
}

func releaseLocked(e fdEntry) {
	e.closer.sockets--
	maybeFreeLocked(e.closer)
	for _, r := range e.also {
		r.sockets--
		maybeFreeLocked(r)
	}
}

// isSame reports whether fd still is the socket e recorded. Without a
// recorded identity, any open socket is taken for it.
func (e fdEntry) isSame(fd int) bool {
	var st unix.Stat_t
	if socketStat(fd, &st) != nil {
		return false
	}
	return !e.known || st.Dev == e.dev && st.Ino == e.ino
}

func sweepLocked() {
	for fd, e := range registry.fds {
		var st unix.Stat_t
		switch {
		case socketStat(fd, &st) != nil || e.known && (st.Dev != e.dev || st.Ino != e.ino):
			delete(registry.fds, fd)
			releaseLocked(e)
		case !e.known:
			e.known, e.dev, e.ino = true, st.Dev, st.Ino
			registry.fds[fd] = e
		}
	}
}
