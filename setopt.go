//go:build linux

package curl

/*
#include "callbacks.h"
*/
import "C"

import (
	"fmt"
	"slices"
)

// Setopt, by option kind: socket callbacks, data callbacks, the options a
// Sockets installation governs (install.go), and every other option by
// libcurl's own type (options.go).

// Setopt sets an option (curl_easy_setopt). The callback options take Go
// functions:
//
//	OPT_OPENSOCKETFUNCTION   OpenSocketFunc, or func(any, SockType, *Sockaddr) (int, error)
//	OPT_SOCKOPTFUNCTION      SockoptFunc, or func(any, int, SockType) (int, error)
//	OPT_CLOSESOCKETFUNCTION  CloseSocketFunc, or func(any, int) error
//	OPT_PREREQFUNCTION       PrereqFunc
//	OPT_WRITEFUNCTION, OPT_HEADERFUNCTION, OPT_READFUNCTION, OPT_PROGRESSFUNCTION  as in go-curl
//	OPT_*DATA, OPT_PRIVATE   any value, kept in Go and passed to the callback
//
// Other options take what go-curl's take — int or bool for numbers, string
// for strings, []string for lists — plus int64 for off_t options, []byte for
// blobs and *CURLSH for OPT_SHARE. nil removes a callback or resets an
// option. A value libcurl cannot be given safely is refused with an error
// wrapping ErrOptionType, never a panic.
func (e *CURL) Setopt(opt int, param any) error {
	h := e.reg
	if h.isCleaned() {
		return ErrHandleClosed
	}
	if err := h.busy(); err != nil {
		return err
	}
	h.raise()
	if done, err := e.setSocketCallback(opt, param); done {
		return err
	}
	if done, err := e.setDataCallback(opt, param); done {
		return err
	}
	if done, err := e.setGoverned(opt, param); done {
		return err
	}
	err := e.setByType(opt, param)
	switch {
	case err != nil:
	case opt == OPT_URL:
		// An Engine sends a transfer to the shard of its origin.
		h.mu.Lock()
		h.opts.url, _ = param.(string)
		h.mu.Unlock()
	case opt == OPT_CONNECT_ONLY:
		h.mu.Lock()
		n, _ := asInt64(param)
		on, _ := param.(bool)
		h.opts.connectOnly = n != 0 || on
		h.mu.Unlock()
	}
	return err
}

// setSocketCallback sets the socket callbacks and their data (prereq
// included), composed with the handle's Sockets installation.
func (e *CURL) setSocketCallback(opt int, param any) (bool, error) {
	h := e.reg
	switch opt {
	case OPT_OPENSOCKETFUNCTION:
		fn, err := asOpenSocketFunc(param)
		if err != nil {
			return true, err
		}
		h.mu.Lock()
		if inst := h.settings().inst; fn != nil && inst != nil && inst.Dialer != nil {
			h.mu.Unlock()
			return true, fmt.Errorf("%w: the handle's Sockets.Dialer makes its sockets; an open-socket callback cannot too", ErrInstallConflict)
		}
		h.changeLocked(func(s *callbackSettings) { s.open = fn })
		h.mu.Unlock()
	case OPT_OPENSOCKETDATA:
		h.change(func(s *callbackSettings) { s.openData = param })
		return true, nil
	case OPT_SOCKOPTFUNCTION:
		fn, err := asSockoptFunc(param)
		if err != nil {
			return true, err
		}
		h.change(func(s *callbackSettings) { s.sockopt = fn })
	case OPT_SOCKOPTDATA:
		h.change(func(s *callbackSettings) { s.sockoptData = param })
		return true, nil
	case OPT_CLOSESOCKETFUNCTION:
		fn, err := asCloseSocketFunc(param)
		if err != nil {
			return true, err
		}
		return true, e.setCloser(func(s *callbackSettings) { s.closeFn = fn })
	case OPT_CLOSESOCKETDATA:
		return true, e.setCloser(func(s *callbackSettings) { s.closeData = param })
	case C.CURLOPT_PREREQFUNCTION:
		var fn PrereqFunc
		switch f := param.(type) {
		case nil:
		case PrereqFunc:
			fn = f
		case func(any, string, string, int, int) error:
			fn = f
		default:
			return true, fmt.Errorf("%w: CURLOPT_PREREQFUNCTION takes a PrereqFunc, not %T", ErrOptionType, param)
		}
		h.change(func(s *callbackSettings) { s.prereq = fn })
	case C.CURLOPT_PREREQDATA:
		h.change(func(s *callbackSettings) { s.prereqData = param })
		return true, nil
	default:
		return false, nil
	}
	return true, e.install()
}

// setCloser applies change to the close-socket settings. libcurl copies the
// function and its data into each connection it creates, so a change never
// mutates the registration those connections hold: it makes a new one.
func (e *CURL) setCloser(change func(s *callbackSettings)) error {
	h := e.reg
	var old *closeReg
	busy := false
	h.mu.Lock()
	h.changeLocked(func(s *callbackSettings) {
		change(s)
		old, s.closer = s.closer, nil
		switch {
		case s.inst != nil:
			s.closer = newCloseReg(s.inst.closeFunc(s.closeFn), s.closeData, h.id)
		case s.closeFn != nil:
			s.closer = newCloseReg(s.closeFn, s.closeData, h.id)
		}
		// A transfer under way (in a multi, or a callback changing the
		// option mid-Perform) may have created a connection that holds the
		// old id but has no socket yet: keep the old registration until it
		// is idle, and as long as any socket opened meanwhile (chargeFD's
		// also).
		busy = old != nil && (h.multi != nil || h.performing || h.active != nil)
		if busy {
			s.retired = append(slices.Clip(s.retired), old)
		}
	})
	h.mu.Unlock()
	err := e.install()
	if !busy {
		unsetCloser(old)
	}
	return err
}

// releaseRetired drops the registrations kept by setCloser, once no transfer
// of the handle is under way.
func (h *handleReg) releaseRetired() {
	var retired []*closeReg
	h.mu.Lock()
	if len(h.settings().retired) > 0 {
		h.changeLocked(func(s *callbackSettings) { retired, s.retired = s.retired, nil })
	}
	h.mu.Unlock()
	for _, c := range retired {
		unsetCloser(c)
	}
}

// install hands libcurl the socket trampolines the current settings need.
// The open-socket trampoline is installed whenever any socket callback is:
// the sockets a close-socket callback will be asked to close must be
// accounted for, and a sockopt error names the address the socket was
// opened for.
func (e *CURL) install() error {
	h := e.reg
	s := h.settings()
	open := s.runOpen != nil || s.runSockopt != nil || s.closer != nil
	sockopt := s.runSockopt != nil
	prereq := s.runPrereq != nil
	var closeID uintptr
	if s.closer != nil {
		closeID = s.closer.id
	}
	p := e.handle()
	var ids [3]uintptr
	if open {
		ids[0] = h.id
	}
	if sockopt {
		ids[1] = h.id
	}
	ids[2] = closeID
	return firstErr(
		C.curlsock_setopt_id(p, C.CURLOPT_OPENSOCKETDATA, C.uintptr_t(ids[0])),
		C.curlsock_set_opensocket(p, cbool(open)),
		C.curlsock_setopt_id(p, C.CURLOPT_SOCKOPTDATA, C.uintptr_t(ids[1])),
		C.curlsock_set_sockopt(p, cbool(sockopt)),
		C.curlsock_setopt_id(p, C.CURLOPT_CLOSESOCKETDATA, C.uintptr_t(ids[2])),
		C.curlsock_set_closesocket(p, cbool(closeID != 0)),
		C.curlsock_set_prereq(p, cbool(prereq), C.uintptr_t(h.id)),
	)
}

// setDataCallback sets go-curl's data callbacks and the Go values passed to
// them (and OPT_PRIVATE), which stay in Go: libcurl gets trampolines and ids.
func (e *CURL) setDataCallback(opt int, param any) (bool, error) {
	h := e.reg
	switch opt {
	case OPT_WRITEFUNCTION, OPT_HEADERFUNCTION:
		var fn func([]byte, any) bool
		switch f := param.(type) {
		case nil:
		case func([]byte, any) bool:
			fn = f
		default:
			return true, optionTypeError(opt, "func([]byte, interface{}) bool", param)
		}
		h.mu.Lock()
		if opt == OPT_WRITEFUNCTION {
			h.opts.write = fn
		} else {
			h.opts.header = fn
		}
		h.mu.Unlock()
		return true, e.installData()
	case OPT_READFUNCTION:
		var fn func([]byte, any) int
		switch f := param.(type) {
		case nil:
		case func([]byte, any) int:
			fn = f
		default:
			return true, optionTypeError(opt, "func([]byte, interface{}) int", param)
		}
		h.mu.Lock()
		h.opts.read = fn
		h.mu.Unlock()
		return true, e.installData()
	case OPT_PROGRESSFUNCTION:
		var fn func(float64, float64, float64, float64, any) bool
		switch f := param.(type) {
		case nil:
		case func(float64, float64, float64, float64, any) bool:
			fn = f
		default:
			return true, optionTypeError(opt, "func(float64, float64, float64, float64, interface{}) bool", param)
		}
		h.mu.Lock()
		h.opts.progress = fn
		h.mu.Unlock()
		return true, e.installData()
	case OPT_WRITEDATA, OPT_HEADERDATA, OPT_READDATA, OPT_PROGRESSDATA, OPT_PRIVATE:
		// Go values stay in Go: the callbacks get them from the registration.
		h.mu.Lock()
		switch opt {
		case OPT_WRITEDATA:
			h.opts.writeData = param
		case OPT_HEADERDATA:
			h.opts.headerData = param
		case OPT_READDATA:
			h.opts.readData = param
		case OPT_PROGRESSDATA:
			h.opts.progressData = param
		case OPT_PRIVATE:
			h.opts.private = param
		}
		h.mu.Unlock()
		return true, nil
	}
	return false, nil
}

// installData hands libcurl the data callback trampolines the current
// settings need. It is separate from install so that setting a data callback
// on a handle duplicated behind curlsock's back leaves its socket callback
// ids alone: they fail closed rather than silently disappear.
func (e *CURL) installData() error {
	h := e.reg
	h.mu.Lock()
	sink := h.opts.sink != nil
	write, header := h.opts.write != nil || sink, h.opts.header != nil || sink
	read, progress := h.opts.read != nil || sink, h.opts.progress != nil
	h.mu.Unlock()
	p, id := e.handle(), C.uintptr_t(h.id)
	return firstErr(
		C.curlsock_set_write(p, cbool(write), id),
		C.curlsock_set_header(p, cbool(header), id),
		C.curlsock_set_read(p, cbool(read), id),
		C.curlsock_set_seek(p, cbool(sink), id),
		C.curlsock_set_progress(p, cbool(progress), id),
	)
}

func firstErr(rcs ...C.CURLcode) error {
	for _, rc := range rcs {
		if rc != C.CURLE_OK {
			return CurlError(rc)
		}
	}
	return nil
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func asOpenSocketFunc(param any) (OpenSocketFunc, error) {
	switch f := param.(type) {
	case nil:
		return nil, nil
	case OpenSocketFunc:
		return f, nil
	case func(any, SockType, *Sockaddr) (int, error):
		return f, nil
	}
	return nil, fmt.Errorf("%w: CURLOPT_OPENSOCKETFUNCTION takes an OpenSocketFunc, not %T", ErrOptionType, param)
}

func asSockoptFunc(param any) (SockoptFunc, error) {
	switch f := param.(type) {
	case nil:
		return nil, nil
	case SockoptFunc:
		return f, nil
	case func(any, int, SockType) (int, error):
		return f, nil
	}
	return nil, fmt.Errorf("%w: CURLOPT_SOCKOPTFUNCTION takes a SockoptFunc, not %T", ErrOptionType, param)
}

func asCloseSocketFunc(param any) (CloseSocketFunc, error) {
	switch f := param.(type) {
	case nil:
		return nil, nil
	case CloseSocketFunc:
		return f, nil
	case func(any, int) error:
		return f, nil
	}
	return nil, fmt.Errorf("%w: CURLOPT_CLOSESOCKETFUNCTION takes a CloseSocketFunc, not %T", ErrOptionType, param)
}
