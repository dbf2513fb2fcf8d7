//go:build linux

package curl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/curlsock/curlsock/sock"
	"golang.org/x/sys/unix"
)

// Sockets composes curlsock's socket toolkit on easy handles. For every
// connection attempt libcurl makes, Install runs the pieces that are set in
// one fixed order:
//
//  1. Rewrite changes the destination libcurl chose (after DNS, redirects,
//     CURLOPT_RESOLVE and CURLOPT_CONNECT_TO);
//  2. Guard checks the address actually connected: the rewritten one;
//  3. the socket is opened — or, with Dialer, dialed by Go and handed over;
//  4. Control hooks run on the new socket, as net.Dialer.Control hooks do;
//  5. Options configure it (libcurl's sockopt callback);
//  6. Trace records every open, refusal, sockopt and close.
//
// libcurl's FTP active-mode listen socket arrives as an attempt to a local
// address with port 0: it is a bind address, not a destination, so Rewrite,
// Guard, Dialer and the Control hooks leave it alone (libcurl ignores
// rewrites of it anyway). Only an address of this host (or a loopback or
// unspecified one) counts as such, and only when FTP is among the protocols:
// any other destination with port 0 is checked like every other.
//
// A Sockets value is a description: Install copies what it needs, so one
// value may serve any number of handles.
type Sockets struct {
	Rewrite *sock.RewriteTable
	Guard   *sock.Guard
	// Protocols limits the URL schemes the handle may use, redirects
	// included, as CURLOPT_PROTOCOLS_STR names them ("all" for no limit; a
	// list naming none fails Install). With a Guard it defaults to http
	// and https: other schemes (file, and those whose sockets the guard
	// cannot see) stay closed.
	Protocols []string
	Control   []func(network, address string, c syscall.RawConn) error
	Options   []sock.SocketOption
	Trace     *sock.Trace
	// Dialer, if set, dials each attempt with Go and hands the connected
	// socket to libcurl (CURL_SOCKOPT_ALREADY_CONNECTED), which owns it from
	// then on. The Dialer's own Control (or ControlContext) runs first, then
	// the Control hooks above; an IPv4-mapped destination is dialed as
	// "tcp4" to its IPv4 address, as Go dials it. Needs libcurl ≥ 8.0
	// (curl #10626).
	Dialer *net.Dialer
}

// Install puts the toolkit on e. It replaces whatever a previous Install
// put there, all or nothing, and composes with the handle's own options:
//
//   - Socket callbacks set with Setopt, before or after Install, run inside
//     the installation: open runs Rewrite, then the Guard, then the handle's
//     OPT_OPENSOCKETFUNCTION (instead of OpenSocket), then the Guard again
//     if that callback changed the destination, then the Control hooks;
//     sockopt runs Options, then OPT_SOCKOPTFUNCTION; close runs
//     OPT_CLOSESOCKETFUNCTION (instead of close); prereq runs the Guard's
//     check of the connection about to be used, then OPT_PREREQFUNCTION.
//     With Dialer, the Dialer makes every socket, and an open-socket
//     callback is refused with ErrInstallConflict.
//   - With a Guard, or with Protocols, the handle's protocols are limited
//     (CURLOPT_PROTOCOLS_STR and CURLOPT_REDIR_PROTOCOLS_STR): a protocol
//     list set with Setopt may narrow them further; one naming a protocol
//     the installation closes is refused with ErrInstallConflict. A list set
//     before Install is narrowed to what the installation allows.
//   - With a Guard, proxies from the environment are off (CURLOPT_PROXY ""):
//     such a proxy would connect to the real destination out of the guard's
//     sight. A proxy set with Setopt, before or after Install, stays, and
//     then the guard checks the proxy's address, not the destination's
//     (Setopt(OPT_PROXY, nil) means no proxy).
//
// If Install fails, the handle refuses every transfer — Perform and
// CURLM.AddHandle return an error wrapping ErrInstallFailed and the error
// Install returned, and any socket libcurl would open is refused — until an
// Install succeeds. CURL.Reset keeps the installation; CURL.Uninstall
// removes it; a duplicate (CURL.Duphandle) gets an installation of its own,
// with the same settings.
//
// Install returns ErrHandleBusy while the handle is in a transfer (Perform,
// a multi, Do, PerformContext), also from its own callbacks, and leaves the
// transfer's installation as it is.
func (s *Sockets) Install(e *CURL) error {
	// Between transfers only: ErrHandleBusy leaves the installation the
	// transfer under way has.
	release, err := e.reg.claimIdle()
	if err != nil {
		return err
	}
	defer release()
	st, err := s.state(e)
	if err == nil {
		err = e.setInstallation(st)
	}
	if err != nil {
		e.failInstallation(err)
	}
	return err
}

// state makes e's copy of s, or says why s cannot be installed on e.
func (s *Sockets) state(e *CURL) (*socketsState, error) {
	if s.Dialer != nil && e.reg.hasOpenFunc() {
		return nil, fmt.Errorf("%w: Sockets.Dialer makes the sockets, and the handle has an open-socket callback that would too", ErrInstallConflict)
	}
	if s.Dialer != nil && alreadyConnectedBroken {
		return nil, fmt.Errorf("%w (libcurl %s): Sockets.Dialer cannot hand connections over", ErrAlreadyConnectedUnsupported, versionString())
	}
	st := &socketsState{Sockets: *s, handle: e.reg.seq}
	st.Control = slices.Clone(s.Control)
	st.Options = slices.Clone(s.Options)
	if s.Protocols != nil {
		st.protocols = protocolSet(strings.Join(s.Protocols, ","))
		switch {
		case len(st.protocols) == 0:
			// Not "no limit": a guard's list that came out empty must not
			// open every protocol.
			return nil, errors.New("curlsock: Sockets.Protocols names no protocol")
		case slices.Contains(st.protocols, "all"):
			st.protocols = nil
		}
	} else if s.Guard != nil {
		st.protocols = []string{"http", "https"}
	}
	st.ftp = st.protocols == nil || slices.Contains(st.protocols, "ftp") || slices.Contains(st.protocols, "ftps")
	st.control = allOf(st.Control)
	if s.Dialer != nil {
		st.Dialer = chainControl(s.Dialer, st.control)
	}
	// What prereq and sockopt must learn from open, only when they need it:
	// the guard's connections pay nothing for it.
	st.track = s.Dialer != nil || s.Guard != nil && (s.Rewrite != nil || s.Guard.UnixSockets())
	if st.track {
		st.conns = map[int]connRecord{}
	}
	return st, nil
}

// copyFor returns the installation for d, a duplicate of the handle st is
// installed on: the same settings, state of its own.
func (st *socketsState) copyFor(d *handleReg) *socketsState {
	c := &socketsState{Sockets: st.Sockets, handle: d.seq, failed: st.failed, protocols: st.protocols,
		ftp: st.ftp, control: st.control, track: st.track}
	if c.track {
		c.conns = map[int]connRecord{}
	}
	return c
}

// socketsState is one handle's copy of a Sockets: its installation.
type socketsState struct {
	Sockets
	handle uint64
	// failed: the Install that made this state failed; the handle refuses
	// every transfer.
	failed error
	// protocols the handle may use, lower case; nil for no limit.
	protocols []string
	ftp       bool // FTP may run: a local port-0 attempt is its listen socket
	// control runs the Control hooks in order, nil without any.
	control func(network, address string, c syscall.RawConn) error
	track   bool // conns is kept

	mu    sync.Mutex
	conns map[int]connRecord // this handle's open sockets, until closed
}

// connRecord is what open learnt of a socket that prereq and sockopt need.
// An entry whose socket libcurl closed without the close-socket callback
// (libcurl < 8.2, PR #11439) is replaced when its number is opened again.
type connRecord struct {
	dialed bool // handed over connected: sockopt answers ALREADY_CONNECTED
	// reported is the peer libcurl 7.88 reports to prereq for a connection
	// whose port a rewrite changed: the rewritten address with the URL's
	// port (its CURLINFO_PRIMARY_PORT is conn->port); real is where the
	// socket went, the address the guard checked.
	reported, real netip.AddrPort
	abstract       string // an abstract unix socket ("@name"): libcurl reports its peer as ""
}

// The installation's callbacks, composed with the handle's own (user, nil
// when unset): see Install for the order.

func (st *socketsState) openFunc(user OpenSocketFunc) OpenSocketFunc {
	return func(data any, purpose SockType, addr *Sockaddr) (int, error) {
		return st.open(user, data, purpose, addr)
	}
}

func (st *socketsState) sockoptFunc(user SockoptFunc) SockoptFunc {
	return func(data any, fd int, purpose SockType) (int, error) {
		return st.sockopt(user, data, fd, purpose)
	}
}

func (st *socketsState) closeFunc(user CloseSocketFunc) CloseSocketFunc {
	return func(data any, fd int) error {
		return st.close(user, data, fd)
	}
}

func (st *socketsState) prereqFunc(user PrereqFunc) PrereqFunc {
	return func(data any, primary, local string, port, localPort int) error {
		if err := st.prereq(primary, port); err != nil {
			return err
		}
		if user != nil {
			return user(data, primary, local, port, localPort)
		}
		return nil
	}
}

// checksPrereq: the installation needs the prereq callback.
func (st *socketsState) checksPrereq() bool {
	return st.Guard != nil || st.failed != nil
}

func (st *socketsState) open(user OpenSocketFunc, data any, purpose SockType, addr *Sockaddr) (int, error) {
	if st.failed != nil {
		if st.Trace != nil {
			st.record(sock.TraceEvent{Kind: sock.TraceRefuse, FD: -1, Purpose: purpose, Addr: addr.String(), Err: st.failed})
		}
		return SOCKET_BAD, st.failed
	}
	listen := st.ftp && addr.Addr.IsValid() && addr.Addr.Port() == 0 && isLocalAddr(addr.Addr.Addr())
	// The trace's strings are built only when there is a trace: the path of
	// every connection does not allocate.
	var from string
	before := addr.Addr
	if st.Rewrite != nil && !listen {
		var orig string
		if st.Trace != nil {
			orig = addr.String()
		}
		if st.Rewrite.Rewrite(addr) {
			from = orig
		}
	}
	fd, dialed, err := st.openChecked(user, data, purpose, addr, listen)
	if err != nil {
		if st.Trace != nil {
			st.record(sock.TraceEvent{Kind: sock.TraceRefuse, FD: -1, Purpose: purpose, Addr: addr.String(), Rewrite: from, Err: err})
		}
		return SOCKET_BAD, err
	}
	if st.track {
		rec := connRecord{dialed: dialed}
		if before.IsValid() && addr.Addr.IsValid() && before.Port() != addr.Addr.Port() {
			rec.reported = netip.AddrPortFrom(addr.Addr.Addr(), before.Port())
			rec.real = addr.Addr
		}
		if strings.HasPrefix(addr.Path, "@") {
			rec.abstract = addr.Path
		}
		st.mu.Lock()
		st.conns[fd] = rec
		st.mu.Unlock()
	}
	if st.Trace != nil {
		st.record(sock.TraceEvent{Kind: sock.TraceOpen, FD: fd, Purpose: purpose, Addr: addr.String(), Rewrite: from})
	}
	return fd, nil
}

func (st *socketsState) openChecked(user OpenSocketFunc, data any, purpose SockType, addr *Sockaddr, listen bool) (fd int, dialed bool, err error) {
	if listen {
		fd, err := openWithUser(user, data, purpose, addr)
		return fd, false, err
	}
	if st.Guard != nil {
		if err := st.Guard.CheckSockaddr(addr); err != nil {
			return SOCKET_BAD, false, err
		}
	}
	if st.Dialer != nil {
		network, address := addr.Network(), goAddress(addr)
		if ip := addr.Addr.Addr(); ip.Is4In6() {
			// Go dials an IPv4-mapped address as IPv4 only, and refuses it
			// on "tcp6"; the guard judged it as IPv4 too.
			network, address = "tcp4", netip.AddrPortFrom(ip.Unmap(), addr.Addr.Port()).String()
		}
		fd, err := dialHandover(st.Dialer, network, address)
		return fd, err == nil, err
	}
	checked, checkedPath := addr.Addr, addr.Path
	if fd, err = openWithUser(user, data, purpose, addr); err != nil {
		return SOCKET_BAD, false, err
	}
	// The handle's own callback may have moved the destination: the guard
	// judges where the socket will connect, before libcurl connects it.
	if st.Guard != nil && (addr.Addr != checked || addr.Path != checkedPath) {
		if err := st.Guard.CheckSockaddr(addr); err != nil {
			closeSocketOnly(fd)
			return SOCKET_BAD, false, err
		}
	}
	if st.control != nil {
		if err := controlSocket(st.control, addr, fd, closeSocketOnly); err != nil {
			return SOCKET_BAD, false, err
		}
	}
	return fd, false, nil
}

// controlSocket runs control on fd, and closes fd with closeFD when control
// refuses it or panics (the panic goes on to the callback's frame).
func controlSocket(control func(network, address string, c syscall.RawConn) error, addr *Sockaddr, fd int, closeFD func(int)) error {
	kept := false
	defer func() {
		if !kept {
			closeFD(fd)
		}
	}()
	err := control(addr.Network(), goAddress(addr), rawConn(fd))
	kept = err == nil
	return err
}

// openWithUser opens the socket addr asks for: with the handle's own
// open-socket callback if it has one, else as libcurl would.
func openWithUser(user OpenSocketFunc, data any, purpose SockType, addr *Sockaddr) (int, error) {
	if user == nil {
		return OpenSocket(addr)
	}
	fd, err := user(data, purpose, addr)
	switch {
	case err != nil:
		return SOCKET_BAD, err
	case fd == SOCKET_BAD:
		return SOCKET_BAD, ErrRefused
	}
	return fd, nil
}

// closeSocketOnly closes fd, a callback's result being refused, if it is a
// socket: (0, nil) from a buggy callback must not close stdin.
func closeSocketOnly(fd int) {
	var st unix.Stat_t
	if socketStat(fd, &st) == nil {
		unix.Close(fd)
	}
}

func (st *socketsState) sockopt(user SockoptFunc, data any, fd int, purpose SockType) (int, error) {
	dialed := false
	// ALREADY_CONNECTED on an accepted FTP data socket aborts the transfer.
	if st.Dialer != nil && purpose == SOCKTYPE_IPCXN {
		st.mu.Lock()
		dialed = st.conns[fd].dialed
		st.mu.Unlock()
	}
	code := SOCKOPT_OK
	err := sock.ApplyOptions(fd, st.Options...)
	if err == nil && user != nil {
		if code, err = user(data, fd, purpose); err == nil && code == SOCKOPT_ERROR {
			err = ErrSockoptFailed
		}
	}
	st.record(sock.TraceEvent{Kind: sock.TraceSockopt, FD: fd, Purpose: purpose, Err: err})
	switch {
	case err != nil:
		return SOCKOPT_ERROR, err
	case dialed && code == SOCKOPT_OK:
		return SOCKOPT_ALREADY_CONNECTED, nil
	}
	return code, nil
}

func (st *socketsState) close(user CloseSocketFunc, data any, fd int) error {
	if st.track {
		st.mu.Lock()
		delete(st.conns, fd)
		st.mu.Unlock()
	}
	var err error
	if user != nil {
		err = user(data, fd)
	} else {
		err = unix.Close(fd)
	}
	st.record(sock.TraceEvent{Kind: sock.TraceClose, FD: fd, Err: err})
	return err
}

// prereq checks the peer of every connection a request is about to use,
// reused ones included: a connection may come from a cache it shares with
// unguarded handles, and then no open-socket callback ever saw it. A
// refusal is traced like one in open.
func (st *socketsState) prereq(primary string, port int) error {
	err := st.failed
	if err == nil && st.Guard != nil {
		var peer string
		if peer, err = st.checkPeer(primary, port); err != nil && st.Trace != nil {
			st.record(sock.TraceEvent{Kind: sock.TraceRefuse, FD: -1, Purpose: SOCKTYPE_IPCXN, Addr: peer, Err: err})
		}
	}
	return err
}

// checkPeer has the guard judge the peer libcurl reports, and returns it as
// the trace shows addresses.
func (st *socketsState) checkPeer(primary string, port int) (string, error) {
	ip, err := netip.ParseAddr(primary)
	if err != nil {
		// libcurl names a unix socket connection by its path, and an
		// abstract one by the empty string (its sun_path starts with NUL).
		if primary == "" {
			if path := st.recorded(func(r connRecord) bool { return r.abstract != "" }).abstract; path != "" {
				primary = path
			}
		}
		return "unix:" + primary, st.Guard.CheckUnix("unix", primary)
	}
	peer := netip.AddrPortFrom(ip, uint16(port))
	if r := st.recorded(func(r connRecord) bool { return r.reported == peer }); r.real.IsValid() {
		peer = r.real
	}
	// "tcp": the family is the address's own, nothing to check it against.
	return peer.String(), st.Guard.Check("tcp", peer)
}

// recorded returns the first of this handle's open sockets whose record
// matches, or a zero record.
func (st *socketsState) recorded(match func(connRecord) bool) connRecord {
	if !st.track {
		return connRecord{}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range st.conns {
		if match(r) {
			return r
		}
	}
	return connRecord{}
}

// isLocalAddr reports whether ip is unspecified, loopback or an address of
// one of this host's interfaces: the addresses libcurl's FTP listen socket
// binds to. Asked only for attempts with port 0.
func isLocalAddr(ip netip.Addr) bool {
	ip = ip.WithZone("").Unmap()
	if ip.IsUnspecified() || ip.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// allOf runs hooks in order, stopping at the first error; nil for none.
func allOf(hooks []func(network, address string, c syscall.RawConn) error) func(network, address string, c syscall.RawConn) error {
	if len(hooks) == 0 {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		for _, f := range hooks {
			if err := f(network, address, c); err != nil {
				return err
			}
		}
		return nil
	}
}

// chainControl returns d, or a copy of d that runs hook after d's own
// Control (or ControlContext) on every socket it dials.
func chainControl(d *net.Dialer, hook func(network, address string, c syscall.RawConn) error) *net.Dialer {
	if hook == nil {
		return d
	}
	c := *d
	control, controlCtx := d.Control, d.ControlContext
	c.Control = nil
	c.ControlContext = func(ctx context.Context, network, address string, rc syscall.RawConn) error {
		var err error
		switch {
		case controlCtx != nil:
			err = controlCtx(ctx, network, address, rc)
		case control != nil:
			err = control(network, address, rc)
		}
		if err != nil {
			return err
		}
		return hook(network, address, rc)
	}
	return &c
}

func (st *socketsState) record(ev sock.TraceEvent) {
	if st.Trace != nil {
		ev.Handle = st.handle
		st.Trace.Record(ev)
	}
}

// goAddress renders addr the way net.Dialer passes it to Control hooks:
// "127.0.0.1:80", "[::1]:443", or a unix socket's path.
func goAddress(addr *Sockaddr) string {
	if addr.Path != "" {
		return addr.Path
	}
	return addr.Addr.String()
}

// FromControl turns a net.Dialer.Control function into an open-socket
// callback: the socket libcurl would open is created, f runs on it as Go's
// dialer runs it before connecting, and an error from f refuses the attempt
// (and closes the socket). Existing Go guards and socket-option setters work
// with libcurl unchanged, with Go's semantics: one call per address attempt.
func FromControl(f func(network, address string, c syscall.RawConn) error) OpenSocketFunc {
	return FromControlContext(context.Background(), func(_ context.Context, network, address string, c syscall.RawConn) error {
		return f(network, address, c)
	})
}

// FromControlContext is FromControl for a net.Dialer.ControlContext function;
// ctx is passed to every call.
func FromControlContext(ctx context.Context, f func(ctx context.Context, network, address string, c syscall.RawConn) error) OpenSocketFunc {
	return func(_ any, _ SockType, addr *Sockaddr) (int, error) {
		return openControlled(addr, func(network, address string, c syscall.RawConn) error {
			return f(ctx, network, address, c)
		})
	}
}

// FromSocketOptions returns a sockopt callback (OPT_SOCKOPTFUNCTION) that
// sets opts, as sock.ApplyOptions does, on every socket libcurl connects or
// accepts. A failure returns SOCKOPT_ERROR with the error, which fails that
// connection attempt (libcurl moves on to the next address) and shows in
// Perform's error. Sockets.Options does the same within an installation.
func FromSocketOptions(opts ...sock.SocketOption) SockoptFunc {
	opts = slices.Clone(opts)
	return func(_ any, fd int, purpose SockType) (int, error) {
		if purpose != SOCKTYPE_IPCXN && purpose != SOCKTYPE_ACCEPT {
			return SOCKOPT_OK, nil
		}
		if err := sock.ApplyOptions(fd, opts...); err != nil {
			return SOCKOPT_ERROR, err
		}
		return SOCKOPT_OK, nil
	}
}

// openControlled opens the socket addr asks for and runs control on it, as
// net.Dialer runs its Control before connecting; an error from control
// closes the socket and refuses the attempt.
func openControlled(addr *Sockaddr, control func(network, address string, c syscall.RawConn) error) (int, error) {
	fd, err := OpenSocket(addr)
	if err != nil {
		return SOCKET_BAD, err
	}
	if err := controlSocket(control, addr, fd, func(fd int) { unix.Close(fd) }); err != nil {
		return SOCKET_BAD, err
	}
	return fd, nil
}

// rawConn is a syscall.RawConn over a socket that is still blocking (libcurl
// makes it non-blocking only after the callbacks), so Read and Write simply
// wait for readiness with poll.
type rawConn int

func (c rawConn) Control(f func(fd uintptr)) error {
	f(uintptr(c))
	return nil
}

func (c rawConn) Read(f func(fd uintptr) bool) error  { return c.wait(f, unix.POLLIN) }
func (c rawConn) Write(f func(fd uintptr) bool) error { return c.wait(f, unix.POLLOUT) }

func (c rawConn) wait(f func(fd uintptr) bool, events int16) error {
	for !f(uintptr(c)) {
		fds := []unix.PollFd{{Fd: int32(c), Events: events}}
		if _, err := unix.Poll(fds, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
	}
	return nil
}

// dialHandover dials with d and returns a duplicate of the connection's
// socket that Go no longer owns: libcurl closes sockets with close() on some
// paths (curl < 8.2), and a Go net.Conn's finalizer must never close a number
// libcurl may have reused.
func dialHandover(d *net.Dialer, network, address string) (int, error) {
	conn, err := d.Dial(network, address)
	if err != nil {
		return SOCKET_BAD, err
	}
	defer conn.Close()
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return SOCKET_BAD, fmt.Errorf("curlsock: %T has no file descriptor to hand over", conn)
	}
	return dupConnFD(sc)
}

// HandOver detaches the socket of a connection dialed by Go, for an
// open-socket callback to return to libcurl together with a sockopt callback
// that answers SOCKOPT_ALREADY_CONNECTED (Sockets.Dialer does both). conn is
// closed: libcurl owns a duplicate of its socket from then on. libcurl
// 7.88.0–7.88.1 cannot take connected sockets (curl #10626): there it fails
// with ErrAlreadyConnectedUnsupported.
func HandOver(conn syscall.Conn) (int, error) {
	if c, ok := conn.(interface{ Close() error }); ok {
		defer c.Close()
	}
	if alreadyConnectedBroken {
		return SOCKET_BAD, fmt.Errorf("%w (libcurl %s)", ErrAlreadyConnectedUnsupported, versionString())
	}
	return dupConnFD(conn)
}

func dupConnFD(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return SOCKET_BAD, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return SOCKET_BAD, err
	}
	if dupErr != nil {
		return SOCKET_BAD, fmt.Errorf("curlsock: dup: %w", dupErr)
	}
	return fd, nil
}
