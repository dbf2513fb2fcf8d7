package benchkit

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultOut is where a report named name goes by default: under bench/
// when run from the module's root, else here.
func DefaultOut(name string) string {
	if st, err := os.Stat("bench"); err == nil && st.IsDir() {
		return filepath.Join("bench", name)
	}
	return name
}

// Median is the median of xs, NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Mark is a goal's verdict, in bold.
func Mark(ok bool) string {
	if ok {
		return "**met**"
	}
	return "**MISSED**"
}

// Timestamp is the time now, as the reports give it.
func Timestamp() string { return time.Now().UTC().Format("2006-01-02 15:04 UTC") }

// Machine describes the machine and the Go runtime: CPU model, CPUs,
// GOMAXPROCS, kernel, Go version.
func Machine() string {
	return fmt.Sprintf("%s, %d CPUs, GOMAXPROCS %d, Linux %s, %s",
		CPUModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0), Kernel(), runtime.Version())
}

// LibcurlVersion is the version number in a libcurl version string
// ("libcurl/8.14.1 OpenSSL/3.5.1 ...": "8.14.1").
func LibcurlVersion(full string) string {
	if f := strings.Fields(full); len(f) > 0 {
		return strings.TrimPrefix(f[0], "libcurl/")
	}
	return full
}

// Revision names the curlsock commit measured (the work tree's, when run
// from it), with "+changes" when git status --porcelain, with statusArgs
// (options, then "--" and pathspecs), lists anything.
func Revision(statusArgs ...string) string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "(commit unknown)"
	}
	rev := "commit " + strings.TrimSpace(string(out))
	st, err := exec.Command("git", append([]string{"status", "--porcelain"}, statusArgs...)...).Output()
	if err == nil && len(strings.TrimSpace(string(st))) > 0 {
		rev += "+changes"
	}
	return rev
}

// CPUModel is /proc/cpuinfo's first model name.
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// Kernel is the kernel's release (uname -r).
func Kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "?"
	}
	return unix.ByteSliceToString(u.Release[:])
}
