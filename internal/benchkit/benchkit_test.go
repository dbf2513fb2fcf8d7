package benchkit

import (
	"math"
	"strings"
	"testing"
)

func TestConf(t *testing.T) {
	c := NginxConfig{Comment: "test", RlimitNofile: true, DefaultType: "text/plain", CPU: 2,
		Servers: FreshServer + KeepAliveServer("\t\tlocation = /nginx_status { stub_status; }\n")}
	conf := c.conf("/d", 1234, 5678)
	for _, want := range []string{"# test\n", "worker_cpu_affinity 100;\nworker_rlimit_nofile 8192;\ndaemon off;\n",
		"listen 127.0.0.1:1234 backlog=4096;\n\t\tkeepalive_timeout 0;", "listen 127.0.0.1:5678 backlog=4096;",
		"\t\tlocation = /nginx_status { stub_status; }\n\t}\n}\n", "pid /d/nginx.pid;", "default_type text/plain;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("no %q in\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "{{") {
		t.Errorf("a placeholder is left in\n%s", conf)
	}
	c.CPU, c.RlimitNofile = -1, false
	if conf := c.conf("/d", 1, 2); !strings.Contains(conf, "worker_processes 1;\n\ndaemon off;\n") {
		t.Errorf("without affinity and rlimit:\n%s", conf)
	}
}

func TestParseStatus(t *testing.T) {
	st := parseStatus([]byte("Name:\tx\nThreads:\t7\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"))
	if st != (ProcStatus{Threads: 7, RSSKB: 1024, HWMKB: 2048}) {
		t.Errorf("parseStatus: %+v", st)
	}
	if st := NewStatusReader().Read(); st.Threads < 1 || st.RSSKB <= 0 {
		t.Errorf("StatusReader: %+v", st)
	}
}

func TestReportHelpers(t *testing.T) {
	if m := Median([]float64{3, 1, 2, 10}); m != 2.5 {
		t.Errorf("Median = %v", m)
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	if v := LibcurlVersion("libcurl/8.14.1 OpenSSL/3.5.1 zlib/1.3"); v != "8.14.1" {
		t.Errorf("LibcurlVersion = %q", v)
	}
	if len(StaticBody(1000)) != 1000 {
		t.Error("StaticBody: wrong size")
	}
}
