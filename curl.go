//go:build linux

// Package curl is a superset of github.com/andelf/go-curl that adds libcurl's
// socket callbacks — CURLOPT_OPENSOCKETFUNCTION, CURLOPT_SOCKOPTFUNCTION and
// CURLOPT_CLOSESOCKETFUNCTION, with their *DATA options — as Go closures.
//
// A go-curl program changes only its import path:
//
//	import curl "github.com/curlsock/curlsock"
//
// and can then refuse, rewrite, configure and account for every socket libcurl
// opens:
//
//	easy := curl.EasyInit()
//	defer easy.Cleanup()
//	easy.Setopt(curl.OPT_URL, "http://example.com/")
//	easy.Setopt(curl.OPT_OPENSOCKETFUNCTION, func(_ any, _ curl.SockType, addr *curl.Sockaddr) (int, error) {
//		addr.Addr = netip.MustParseAddrPort("127.0.0.1:8080") // connect here instead
//		return curl.OpenSocket(addr)
//	})
//	err := easy.Perform()
//
// The socket policy — the destination guard, the rewrite table, socket
// options, the trace, and Sockaddr itself — is package
// github.com/curlsock/curlsock/sock, which needs neither cgo nor libcurl and
// serves Go's net.Dialer too. Sockets composes its pieces on a handle.
//
// # Lifetime
//
// libcurl copies the close-socket function and its data into every connection
// it creates and may call it long after the easy handle that set it was
// cleaned up: from a multi handle's or a share's connection cache, or from a
// duplicate. curlsock therefore never gives libcurl a Go pointer: each
// callback's clientp is an integer registration id, and a close-socket
// registration lives as long as a handle has it set or a socket it may be
// asked to close is open. A close the binding cannot attribute still closes
// the file descriptor; an open or sockopt it cannot attribute fails closed.
//
// # Errors and panics
//
// When a transfer fails and callbacks returned errors during it, Perform
// returns an *Error that matches both libcurl's code and every callback error
// with errors.Is. A panic in a callback is recovered, the rest of that call's
// callbacks fail without running Go code, and the panic is raised again, with
// its original value, from the curlsock call that drove libcurl (Perform,
// Cleanup, ...) once libcurl has returned.
package curl

/*
#cgo pkg-config: libcurl
// Our own C uses CURLOPT_PROGRESSFUNCTION for go-curl compatibility.
#cgo CFLAGS: -DCURL_DISABLE_DEPRECATION
#include <curl/curl.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"

	gocurl "github.com/andelf/go-curl"
)

// CurlError is go-curl's error type: a libcurl CURLcode. Perform returns it
// unchanged when no callback error is involved, so err.(curl.CurlError) keeps
// working; callback failures come as *Error, which matches it with errors.Is.
type CurlError = gocurl.CurlError

// The socket callback options (go-curl lacks the OPENSOCKET and CLOSESOCKET
// ones, and panics on all of them).
const (
	OPT_OPENSOCKETFUNCTION  = C.CURLOPT_OPENSOCKETFUNCTION
	OPT_OPENSOCKETDATA      = C.CURLOPT_OPENSOCKETDATA
	OPT_SOCKOPTFUNCTION     = C.CURLOPT_SOCKOPTFUNCTION
	OPT_SOCKOPTDATA         = C.CURLOPT_SOCKOPTDATA
	OPT_CLOSESOCKETFUNCTION = C.CURLOPT_CLOSESOCKETFUNCTION
	OPT_CLOSESOCKETDATA     = C.CURLOPT_CLOSESOCKETDATA
)

// SOCKET_BAD is what an open-socket callback returns to refuse a connection
// attempt (CURL_SOCKET_BAD). libcurl then tries the next address, and fails
// the transfer with E_COULDNT_CONNECT when none is left.
const SOCKET_BAD = C.CURL_SOCKET_BAD

// Sockopt callback results.
const (
	SOCKOPT_OK    = C.CURL_SOCKOPT_OK
	SOCKOPT_ERROR = C.CURL_SOCKOPT_ERROR // the attempt fails with E_ABORTED_BY_CALLBACK
	// SOCKOPT_ALREADY_CONNECTED tells libcurl that the socket returned by the
	// open-socket callback is connected already. Valid for SOCKTYPE_IPCXN
	// only; libcurl 7.88.0 and 7.88.1 mishandle it (curl #10626), and there
	// curlsock refuses it with ErrAlreadyConnectedUnsupported.
	SOCKOPT_ALREADY_CONNECTED = C.CURL_SOCKOPT_ALREADY_CONNECTED
)

// Callback signatures, matching libcurl's C prototypes. clientp is the value
// set with the matching *DATA option, nil when unset.
type (
	// OpenSocketFunc returns a socket for addr, or an error (or SOCKET_BAD)
	// to refuse the attempt. It may rewrite addr; see Sockaddr. With an
	// error the fd is ignored, as Go results are: close any socket you
	// opened before deciding to fail.
	OpenSocketFunc func(clientp any, purpose SockType, addr *Sockaddr) (fd int, err error)
	// CloseSocketFunc closes fd, which libcurl is done with. libcurl ignores
	// its error; Perform reports it only if the transfer fails.
	CloseSocketFunc func(clientp any, fd int) error
	// SockoptFunc configures a new socket before it connects. It returns
	// SOCKOPT_OK, SOCKOPT_ERROR or SOCKOPT_ALREADY_CONNECTED; a non-nil
	// error fails the attempt whatever the code.
	SockoptFunc func(clientp any, fd int, purpose SockType) (int, error)
	// PrereqFunc (OPT_PREREQFUNCTION, libcurl ≥ 7.80) runs once a
	// connection is ready — new or reused — before each request is sent,
	// with the connection's addresses; an error aborts the transfer with
	// E_ABORTED_BY_CALLBACK. It is the one callback that sees reused
	// connections.
	PrereqFunc func(clientp any, primaryIP, localIP string, primaryPort, localPort int) error
)

// Sentinel errors, wrapped with %w in the errors curlsock returns.
var (
	// ErrOptionType: Setopt got a value of the wrong type for the option.
	ErrOptionType = errors.New("curlsock: wrong value type for option")
	// ErrInvalidFD: an open-socket callback returned neither SOCKET_BAD nor a
	// valid file descriptor.
	ErrInvalidFD = errors.New("curlsock: invalid file descriptor")
	// ErrSockoptFailed: a sockopt callback returned SOCKOPT_ERROR without an
	// error of its own.
	ErrSockoptFailed = errors.New("curlsock: sockopt callback failed")
	// ErrInvalidSockopt: a sockopt callback returned a code other than
	// SOCKOPT_OK, SOCKOPT_ERROR and SOCKOPT_ALREADY_CONNECTED, or one that is
	// not valid for the socket's purpose.
	ErrInvalidSockopt = errors.New("curlsock: invalid sockopt result")
	// ErrAlreadyConnectedUnsupported: SOCKOPT_ALREADY_CONNECTED on a libcurl
	// that would try to connect the socket again and fail (7.88.0–7.88.1).
	ErrAlreadyConnectedUnsupported = errors.New("curlsock: SOCKOPT_ALREADY_CONNECTED is broken in this libcurl (curl #10626, fixed in 8.0.0)")
	// ErrRefused: an open-socket callback returned SOCKET_BAD without an
	// error of its own.
	ErrRefused = errors.New("curlsock: connection refused by open-socket callback")
	// ErrInvalidResult: a data callback returned a value libcurl cannot take
	// (a read callback claiming more bytes than the buffer holds).
	ErrInvalidResult = errors.New("curlsock: invalid callback result")
	// ErrHandleClosed: the handle was cleaned up.
	ErrHandleClosed = errors.New("curlsock: easy handle already cleaned up")
	// ErrInstallFailed: Sockets.Install failed on the handle, which refuses
	// every transfer until an Install succeeds (or Uninstall removes it).
	// The error also matches the one Install returned.
	ErrInstallFailed = errors.New("curlsock: the handle's Sockets.Install failed, so it refuses transfers")
	// ErrInstallConflict: an option or callback would undo part of the
	// handle's Sockets installation (a protocol it closed, an open-socket
	// callback next to its Dialer); nothing was changed.
	ErrInstallConflict = errors.New("curlsock: conflicts with the handle's Sockets installation")
	// ErrUnattributed: libcurl called a callback with a registration that no
	// longer exists (e.g. a handle duplicated behind curlsock's back whose
	// original was cleaned up). The attempt fails closed.
	ErrUnattributed = errors.New("curlsock: callback registration not found")
	// ErrEngineClosed: the Engine was closed; its transfers in flight end
	// with it, and it takes no more.
	ErrEngineClosed = errors.New("curlsock: engine closed")
	// ErrHandleBusy: the handle is in a transfer of an Engine, of
	// PerformContext, Perform or a multi, and the call cannot run beside
	// it (from another goroutine, or a second transfer at once).
	ErrHandleBusy = errors.New("curlsock: easy handle is in a transfer")
	// ErrEngineReentry: Do or Close called from a callback running on the
	// engine shard it would have to wait for.
	ErrEngineReentry = errors.New("curlsock: called from a callback on the engine shard it would wait for")
	// ErrTransferLost: the transfer's shard was abandoned while it ran, as
	// a callback ended the goroutine driving it (runtime.Goexit, which
	// t.Fatal calls). libcurl's state for that multi is left as it was, so
	// the handles that were in it refuse further transfers; Cleanup works.
	ErrTransferLost = errors.New("curlsock: transfer lost: a callback ended the goroutine driving its engine shard")
	// ErrConnectOnly: Do and PerformContext refuse a handle with
	// OPT_CONNECT_ONLY. The connection would close as the handle leaves
	// their multi, leaving nothing for Send and Recv; use Perform.
	ErrConnectOnly = errors.New("curlsock: OPT_CONNECT_ONLY needs Perform: Do and PerformContext keep no connection for Send and Recv")
)

// CallbackName names the callback a CallbackError comes from.
type CallbackName string

// The callbacks whose failures a transfer reports.
const (
	CallbackOpenSocket  CallbackName = "opensocket"  // CURLOPT_OPENSOCKETFUNCTION
	CallbackSockopt     CallbackName = "sockopt"     // CURLOPT_SOCKOPTFUNCTION
	CallbackCloseSocket CallbackName = "closesocket" // CURLOPT_CLOSESOCKETFUNCTION
	CallbackPrereq      CallbackName = "prereq"      // CURLOPT_PREREQFUNCTION
	CallbackRead        CallbackName = "read"        // CURLOPT_READFUNCTION: an impossible result
)

// CallbackError is one failed callback during a transfer.
type CallbackError struct {
	Callback CallbackName
	Purpose  SockType // the socket's purpose
	FD       int      // the socket, or -1 when none was opened
	Addr     string   // the destination as libcurl gave it, "" when unknown
	Err      error
}

func (e *CallbackError) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Callback))
	if e.Addr != "" {
		b.WriteString(" " + e.Addr)
	}
	if e.FD >= 0 {
		fmt.Fprintf(&b, " (fd %d)", e.FD)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *CallbackError) Unwrap() error { return e.Err }

// Error is what Perform returns when a transfer failed and socket callbacks
// returned errors during it: libcurl's code, its detail text, and every
// callback error, in order. errors.Is matches the code and each callback's
// error.
type Error struct {
	Code CurlError
	// Detail is libcurl's own message for this failure (its error buffer,
	// as CURL.ErrorText returns it): "" when libcurl gave none.
	Detail    string
	Callbacks []*CallbackError
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Detail != "" {
		// As curl prints it: the detail says more than the code's text.
		b.WriteString("curl: " + e.Detail)
	} else {
		b.WriteString(e.Code.Error())
	}
	for i, c := range e.Callbacks {
		if i == 0 {
			b.WriteString(" (")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(c.Error())
	}
	if len(e.Callbacks) > 0 {
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 1+len(e.Callbacks))
	errs = append(errs, e.Code)
	for _, c := range e.Callbacks {
		errs = append(errs, c)
	}
	return errs
}

// versionNum is the running libcurl's version, 0xXXYYZZ.
var versionNum = uint(C.curl_version_info(C.CURLVERSION_NOW).version_num)

// alreadyConnectedBroken: libcurl 7.88.0 and 7.88.1 connect() a socket that
// sockopt declared connected, fail with EISCONN and report
// E_COULDNT_CONNECT (curl #10626, fixed by PR #10648 in 8.0.0).
var alreadyConnectedBroken = versionNum >= 0x075800 && versionNum <= 0x075801

// versionString renders versionNum as "7.88.1".
func versionString() string {
	return fmt.Sprintf("%d.%d.%d", versionNum>>16, versionNum>>8&0xff, versionNum&0xff)
}
