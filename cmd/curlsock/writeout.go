package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	curl "github.com/curlsock/curlsock"
)

// transfer is what -w reports on: a finished transfer.
type transfer struct {
	e    *curl.CURL
	o    *options
	code int    // the exit code
	msg  string // its message; "" when code is 0
}

// writeOut prints -w's format as curl's ourWriteOut does: %{name} is a
// variable (%{stdout} and %{stderr} switch streams), %% a percent sign,
// \n \r \t escapes; anything else, an unclosed %{ included, as it is.
func writeOut(format string, t *transfer, stdout, stderr io.Writer) {
	w := stdout
	for len(format) > 0 {
		switch {
		case format[0] == '%' && len(format) > 1:
			switch {
			case format[1] == '%':
				io.WriteString(w, "%")
				format = format[2:]
			case format[1] != '{':
				io.WriteString(w, format[:2])
				format = format[2:]
			default:
				end := strings.IndexByte(format, '}')
				if end < 0 {
					io.WriteString(w, "%{")
					format = format[2:]
					continue
				}
				name := format[2:end]
				format = format[end+1:]
				switch name {
				case "stdout":
					w = stdout
				case "stderr":
					w = stderr
				default:
					v, known := t.variable(name)
					if !known {
						// As curl: even with -s.
						fmt.Fprintf(stderr, "curlsock: unknown --write-out variable: '%s'\n", name)
					}
					io.WriteString(w, v)
				}
			}
		case format[0] == '\\' && len(format) > 1:
			switch format[1] {
			case 'n':
				io.WriteString(w, "\n")
			case 'r':
				io.WriteString(w, "\r")
			case 't':
				io.WriteString(w, "\t")
			default:
				io.WriteString(w, format[:2])
			}
			format = format[2:]
		default:
			io.WriteString(w, format[:1])
			format = format[1:]
		}
	}
}

// variable is one -w variable, formatted as curl 7.88.1 does; "" where
// libcurl has no value, as curl prints nothing then.
func (t *transfer) variable(name string) (string, bool) {
	info := func(i curl.CurlInfo) any {
		v, err := t.e.Getinfo(i)
		if err != nil {
			return nil
		}
		return v
	}
	str := func(i curl.CurlInfo) string {
		s, _ := info(i).(string)
		return s
	}
	long := func(i curl.CurlInfo, format string) string {
		if n, ok := info(i).(int); ok {
			return fmt.Sprintf(format, n)
		}
		return ""
	}
	offT := func(i curl.CurlInfo) string {
		if n, ok := info(i).(int64); ok {
			return strconv.FormatInt(n, 10)
		}
		return ""
	}
	// Times are microseconds, printed as seconds.
	usec := func(i curl.CurlInfo) string {
		if n, ok := info(i).(int64); ok {
			return fmt.Sprintf("%d.%06d", n/1e6, n%1e6)
		}
		return ""
	}
	switch name {
	case "http_code", "response_code":
		return long(curl.INFO_RESPONSE_CODE, "%03d"), true
	case "http_connect":
		return long(curl.INFO_HTTP_CONNECTCODE, "%03d"), true
	case "http_version":
		n, ok := info(curl.INFO_HTTP_VERSION).(int)
		if !ok {
			return "", true
		}
		// CURL_HTTP_VERSION_1_0, _1_1, _2_0 and _3.
		if v, ok := map[int]string{1: "1.0", 2: "1.1", 3: "2", 30: "3"}[n]; ok {
			return v, true
		}
		return "0", true
	case "size_download":
		return offT(curl.INFO_SIZE_DOWNLOAD_T), true
	case "size_upload":
		return offT(curl.INFO_SIZE_UPLOAD_T), true
	case "speed_download":
		return offT(curl.INFO_SPEED_DOWNLOAD_T), true
	case "speed_upload":
		return offT(curl.INFO_SPEED_UPLOAD_T), true
	case "size_header":
		return long(curl.INFO_HEADER_SIZE, "%d"), true
	case "size_request":
		return long(curl.INFO_REQUEST_SIZE, "%d"), true
	case "num_connects":
		return long(curl.INFO_NUM_CONNECTS, "%d"), true
	case "num_redirects":
		return long(curl.INFO_REDIRECT_COUNT, "%d"), true
	case "ssl_verify_result":
		return long(curl.INFO_SSL_VERIFYRESULT, "%d"), true
	case "remote_port":
		return long(curl.INFO_PRIMARY_PORT, "%d"), true
	case "local_port":
		return long(curl.INFO_LOCAL_PORT, "%d"), true
	case "remote_ip":
		return str(curl.INFO_PRIMARY_IP), true
	case "local_ip":
		return str(curl.INFO_LOCAL_IP), true
	case "url_effective":
		return str(curl.INFO_EFFECTIVE_URL), true
	case "redirect_url":
		return str(curl.INFO_REDIRECT_URL), true
	case "content_type":
		return str(curl.INFO_CONTENT_TYPE), true
	case "scheme":
		return str(curl.INFO_SCHEME), true
	case "method":
		return str(curl.INFO_EFFECTIVE_METHOD), true
	case "time_total":
		return usec(curl.INFO_TOTAL_TIME_T), true
	case "time_namelookup":
		return usec(curl.INFO_NAMELOOKUP_TIME_T), true
	case "time_connect":
		return usec(curl.INFO_CONNECT_TIME_T), true
	case "time_appconnect":
		return usec(curl.INFO_APPCONNECT_TIME_T), true
	case "time_pretransfer":
		return usec(curl.INFO_PRETRANSFER_TIME_T), true
	case "time_starttransfer":
		return usec(curl.INFO_STARTTRANSFER_TIME_T), true
	case "time_redirect":
		return usec(curl.INFO_REDIRECT_TIME_T), true
	case "url":
		return t.o.url, true
	case "urlnum":
		return "0", true
	case "filename_effective":
		if t.o.hasOutput && t.o.output != "-" {
			return t.o.output, true
		}
		return "", true
	case "exitcode":
		return strconv.Itoa(t.code), true
	case "errormsg":
		return t.msg, true
	}
	return "", false
}
