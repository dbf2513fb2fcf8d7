package benchkit

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// LocalURL is http://127.0.0.1:port/path.
func LocalURL(port int, path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", port, path)
}

// WaitReady polls url until it serves a body of size bytes.
func WaitReady(url string, size int) error {
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		b, err := RawGet(url)
		if err == nil && len(b) != size {
			err = fmt.Errorf("body of %d bytes, want %d", len(b), size)
		}
		if err == nil {
			return nil
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 10 s: %v", url, lastErr)
}

// RawGet fetches an http://127.0.0.1:port/path URL with Connection: close
// and returns the body (everything after the header), without any client
// under test.
func RawGet(url string) ([]byte, error) {
	rest, ok := strings.CutPrefix(url, "http://")
	if !ok {
		return nil, fmt.Errorf("not an http URL: %s", url)
	}
	host, path, _ := strings.Cut(rest, "/")
	c, err := net.DialTimeout("tcp", host, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	fmt.Fprintf(c, "GET /%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	b, err := io.ReadAll(c)
	if err != nil {
		return nil, err
	}
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 200")) {
		return nil, fmt.Errorf("bad response %q", b[:min(len(b), 64)])
	}
	return body, nil
}
