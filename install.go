//go:build linux

package curl

/*
#include <stdlib.h>
#include "callbacks.h"
*/
import "C"

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unsafe"
)

// How a Sockets installation lives on a handle (see Sockets.Install): the
// handle keeps the installation apart from its own callbacks and composes
// the two whenever either changes, and it keeps the values the user gave the
// options an installation governs, so that the installation can be replaced
// or removed without losing them.

// governed holds the user's values of the options an installation also sets.
type governed struct {
	protocols, redirProtocols optValue // lists or bitmasks, as the user set them
	proxy                     optValue
}

// optValue is an option as the user set it; !set for libcurl's default. A
// protocol bitmask is kept as given (isMask, mask) and also by its names.
type optValue struct {
	set    bool
	value  string
	isMask bool
	mask   int64
}

// hasOpenFunc reports whether the handle has an open-socket callback of its own.
func (h *handleReg) hasOpenFunc() bool {
	return h.settings().open != nil
}

// setInstallation makes st the handle's installation, replacing any other.
func (e *CURL) setInstallation(st *socketsState) error {
	e.reg.change(func(s *callbackSettings) { s.inst = st })
	return e.applyInstallation()
}

// failInstallation leaves the handle refusing every transfer after Install
// failed with err: a security control that cannot be installed as asked
// must not leave the handle as if it had never been asked.
func (e *CURL) failInstallation(err error) {
	h := e.reg
	st := &socketsState{handle: h.seq, failed: fmt.Errorf("%w: %w", ErrInstallFailed, err), protocols: []string{}}
	h.change(func(s *callbackSettings) { s.inst = st })
	// Perform and AddHandle refuse by themselves; these make libcurl refuse
	// too, should it be driven behind curlsock's back (go-curl's multi).
	_ = e.applyInstallation()
}

// Uninstall removes what Sockets.Install put on the handle, a failed
// installation's refusal included: the handle's own callbacks and options
// are as if Install had never run. Connections made under the installation
// still close through it.
//
// It returns ErrHandleBusy while the handle is in a transfer (Perform, a
// multi, Do, PerformContext), also from its own callbacks: the connections
// still to come would lose the guard mid-transfer.
func (e *CURL) Uninstall() error {
	h := e.reg
	release, err := h.claimIdle()
	if err != nil {
		return err
	}
	defer release()
	h.change(func(s *callbackSettings) { s.inst = nil })
	return e.applyInstallation()
}

// applyInstallation sets every libcurl option that depends on the
// installation: the trampolines with the composed callbacks (setCloser
// installs them), the protocols and the proxy.
func (e *CURL) applyInstallation() error {
	if err := e.setCloser(func(*callbackSettings) {}); err != nil {
		return err
	}
	return e.applyGoverned(govAll)
}

// What applyGoverned sets.
type governedOpts uint8

const (
	govProtocols governedOpts = 1 << iota
	govRedirProtocols
	govProxy
	govAll = govProtocols | govRedirProtocols | govProxy
)

// applyGoverned sets the options in which from the user's values and the
// installation's. Only those: a handle without an installation keeps what
// the user set, in the form the user set it.
func (e *CURL) applyGoverned(which governedOpts) error {
	h := e.reg
	h.mu.Lock()
	g := h.governed
	h.mu.Unlock()
	var protocols []string
	guarded := false
	if inst := h.settings().inst; inst != nil {
		protocols, guarded = inst.protocols, inst.Guard != nil
	}
	if which&govProtocols != 0 {
		if err := e.setProtocols(C.CURLOPT_PROTOCOLS_STR, protocols, g.protocols); err != nil {
			return err
		}
	}
	if which&govRedirProtocols != 0 {
		if err := e.setProtocols(C.CURLOPT_REDIR_PROTOCOLS_STR, protocols, g.redirProtocols); err != nil {
			return err
		}
	}
	if which&govProxy == 0 {
		return nil
	}
	proxy, set := g.proxy.value, g.proxy.set
	if guarded && !set {
		// "": no proxy, and none from the environment.
		set = true
	}
	return e.setString(C.CURLOPT_PROXY, proxy, set)
}

// defaultRedirProtocols is libcurl's CURLOPT_REDIR_PROTOCOLS default
// (CURLPROTO_REDIR, since 7.65.2), and its names.
const (
	defaultRedirProtocols      = C.CURLPROTO_HTTP | C.CURLPROTO_HTTPS | C.CURLPROTO_FTP | C.CURLPROTO_FTPS
	defaultRedirProtocolsNames = "http,https,ftp,ftps"
)

// setProtocols sets a protocol option (opt is the _STR one) to the user's
// value narrowed to the installation's list inst (nil: no limit). Without a
// limit the user's value goes to libcurl as given; a list that allows
// nothing goes as a bitmask, the one form libcurl takes it in.
func (e *CURL) setProtocols(opt C.CURLoption, inst []string, user optValue) error {
	long := C.CURLoption(C.CURLOPT_PROTOCOLS)
	def, defNames := int64(C.CURLPROTO_ALL), "all"
	if opt == C.CURLOPT_REDIR_PROTOCOLS_STR {
		long, def, defNames = C.CURLOPT_REDIR_PROTOCOLS, defaultRedirProtocols, defaultRedirProtocolsNames
	}
	p := e.handle()
	switch {
	case inst == nil && !user.set:
		return curlErr(C.curlsock_setopt_long(p, long, C.long(def)))
	case inst == nil && user.isMask:
		return curlErr(C.curlsock_setopt_long(p, long, C.long(user.mask)))
	case inst == nil:
		return e.setProtocolList(opt, user.value)
	}
	want := defNames
	if user.set {
		want = user.value
	}
	list := narrowProtocols(inst, protocolSet(want))
	if len(list) == 0 {
		return curlErr(C.curlsock_setopt_long(p, long, 0))
	}
	return e.setProtocolList(opt, strings.Join(list, ","))
}

func (e *CURL) setProtocolList(opt C.CURLoption, list string) error {
	if err := e.setString(opt, list, true); err != nil {
		return fmt.Errorf("curlsock: %s %q: %w", optionName(int(opt)), list, err)
	}
	return nil
}

// narrowProtocols is want narrowed to inst.
func narrowProtocols(inst, want []string) []string {
	if slices.Contains(want, "all") {
		return inst
	}
	var both []string
	for _, p := range want {
		if slices.Contains(inst, p) {
			both = append(both, p)
		}
	}
	return both
}

// protocolSet splits a CURLOPT_PROTOCOLS_STR value into lower-case names.
func protocolSet(list string) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// setGoverned takes a user's value for an option the installation also
// sets, refuses it if it would reopen what the installation closed, and
// applies what the handle may then use.
func (e *CURL) setGoverned(opt int, param any) (bool, error) {
	var v optValue
	switch opt {
	case OPT_PROTOCOLS_STR, OPT_REDIR_PROTOCOLS_STR, OPT_PROXY:
		switch t := param.(type) {
		case nil:
		case string:
			v = optValue{set: true, value: t}
		case CurlString:
			v = optValue{set: true, value: C.GoString((*C.char)(unsafe.Pointer(t)))}
		default:
			return true, optionTypeError(opt, "a string", param)
		}
	case OPT_PROTOCOLS, OPT_REDIR_PROTOCOLS:
		mask, ok := asInt64(param)
		if !ok {
			return true, optionTypeError(opt, "an integer (PROTO_* bits)", param)
		}
		if param != nil {
			v = optValue{set: true, value: protocolNames(mask), isMask: true, mask: mask}
		}
	default:
		return false, nil
	}
	h := e.reg
	inst := h.settings().inst
	if opt != OPT_PROXY && inst != nil && inst.protocols != nil && v.set {
		for _, p := range protocolSet(v.value) {
			if !slices.Contains(inst.protocols, p) {
				return true, fmt.Errorf("%w: %s would allow %q, which the handle's Sockets installation closes (it allows %s)",
					ErrInstallConflict, optionName(opt), p, strings.Join(inst.protocols, ","))
			}
		}
	}
	h.mu.Lock()
	old := h.governed
	var which governedOpts
	switch opt {
	case OPT_PROTOCOLS_STR, OPT_PROTOCOLS:
		h.governed.protocols, which = v, govProtocols
	case OPT_REDIR_PROTOCOLS_STR, OPT_REDIR_PROTOCOLS:
		h.governed.redirProtocols, which = v, govRedirProtocols
	case OPT_PROXY:
		h.governed.proxy, which = v, govProxy
	}
	h.mu.Unlock()
	err := e.applyGoverned(which)
	if err != nil {
		// libcurl refused the value (a protocol it does not know): the
		// handle keeps what it had.
		h.mu.Lock()
		h.governed = old
		h.mu.Unlock()
		_ = e.applyGoverned(which)
	}
	return true, err
}

func asInt64(param any) (int64, bool) {
	switch t := param.(type) {
	case nil:
		return 0, true
	case int:
		return int64(t), true
	case int32:
		return int64(t), true
	case int64:
		return t, true
	case uint32:
		return int64(t), true
	}
	return 0, false
}

// protoBits are libcurl 7.88's CURLPROTO_* bits and the names
// CURLOPT_PROTOCOLS_STR takes for them.
var protoBits = []struct {
	bit  int64
	name string
}{
	{C.CURLPROTO_HTTP, "http"}, {C.CURLPROTO_HTTPS, "https"}, {C.CURLPROTO_FTP, "ftp"}, {C.CURLPROTO_FTPS, "ftps"},
	{C.CURLPROTO_SCP, "scp"}, {C.CURLPROTO_SFTP, "sftp"}, {C.CURLPROTO_TELNET, "telnet"}, {C.CURLPROTO_LDAP, "ldap"},
	{C.CURLPROTO_LDAPS, "ldaps"}, {C.CURLPROTO_DICT, "dict"}, {C.CURLPROTO_FILE, "file"}, {C.CURLPROTO_TFTP, "tftp"},
	{C.CURLPROTO_IMAP, "imap"}, {C.CURLPROTO_IMAPS, "imaps"}, {C.CURLPROTO_POP3, "pop3"}, {C.CURLPROTO_POP3S, "pop3s"},
	{C.CURLPROTO_SMTP, "smtp"}, {C.CURLPROTO_SMTPS, "smtps"}, {C.CURLPROTO_RTSP, "rtsp"}, {C.CURLPROTO_RTMP, "rtmp"},
	{C.CURLPROTO_RTMPT, "rtmpt"}, {C.CURLPROTO_RTMPE, "rtmpe"}, {C.CURLPROTO_RTMPTE, "rtmpte"}, {C.CURLPROTO_RTMPS, "rtmps"},
	{C.CURLPROTO_RTMPTS, "rtmpts"}, {C.CURLPROTO_GOPHER, "gopher"}, {C.CURLPROTO_SMB, "smb"}, {C.CURLPROTO_SMBS, "smbs"},
	{C.CURLPROTO_MQTT, "mqtt"}, {C.CURLPROTO_GOPHERS, "gophers"},
}

// protocolNames turns a CURLOPT_PROTOCOLS bitmask into the names of
// CURLOPT_PROTOCOLS_STR: "all" for every bit.
func protocolNames(mask int64) string {
	if mask == C.CURLPROTO_ALL || uint32(mask) == math.MaxUint32 {
		return "all"
	}
	var names []string
	for _, p := range protoBits {
		if mask&p.bit != 0 {
			names = append(names, p.name)
		}
	}
	return strings.Join(names, ",")
}
