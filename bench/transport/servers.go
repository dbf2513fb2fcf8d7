package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/curlsock/curlsock/internal/benchkit"
)

// nginx (benchkit.StartNginx), as bench/engine starts it: one worker, two
// servers. The keep-alive one keeps connections open for good and serves
// the small file, the downloads (sparse files: nginx reads holes, nothing
// of them is held in anyone's memory but the page cache) and stub_status,
// whose accepted-connections counter tells how many connections a run
// opened, whatever the client. The other closes every connection after
// its response (keepalive_timeout 0: the TIME_WAIT stays on nginx's side,
// so fresh connections never run the client out of ports).

const (
	bigName  = "big.bin"
	slowName = "slow.bin"
)

type nginxServer struct {
	version                 string
	freshURL, kaURL         string // the small file
	bigURL, slowURL         string
	statusURL               string
	dir                     string
	bigPath, slowPath       string
	stop                    func()
	bigSize, slowSize, size int64
}

// startNginx writes the small file of size bytes and the two sparse
// downloads, and starts nginx with its worker pinned to cpu (-1: not).
func startNginx(size int, bigSize, slowSize int64, cpu int) (*nginxServer, error) {
	var bigPath, slowPath string
	sparse := func(www, name string, n int64) (string, error) {
		p := filepath.Join(www, name)
		f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return "", err
		}
		if err := f.Truncate(n); err != nil {
			f.Close()
			return "", err
		}
		return p, f.Close()
	}
	ngx, err := benchkit.StartNginx(benchkit.NginxConfig{
		Comment:      "curlsock transport benchmark: written and removed by go run ./bench/transport",
		TempPattern:  "curlsock-bench-transport-nginx-",
		RlimitNofile: true,
		DefaultType:  "application/octet-stream",
		Servers:      benchkit.FreshServer + benchkit.KeepAliveServer("\t\tlocation = /nginx_status { stub_status; }\n"),
		Size:         size,
		Files: func(www string) (err error) {
			if bigPath, err = sparse(www, bigName, bigSize); err != nil {
				return err
			}
			slowPath, err = sparse(www, slowName, slowSize)
			return err
		},
		CPU: cpu,
	})
	if err != nil {
		return nil, err
	}
	ka := benchkit.LocalURL(ngx.KAPort, "")
	s := &nginxServer{version: ngx.Version, dir: ngx.Dir, size: int64(size), bigSize: bigSize, slowSize: slowSize,
		freshURL: benchkit.LocalURL(ngx.Port, benchkit.SmallFile), kaURL: ka + benchkit.SmallFile,
		bigURL: ka + bigName, slowURL: ka + slowName, statusURL: ka + "nginx_status",
		bigPath: bigPath, slowPath: slowPath, stop: ngx.Stop}
	if _, err := s.accepts(); err != nil {
		s.stop()
		return nil, fmt.Errorf("nginx's stub_status: %w", err)
	}
	return s, nil
}

// warmFiles reads the sparse files once, so that nginx serves them from
// the page cache from the first round on.
func (s *nginxServer) warmFiles() error {
	for _, p := range []string{s.bigPath, s.slowPath} {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// accepts returns nginx's count of accepted connections (stub_status), the
// connection of this request included.
func (s *nginxServer) accepts() (int64, error) {
	body, err := benchkit.RawGet(s.statusURL)
	if err != nil {
		return 0, err
	}
	// "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
	lines := strings.Split(string(body), "\n")
	if len(lines) < 3 {
		return 0, fmt.Errorf("unexpected stub_status %q", body)
	}
	f := strings.Fields(lines[2])
	if len(f) < 1 {
		return 0, fmt.Errorf("unexpected stub_status %q", body)
	}
	return strconv.ParseInt(f[0], 10, 64)
}
