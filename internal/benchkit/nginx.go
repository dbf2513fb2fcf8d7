package benchkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// SmallFile is the static file that every benchmark's nginx serves.
const SmallFile = "small.txt"

// StaticBody is SmallFile's content, size bytes.
func StaticBody(size int) []byte {
	b := bytes.Repeat([]byte("curlsock benchmark body\n"), size/24+1)
	return b[:size]
}

// NginxPath is nginx's binary: the one in PATH, else /usr/sbin/nginx (root's
// PATH has it, others' may not).
func NginxPath() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	return "/usr/sbin/nginx"
}

// nginxConf is what the benchmarks' configs share: one worker, no daemon,
// everything nginx writes in its own directory ({{DIR}}), no access log.
const nginxConf = `# {{COMMENT}}
worker_processes 1;
{{AFFINITY}}
{{RLIMIT}}daemon off;
master_process on;
pid {{DIR}}/nginx.pid;
error_log {{DIR}}/error.log warn;
events {
	worker_connections 4096;
}
http {
	access_log off;
	client_body_temp_path {{DIR}}/tmp/body;
	proxy_temp_path {{DIR}}/tmp/proxy;
	fastcgi_temp_path {{DIR}}/tmp/fastcgi;
	uwsgi_temp_path {{DIR}}/tmp/uwsgi;
	scgi_temp_path {{DIR}}/tmp/scgi;
	default_type {{TYPE}};
	sendfile on;
	tcp_nodelay on;
	open_file_cache max=16;
{{SERVERS}}}
`

// FreshServer is a server block on {{PORT}} that closes every connection
// after its response (keepalive_timeout 0): the TIME_WAIT stays on nginx's
// side, so that fresh connections never run the client out of ports.
const FreshServer = `	server {
		listen 127.0.0.1:{{PORT}} backlog=4096;
		keepalive_timeout 0;
		root {{DIR}}/www;
		location / {}
	}
`

// KeepAliveServer is a server block on {{KAPORT}} that keeps connections
// open for good, with the lines of extra at the end of its block.
func KeepAliveServer(extra string) string {
	return `	server {
		listen 127.0.0.1:{{KAPORT}} backlog=4096;
		keepalive_timeout 300s;
		keepalive_requests 100000000;
		root {{DIR}}/www;
		location / {}
` + extra + "\t}\n"
}

// NginxConfig is an nginx for a benchmark, in a temporary directory of its
// own, with one worker.
type NginxConfig struct {
	Comment      string // the config's first line, after "# "
	TempPattern  string // os.MkdirTemp's pattern for its directory
	RlimitNofile bool   // worker_rlimit_nofile 8192
	DefaultType  string // the http block's default_type
	// Servers ends the http block: server blocks (FreshServer,
	// KeepAliveServer) and any directive for all of them. {{DIR}} is
	// nginx's directory, {{PORT}} a port, {{KAPORT}}, if there, a second.
	Servers string
	// Size is the bytes of www/SmallFile, which StartNginx writes and
	// every port must serve before it returns.
	Size int
	// Files, if set, writes more of the document root, www.
	Files func(www string) error
	// CPU is the CPU nginx's worker is pinned to; -1: not pinned.
	CPU int
}

// Nginx is a running nginx.
type Nginx struct {
	Version string // as nginx -v says, without "nginx version: "; "" if unknown
	Dir     string // its directory, removed by Stop
	Port    int    // {{PORT}}
	KAPort  int    // {{KAPORT}}; 0: none
	stop    func()
}

// Stop stops nginx and removes its directory.
func (n *Nginx) Stop() {
	n.stop()
	os.RemoveAll(n.Dir)
}

// conf is nginx.conf for nginx in dir on port (and kaPort).
func (c NginxConfig) conf(dir string, port, kaPort int) string {
	rlimit, affinity := "", ""
	if c.RlimitNofile {
		rlimit = "worker_rlimit_nofile 8192;\n"
	}
	if c.CPU >= 0 {
		affinity = "worker_cpu_affinity 1" + strings.Repeat("0", c.CPU) + ";"
	}
	conf := strings.NewReplacer("{{COMMENT}}", c.Comment, "{{RLIMIT}}", rlimit, "{{TYPE}}", c.DefaultType,
		"{{SERVERS}}", c.Servers).Replace(nginxConf)
	return strings.NewReplacer("{{DIR}}", dir, "{{PORT}}", strconv.Itoa(port), "{{KAPORT}}", strconv.Itoa(kaPort),
		"{{AFFINITY}}", affinity).Replace(conf)
}

// StartNginx writes c's document root and config and starts nginx as a
// child (StartChild, stopped by SIGQUIT), on ports it picks (three tries).
func StartNginx(c NginxConfig) (*Nginx, error) {
	bin := NginxPath()
	if _, err := exec.LookPath(bin); err != nil {
		return nil, fmt.Errorf("nginx not found (apt-get install nginx-light): %w", err)
	}
	dir, err := os.MkdirTemp("", c.TempPattern)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Nginx, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	// nginx's worker runs as nobody when started as root: it must be able
	// to read the document root.
	www := filepath.Join(dir, "www")
	for _, d := range []string{dir, www, filepath.Join(dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			return fail(err)
		}
	}
	if err := os.WriteFile(filepath.Join(www, SmallFile), StaticBody(c.Size), 0o644); err != nil {
		return fail(err)
	}
	if c.Files != nil {
		if err := c.Files(www); err != nil {
			return fail(err)
		}
	}
	version := ""
	if out, err := exec.Command(bin, "-v").CombinedOutput(); err == nil {
		version = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version:"))
	}
	twoPorts := strings.Contains(c.Servers, "{{KAPORT}}")
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return fail(err)
		}
		kaPort, ports := 0, fmt.Sprintf("port %d", port)
		if twoPorts {
			if kaPort, err = FreePort(); err != nil {
				return fail(err)
			}
			ports = fmt.Sprintf("ports %d, %d", port, kaPort)
		}
		confPath := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(c.conf(dir, port, kaPort)), 0o644); err != nil {
			return fail(err)
		}
		out, err := os.Create(filepath.Join(dir, "nginx.out"))
		if err != nil {
			return fail(err)
		}
		cmd := exec.Command(bin, "-p", dir+"/", "-c", confPath, "-e", filepath.Join(dir, "error.log"))
		cmd.Stdout, cmd.Stderr = out, out
		stop, err := StartChild(cmd, syscall.SIGQUIT)
		out.Close()
		if err != nil {
			return fail(err)
		}
		err = WaitReady(LocalURL(port, SmallFile), c.Size)
		if twoPorts {
			err = errors.Join(err, WaitReady(LocalURL(kaPort, SmallFile), c.Size))
		}
		if err != nil {
			stop()
			nout, _ := os.ReadFile(filepath.Join(dir, "nginx.out"))
			elog, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			lastErr = fmt.Errorf("nginx on %s: %v\n%s%s", ports, err, nout, elog)
			continue
		}
		return &Nginx{Version: version, Dir: dir, Port: port, KAPort: kaPort, stop: stop}, nil
	}
	return fail(lastErr)
}
