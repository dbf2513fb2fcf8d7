// Package ftptest provides a small in-memory FTP server for integration
// tests, in the spirit of net/http/httptest.
//
// The server speaks enough of RFC 959, RFC 2428 (EPSV/EPRT) and RFC 3659
// (SIZE/MDTM/REST) for libcurl 7.88 and 8.x in both passive and active mode,
// including several transfers on one reused control connection. It is meant
// to listen on a loopback address only; there is no authentication (any
// USER/PASS is accepted) and it is not hardened against hostile clients,
// although it does refuse to dial data connections to addresses that are
// neither loopback nor the client's own, so it cannot be used as a bounce
// relay.
//
// Transfers are always byte-exact: TYPE A is accepted but no line-ending
// conversion is done, so what a test puts in is what the client gets out.
package ftptest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dataTimeout bounds every wait that depends on the client: accepting or
// dialing a data connection and each read or write on any connection, so a
// misbehaving client cannot wedge a session forever. It is a variable only so
// tests can shorten it; change it only while no Server is running.
var dataTimeout = 10 * time.Second

const (
	// idleTimeout is long because libcurl keeps control connections in its
	// pool between transfers and a test may legitimately pause; Close is the
	// normal way sessions end.
	idleTimeout = 5 * time.Minute

	// maxLine caps a command line so a client cannot make us buffer without
	// limit; real commands are far shorter.
	maxLine = 4096

	chunkSize = 64 << 10
)

// Event is one entry of the server's log. Kinds are:
//
//	"conn"   control connection accepted; Detail is the client address
//	"close"  control connection ended; Detail is the client address
//	"cmd"    command received; Detail is the line without CRLF
//	"reply"  reply sent; Detail is "code text" (last line for multi-line)
//	"pasv"   passive listener opened by PASV/EPSV; Detail is its address
//	"port"   active address announced by PORT/EPRT, e.g. "127.0.0.1:40123"
//	"data"   data connection established; Detail is the client's end
//	"retr", "stor", "appe", "dele", "mkd"
//	         completed operation; Detail is the file name as a key of the
//	         map given to New (no leading slash)
//	"list", "nlst"
//	         completed listing; Detail is the absolute directory or file
//	"error"  a data connection or transfer failed; Detail says why
type Event struct {
	Kind   string
	Detail string
}

func (e Event) String() string { return e.Kind + " " + e.Detail }

type file struct {
	data []byte
	mod  time.Time
}

// Server is an FTP server listening on a loopback address. It serves the
// files it was created with and keeps whatever clients upload.
type Server struct {
	ln     net.Listener
	ctx    context.Context // cancelled by Close to abort active-mode dials
	cancel context.CancelFunc
	start  time.Time
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	files   map[string]file
	dirs    map[string]bool // created by MKD; others exist implicitly
	log     []Event
	nctrl   int
	sockets map[io.Closer]struct{}
}

// New starts a server on 127.0.0.1:0 (falling back to [::1]:0 if IPv4
// loopback is unavailable) serving files, a map from slash-separated names
// such as "hello.txt" or "dir/data.bin" to their content. The map and its
// slices are copied. New panics if it cannot listen.
func New(files map[string][]byte) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = net.Listen("tcp6", "[::1]:0"); err != nil {
			panic(fmt.Sprintf("ftptest: failed to listen on a port: %v", err))
		}
	}
	return NewListener(ln, files)
}

// NewListener starts a server that accepts control connections on ln, which
// should be a TCP listener on a loopback address (for example "[::1]:0").
// Passive data listeners are opened on the local address of each control
// connection. The server takes ownership of ln and closes it in Close.
func NewListener(ln net.Listener, files map[string][]byte) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	now := time.Now().UTC().Truncate(time.Second)
	s := &Server{
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		start:   now,
		files:   make(map[string]file, len(files)),
		dirs:    make(map[string]bool),
		sockets: make(map[io.Closer]struct{}),
	}
	for name, data := range files {
		key := cleanPath(name)
		if key == "" {
			panic(fmt.Sprintf("ftptest: invalid file name %q", name))
		}
		s.files[key] = file{data: bytes.Clone(data), mod: now}
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// Addr returns the control address, e.g. "127.0.0.1:40123" or "[::1]:40123".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns "ftp://" + Addr() + "/".
func (s *Server) URL() string { return "ftp://" + s.Addr() + "/" }

// Log returns a copy of everything logged so far, in order.
func (s *Server) Log() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ControlConns returns the number of control connections accepted so far.
// A connection is counted before its 220 greeting is sent, so once a client
// has read the greeting it is included.
func (s *Server) ControlConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nctrl
}

// File returns a copy of the current content of name (as given to New or
// uploaded with STOR/APPE) and whether it exists.
func (s *Server) File(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[cleanPath(name)]
	if !ok {
		return nil, false
	}
	return bytes.Clone(f.data), true
}

// Close stops accepting, closes every control connection, data connection
// and passive listener, and waits until all of the server's goroutines have
// returned. Clients see their connections drop without a 421 reply. Close is
// idempotent and safe to call concurrently.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.cancel()
		s.ln.Close()
		for c := range s.sockets {
			c.Close()
		}
		clear(s.sockets)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *Server) event(kind, detail string) {
	s.mu.Lock()
	s.log = append(s.log, Event{kind, detail})
	s.mu.Unlock()
}

// track registers a socket so Close can reach it. A socket created after
// Close has swept would otherwise leak, so in that case it is closed here
// and track reports false.
func (s *Server) track(c io.Closer) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.Close()
		return false
	}
	s.sockets[c] = struct{}{}
	s.mu.Unlock()
	return true
}

func (s *Server) untrack(c io.Closer) error {
	s.mu.Lock()
	delete(s.sockets, c)
	s.mu.Unlock()
	return c.Close()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Errors such as EMFILE are transient; net/http backs off the
			// same way rather than giving up on the listener.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if !s.track(c) {
			return
		}
		s.mu.Lock()
		s.nctrl++
		s.mu.Unlock()
		s.event("conn", c.RemoteAddr().String())
		// Add happens while this goroutine is itself counted, so it cannot
		// race with a Wait that has already seen zero.
		s.wg.Add(1)
		go s.serve(c)
	}
}

func cleanPath(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// dirExistsLocked reports whether d (a key without leading slash, "" for the
// root) is a directory: the root, one made by MKD, or a prefix of some file.
func (s *Server) dirExistsLocked(d string) bool {
	if d == "" || s.dirs[d] {
		return true
	}
	prefix := d + "/"
	for k := range s.files {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	for k := range s.dirs {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

var errQuit = errors.New("quit")
var errLineTooLong = errors.New("command line too long")

type session struct {
	s     *Server
	ctrl  net.Conn
	r     *bufio.Reader
	local *net.TCPAddr // nil if the control connection is not TCP
	peer  netip.Addr

	user, login bool
	ascii       bool
	epsvAll     bool
	cwd         string // key form: "" is the root
	rest        int64

	// At most one of these is set: how the next transfer gets its data
	// connection. Each is used for one transfer only, as vsftpd does, so a
	// stale client socket can never be mistaken for a new one.
	pasv *net.TCPListener
	port netip.AddrPort
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	ss := &session{s: s, ctrl: c, r: bufio.NewReaderSize(c, maxLine)}
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		ss.local = a
	}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ss.peer = a.AddrPort().Addr().Unmap()
	}
	defer func() {
		ss.dropData()
		s.untrack(c)
		s.event("close", c.RemoteAddr().String())
	}()
	if ss.reply(220, "ftptest ready.") != nil {
		return
	}
	for {
		line, err := ss.readCommand()
		if errors.Is(err, errLineTooLong) {
			if ss.reply(500, "Command line too long.") != nil {
				return
			}
			continue
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				ss.reply(421, "Timeout.")
			}
			return
		}
		s.event("cmd", line)
		if ss.handle(line) != nil {
			return
		}
	}
}

func (ss *session) readCommand() (string, error) {
	ss.ctrl.SetReadDeadline(time.Now().Add(idleTimeout))
	line, isPrefix, err := ss.r.ReadLine()
	if err != nil {
		return "", err
	}
	if isPrefix {
		for isPrefix && err == nil {
			_, isPrefix, err = ss.r.ReadLine()
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	return string(line), nil
}

var replySanitizer = strings.NewReplacer("\r", " ", "\n", " ")

func (ss *session) reply(code int, text string) error {
	text = replySanitizer.Replace(text)
	ss.s.event("reply", fmt.Sprintf("%d %s", code, text))
	ss.ctrl.SetWriteDeadline(time.Now().Add(dataTimeout))
	_, err := fmt.Fprintf(ss.ctrl, "%d %s\r\n", code, text)
	return err
}

func (ss *session) replyRaw(last, raw string) error {
	ss.s.event("reply", last)
	ss.ctrl.SetWriteDeadline(time.Now().Add(dataTimeout))
	_, err := io.WriteString(ss.ctrl, raw)
	return err
}

// commands maps each implemented verb to whether it is allowed before login.
var commands = map[string]bool{
	"USER": true, "PASS": true, "QUIT": true, "NOOP": true, "SYST": true,
	"FEAT": true, "OPTS": true,
	"PWD": false, "XPWD": false, "CWD": false, "XCWD": false, "CDUP": false,
	"XCUP": false, "TYPE": false, "MODE": false, "STRU": false,
	"EPSV": false, "PASV": false, "EPRT": false, "PORT": false,
	"SIZE": false, "MDTM": false, "REST": false, "RETR": false,
	"STOR": false, "APPE": false, "LIST": false, "NLST": false,
	"MKD": false, "XMKD": false, "DELE": false, "ABOR": false,
}

// handle runs one command; a non-nil error ends the session.
func (ss *session) handle(line string) error {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	preLogin, known := commands[verb]
	switch {
	case verb == "":
		return ss.reply(500, "Syntax error, command unrecognized.")
	case !known:
		return ss.reply(502, "Command not implemented.")
	case !ss.login && !preLogin:
		return ss.reply(530, "Please login with USER and PASS.")
	}

	switch verb {
	case "USER":
		ss.user, ss.login = true, false
		return ss.reply(331, "Please specify the password.")
	case "PASS":
		if !ss.user {
			return ss.reply(503, "Login with USER first.")
		}
		ss.login = true
		return ss.reply(230, "Login successful.")
	case "QUIT":
		ss.reply(221, "Goodbye.")
		return errQuit
	case "NOOP":
		return ss.reply(200, "NOOP ok.")
	case "SYST":
		return ss.reply(215, "UNIX Type: L8")
	case "FEAT":
		return ss.replyRaw("211 End", "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n UTF8\r\n211 End\r\n")
	case "OPTS":
		if strings.EqualFold(strings.TrimSpace(arg), "UTF8 ON") {
			return ss.reply(200, "Always in UTF8 mode.")
		}
		return ss.reply(501, "Option not understood.")
	case "PWD", "XPWD":
		return ss.reply(257, quotePath("/"+ss.cwd)+" is the current directory")
	case "CWD", "XCWD":
		return ss.cwdTo(ss.resolve(arg))
	case "CDUP", "XCUP":
		return ss.cwdTo(ss.resolve(".."))
	case "TYPE":
		switch strings.ToUpper(strings.TrimSpace(arg)) {
		case "I", "L 8":
			ss.ascii = false
			return ss.reply(200, "Switching to Binary mode.")
		case "A", "A N":
			ss.ascii = true
			return ss.reply(200, "Switching to ASCII mode.")
		}
		return ss.reply(504, "Bad TYPE command.")
	case "MODE":
		if strings.EqualFold(strings.TrimSpace(arg), "S") {
			return ss.reply(200, "Mode set to S.")
		}
		return ss.reply(504, "Bad MODE command.")
	case "STRU":
		if strings.EqualFold(strings.TrimSpace(arg), "F") {
			return ss.reply(200, "Structure set to F.")
		}
		return ss.reply(504, "Bad STRU command.")
	case "EPSV":
		return ss.epsv(strings.ToUpper(strings.TrimSpace(arg)))
	case "PASV":
		return ss.pasvCmd()
	case "EPRT":
		return ss.eprt(strings.TrimSpace(arg))
	case "PORT":
		return ss.portCmd(strings.TrimSpace(arg))
	case "SIZE":
		if f, ok := ss.lookup(arg); ok {
			return ss.reply(213, strconv.Itoa(len(f.data)))
		}
		return ss.reply(550, "Could not get file size.")
	case "MDTM":
		if f, ok := ss.lookup(arg); ok {
			return ss.reply(213, f.mod.UTC().Format("20060102150405"))
		}
		return ss.reply(550, "Could not get file modification time.")
	case "REST":
		n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
		if err != nil || n < 0 {
			return ss.reply(501, "Bad REST parameter.")
		}
		ss.rest = n
		return ss.reply(350, fmt.Sprintf("Restart position accepted (%d).", n))
	case "RETR":
		return ss.retr(arg)
	case "STOR", "APPE":
		return ss.stor(verb, arg)
	case "LIST", "NLST":
		return ss.list(verb, arg)
	case "MKD", "XMKD":
		return ss.mkd(arg)
	case "DELE":
		return ss.dele(arg)
	case "ABOR":
		// Transfers run synchronously, so by the time ABOR is read there is
		// nothing left to abort.
		return ss.reply(225, "No transfer to ABOR.")
	}
	panic("ftptest: unhandled command " + verb)
}

func quotePath(p string) string {
	return `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
}

// resolve turns a client path into the key form used by the file map.
func (ss *session) resolve(arg string) string {
	if !strings.HasPrefix(arg, "/") {
		arg = "/" + ss.cwd + "/" + arg
	}
	return cleanPath(arg)
}

func (ss *session) lookup(arg string) (file, bool) {
	if arg == "" {
		return file{}, false
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	f, ok := ss.s.files[ss.resolve(arg)]
	return f, ok
}

func (ss *session) cwdTo(dir string) error {
	ss.s.mu.Lock()
	ok := ss.s.dirExistsLocked(dir)
	ss.s.mu.Unlock()
	if !ok {
		return ss.reply(550, "Failed to change directory.")
	}
	ss.cwd = dir
	return ss.reply(250, "Directory successfully changed.")
}

// dropData forgets any pending PASV/PORT setup and closes its listener.
func (ss *session) dropData() {
	if ss.pasv != nil {
		ss.s.untrack(ss.pasv)
		ss.pasv = nil
	}
	ss.port = netip.AddrPort{}
}

func (ss *session) hasData() bool { return ss.pasv != nil || ss.port.IsValid() }

func (ss *session) listenPassive() (int, error) {
	ss.dropData()
	if ss.local == nil {
		return 0, errors.New("control connection is not TCP")
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ss.local.IP, Zone: ss.local.Zone})
	if err != nil {
		return 0, err
	}
	if !ss.s.track(ln) {
		return 0, net.ErrClosed
	}
	ss.pasv = ln
	addr := ln.Addr().(*net.TCPAddr)
	ss.s.event("pasv", addr.String())
	return addr.Port, nil
}

func (ss *session) epsv(arg string) error {
	v4 := ss.local != nil && ss.local.IP.To4() != nil
	switch arg {
	case "ALL":
		// RFC 2428: after EPSV ALL the client promises to use only EPSV.
		ss.epsvAll = true
		return ss.reply(200, "EPSV ALL ok.")
	case "", "1", "2":
	default:
		return ss.reply(501, "Bad EPSV parameter.")
	}
	if arg == "1" && !v4 {
		return ss.reply(522, "Network protocol not supported, use (2)")
	}
	if arg == "2" && v4 {
		return ss.reply(522, "Network protocol not supported, use (1)")
	}
	port, err := ss.listenPassive()
	if err != nil {
		ss.s.event("error", "passive listen: "+err.Error())
		return ss.reply(425, "Can't open passive connection.")
	}
	return ss.reply(229, fmt.Sprintf("Entering Extended Passive Mode (|||%d|)", port))
}

func (ss *session) pasvCmd() error {
	if ss.epsvAll {
		return ss.reply(501, "PASV not allowed after EPSV ALL.")
	}
	if ss.local == nil || ss.local.IP.To4() == nil {
		// PASV replies can only carry an IPv4 address; libcurl uses EPSV
		// on IPv6 for this reason.
		return ss.reply(425, "PASV needs IPv4; use EPSV.")
	}
	ip := ss.local.IP.To4()
	port, err := ss.listenPassive()
	if err != nil {
		ss.s.event("error", "passive listen: "+err.Error())
		return ss.reply(425, "Can't open passive connection.")
	}
	return ss.reply(227, fmt.Sprintf("Entering Passive Mode (%d,%d,%d,%d,%d,%d).",
		ip[0], ip[1], ip[2], ip[3], port>>8, port&0xff))
}

var errProto = errors.New("unsupported network protocol")

// parseEPRT parses "<d><proto><d><addr><d><port><d>" (RFC 2428), where <d>
// is any printable ASCII character, usually '|'.
func parseEPRT(arg string) (netip.AddrPort, error) {
	if arg == "" || arg[0] < 33 || arg[0] > 126 {
		return netip.AddrPort{}, errors.New("bad delimiter")
	}
	parts := strings.Split(arg, arg[:1])
	if len(parts) != 5 || parts[0] != "" || parts[4] != "" {
		return netip.AddrPort{}, errors.New("bad syntax")
	}
	if parts[1] != "1" && parts[1] != "2" {
		return netip.AddrPort{}, errProto
	}
	addr, err := netip.ParseAddr(parts[2])
	if err != nil {
		return netip.AddrPort{}, err
	}
	if parts[1] == "1" && !addr.Is4() || parts[1] == "2" && !addr.Is6() {
		return netip.AddrPort{}, errors.New("address does not match protocol")
	}
	port, err := strconv.ParseUint(parts[3], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, errors.New("bad port")
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}

// parsePORT parses "h1,h2,h3,h4,p1,p2" (RFC 959).
func parsePORT(arg string) (netip.AddrPort, error) {
	f := strings.Split(arg, ",")
	if len(f) != 6 {
		return netip.AddrPort{}, errors.New("bad syntax")
	}
	var b [6]byte
	for i, s := range f {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 8)
		if err != nil {
			return netip.AddrPort{}, err
		}
		b[i] = byte(n)
	}
	port := uint16(b[4])<<8 | uint16(b[5])
	if port == 0 {
		return netip.AddrPort{}, errors.New("bad port")
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), port), nil
}

// setActive checks and records an active-mode address. Dialing anything but
// the client itself or loopback would make the server an FTP bounce relay.
func (ss *session) setActive(ap netip.AddrPort, verb string) error {
	ss.dropData()
	a := ap.Addr().Unmap()
	if !a.IsLoopback() && a != ss.peer {
		return ss.reply(501, "Illegal "+verb+" command: address is not the client's.")
	}
	ss.port = ap
	ss.s.event("port", ap.String())
	return ss.reply(200, verb+" command successful.")
}

func (ss *session) eprt(arg string) error {
	if ss.epsvAll {
		return ss.reply(501, "EPRT not allowed after EPSV ALL.")
	}
	ap, err := parseEPRT(arg)
	if errors.Is(err, errProto) {
		return ss.reply(522, "Network protocol not supported, use (1,2)")
	}
	if err != nil {
		return ss.reply(501, "Bad EPRT command: "+err.Error()+".")
	}
	return ss.setActive(ap, "EPRT")
}

func (ss *session) portCmd(arg string) error {
	if ss.epsvAll {
		return ss.reply(501, "PORT not allowed after EPSV ALL.")
	}
	ap, err := parsePORT(arg)
	if err != nil {
		return ss.reply(501, "Bad PORT command.")
	}
	return ss.setActive(ap, "PORT")
}

// openData consumes the pending PASV/PORT setup and returns the connected,
// tracked data connection.
func (ss *session) openData() (net.Conn, error) {
	var c net.Conn
	var err error
	switch {
	case ss.pasv != nil:
		ln := ss.pasv
		ss.pasv = nil
		ln.SetDeadline(time.Now().Add(dataTimeout))
		c, err = ln.Accept()
		ss.s.untrack(ln)
	case ss.port.IsValid():
		ap := ss.port
		ss.port = netip.AddrPort{}
		d := net.Dialer{Timeout: dataTimeout}
		c, err = d.DialContext(ss.s.ctx, "tcp", ap.String())
	default:
		return nil, errors.New("no PORT or PASV")
	}
	if err != nil {
		return nil, err
	}
	if !ss.s.track(c) {
		return nil, net.ErrClosed
	}
	ss.s.event("data", c.RemoteAddr().String())
	return c, nil
}

func (ss *session) modeName() string {
	if ss.ascii {
		return "ASCII"
	}
	return "BINARY"
}

// startTransfer sends the preliminary reply and opens the data connection.
// On failure it has already replied 425 and returns a nil conn.
func (ss *session) startTransfer(text string) (net.Conn, error) {
	if err := ss.reply(150, text); err != nil {
		return nil, err
	}
	c, err := ss.openData()
	if err != nil {
		ss.s.event("error", "data connection: "+err.Error())
		return nil, ss.reply(425, "Failed to establish connection.")
	}
	return c, nil
}

func (ss *session) retr(arg string) error {
	rest := ss.rest
	ss.rest = 0
	if arg == "" {
		ss.dropData()
		return ss.reply(501, "RETR needs a file name.")
	}
	name := ss.resolve(arg)
	f, ok := ss.lookup(arg)
	if !ok {
		ss.dropData()
		return ss.reply(550, "Failed to open file.")
	}
	if rest > int64(len(f.data)) {
		ss.dropData()
		return ss.reply(554, "Restart position beyond end of file.")
	}
	if !ss.hasData() {
		return ss.reply(425, "Use PORT or PASV first.")
	}
	data := f.data[rest:]
	// The name is deliberately not echoed: libcurl scans this line for
	// " bytes" to learn the size, and a file name could contain that.
	dc, err := ss.startTransfer(fmt.Sprintf("Opening %s mode data connection (%d bytes).", ss.modeName(), len(data)))
	if dc == nil {
		return err
	}
	err = writeAll(dc, data)
	if cerr := ss.s.untrack(dc); err == nil {
		err = cerr
	}
	if err != nil {
		ss.s.event("error", "RETR "+name+": "+err.Error())
		return ss.reply(426, "Failure writing network stream.")
	}
	ss.s.event("retr", name)
	return ss.reply(226, "Transfer complete.")
}

func (ss *session) stor(verb, arg string) error {
	rest := ss.rest
	ss.rest = 0
	if arg == "" {
		ss.dropData()
		return ss.reply(501, verb+" needs a file name.")
	}
	name := ss.resolve(arg)
	ss.s.mu.Lock()
	old, exists := ss.s.files[name]
	ok := name != "" && !ss.s.dirExistsLocked(name) && ss.s.dirExistsLocked(cleanPath(path.Dir("/"+name)))
	ss.s.mu.Unlock()
	if !ok {
		ss.dropData()
		return ss.reply(553, "Could not create file.")
	}
	if verb == "STOR" && rest > 0 && (!exists || rest > int64(len(old.data))) {
		ss.dropData()
		return ss.reply(554, "Restart position beyond end of file.")
	}
	if !ss.hasData() {
		return ss.reply(425, "Use PORT or PASV first.")
	}
	dc, err := ss.startTransfer("Ok to send data.")
	if dc == nil {
		return err
	}
	data, err := readAll(dc)
	ss.s.untrack(dc)
	if err != nil {
		// A partial upload is discarded so tests never see half a file.
		ss.s.event("error", verb+" "+name+": "+err.Error())
		return ss.reply(426, "Failure reading network stream.")
	}
	ss.s.mu.Lock()
	cur := ss.s.files[name].data
	switch {
	case verb == "APPE":
		data = slices.Concat(cur, data)
	case rest > 0:
		data = slices.Concat(cur[:min(rest, int64(len(cur)))], data)
	}
	ss.s.files[name] = file{data: data, mod: time.Now().UTC().Truncate(time.Second)}
	ss.s.mu.Unlock()
	ss.s.event(strings.ToLower(verb), name)
	return ss.reply(226, "Transfer complete.")
}

func (ss *session) list(verb, arg string) error {
	// Clients commonly send "LIST -a" or "LIST -al dir"; ls-style options
	// are meaningless here, so drop them.
	arg = strings.TrimSpace(arg)
	for strings.HasPrefix(arg, "-") {
		_, arg, _ = strings.Cut(arg, " ")
		arg = strings.TrimSpace(arg)
	}
	target := ss.resolve(arg)
	nlst := verb == "NLST"
	now := time.Now()

	var buf bytes.Buffer
	ss.s.mu.Lock()
	if f, ok := ss.s.files[target]; ok {
		writeEntry(&buf, nlst, path.Base(target), len(f.data), f.mod, false, now)
	} else if ss.s.dirExistsLocked(target) {
		prefix := ""
		if target != "" {
			prefix = target + "/"
		}
		type entry struct {
			size int
			mod  time.Time
			dir  bool
		}
		entries := map[string]entry{}
		for k, f := range ss.s.files {
			if rel, ok := strings.CutPrefix(k, prefix); ok {
				if d, _, isSub := strings.Cut(rel, "/"); isSub {
					entries[d] = entry{mod: ss.s.start, dir: true}
				} else {
					entries[rel] = entry{size: len(f.data), mod: f.mod}
				}
			}
		}
		for k := range ss.s.dirs {
			if rel, ok := strings.CutPrefix(k, prefix); ok && rel != "" {
				d, _, _ := strings.Cut(rel, "/")
				entries[d] = entry{mod: ss.s.start, dir: true}
			}
		}
		names := make([]string, 0, len(entries))
		for n := range entries {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			e := entries[n]
			writeEntry(&buf, nlst, n, e.size, e.mod, e.dir, now)
		}
	} else {
		ss.s.mu.Unlock()
		ss.dropData()
		// 450 rather than 550: libcurl treats 450 on LIST as an empty
		// listing instead of an error, as with proftpd.
		return ss.reply(450, "No such file or directory.")
	}
	ss.s.mu.Unlock()

	if !ss.hasData() {
		return ss.reply(425, "Use PORT or PASV first.")
	}
	dc, err := ss.startTransfer("Here comes the directory listing.")
	if dc == nil {
		return err
	}
	err = writeAll(dc, buf.Bytes())
	if cerr := ss.s.untrack(dc); err == nil {
		err = cerr
	}
	if err != nil {
		ss.s.event("error", verb+" /"+target+": "+err.Error())
		return ss.reply(426, "Failure writing network stream.")
	}
	ss.s.event(strings.ToLower(verb), "/"+target)
	return ss.reply(226, "Directory send OK.")
}

// writeEntry writes one line in the "ls -l" form that libcurl's wildcard
// parser and most FTP clients understand, or just the name for NLST.
func writeEntry(w io.Writer, nlst bool, name string, size int, mod time.Time, dir bool, now time.Time) {
	if nlst {
		fmt.Fprintf(w, "%s\r\n", name)
		return
	}
	mode, links := "-rw-r--r--", 1
	if dir {
		mode, links = "drwxr-xr-x", 2
	}
	date := mod.Format("Jan _2  2006")
	if age := now.Sub(mod); age < 180*24*time.Hour && age > -24*time.Hour {
		date = mod.Format("Jan _2 15:04")
	}
	fmt.Fprintf(w, "%s %4d ftp      ftp      %12d %s %s\r\n", mode, links, size, date, name)
}

func (ss *session) mkd(arg string) error {
	name := ss.resolve(arg)
	ss.s.mu.Lock()
	_, isFile := ss.s.files[name]
	ok := arg != "" && name != "" && !isFile && !ss.s.dirExistsLocked(name) &&
		ss.s.dirExistsLocked(cleanPath(path.Dir("/"+name)))
	if ok {
		ss.s.dirs[name] = true
	}
	ss.s.mu.Unlock()
	if !ok {
		return ss.reply(550, "Create directory operation failed.")
	}
	ss.s.event("mkd", name)
	return ss.reply(257, quotePath("/"+name)+" created")
}

func (ss *session) dele(arg string) error {
	name := ss.resolve(arg)
	ss.s.mu.Lock()
	_, ok := ss.s.files[name]
	if ok && arg != "" {
		delete(ss.s.files, name)
	}
	ss.s.mu.Unlock()
	if !ok || arg == "" {
		return ss.reply(550, "Delete operation failed.")
	}
	ss.s.event("dele", name)
	return ss.reply(250, "Delete operation successful.")
}

// writeAll writes in chunks so the deadline bounds a stall, not the whole
// transfer of a large file.
func writeAll(c net.Conn, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), chunkSize)
		c.SetWriteDeadline(time.Now().Add(dataTimeout))
		if _, err := c.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func readAll(c net.Conn) ([]byte, error) {
	var buf bytes.Buffer
	p := make([]byte, chunkSize)
	for {
		c.SetReadDeadline(time.Now().Add(dataTimeout))
		n, err := c.Read(p)
		buf.Write(p[:n])
		if err == io.EOF {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
	}
}
