package curl

import gocurl "github.com/andelf/go-curl"

const (
	OPT_URL                 = gocurl.OPT_URL
	OPT_WRITEFUNCTION       = gocurl.OPT_WRITEFUNCTION
	OPT_TIMEOUT_MS          = 155
	OPT_TIMEOUT             = gocurl.OPT_TIMEOUT
	OPT_NOSIGNAL            = gocurl.OPT_NOSIGNAL
	OPT_POSTFIELDSIZE_LARGE = gocurl.OPT_POSTFIELDSIZE_LARGE
	OPT_RESOLVE             = 10203
	OPT_UNIX_SOCKET_PATH    = 10231
	OPT_CAINFO              = gocurl.OPT_CAINFO
	OPT_FORBID_REUSE        = gocurl.OPT_FORBID_REUSE
	OPT_CONNECT_ONLY        = gocurl.OPT_CONNECT_ONLY
	OPT_CONNECTTIMEOUT_MS   = 156
	OPT_FTPPORT             = gocurl.OPT_FTPPORT
	E_COULDNT_CONNECT       = gocurl.E_COULDNT_CONNECT
	E_ABORTED_BY_CALLBACK   = gocurl.E_ABORTED_BY_CALLBACK
	E_OPERATION_TIMEDOUT    = gocurl.E_OPERATION_TIMEDOUT
)
