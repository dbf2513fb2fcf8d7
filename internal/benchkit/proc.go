package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ProcStatus is what /proc/self/status says about threads and memory.
type ProcStatus struct {
	Threads      int
	RSSKB, HWMKB int64 // VmRSS, VmHWM
}

// ReadStatus reads /proc/self/status; the zero ProcStatus if it cannot.
func ReadStatus() ProcStatus {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return ProcStatus{}
	}
	return parseStatus(data)
}

func parseStatus(data []byte) ProcStatus {
	var st ProcStatus
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var p *int64
		var n int64
		switch string(k) { // no allocation: the compiler compares in place
		case "Threads", "VmRSS", "VmHWM":
			p = &n
		default:
			continue
		}
		v = bytes.TrimLeft(v, " \t")
		for _, c := range v {
			if c < '0' || c > '9' {
				break
			}
			*p = *p*10 + int64(c-'0')
		}
		switch string(k) {
		case "Threads":
			st.Threads = int(n)
		case "VmRSS":
			st.RSSKB = n
		case "VmHWM":
			st.HWMKB = n
		}
	}
	return st
}

// StatusReader reads /proc/self/status into a buffer of its own: sampling
// it while transfers run allocates nothing.
type StatusReader struct {
	f   *os.File
	buf []byte
}

// NewStatusReader opens /proc/self/status; if it cannot, Read falls back
// on ReadStatus.
func NewStatusReader() *StatusReader {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return &StatusReader{}
	}
	return &StatusReader{f: f, buf: make([]byte, 16384)}
}

// Read reads the status now.
func (r *StatusReader) Read() ProcStatus {
	if r.f == nil {
		return ReadStatus()
	}
	n, err := r.f.ReadAt(r.buf, 0)
	if n == 0 && err != nil {
		return ProcStatus{}
	}
	return parseStatus(r.buf[:n])
}

// Close closes the file.
func (r *StatusReader) Close() {
	if r.f != nil {
		r.f.Close()
	}
}

// ResetHWM resets VmHWM to the current RSS (proc(5), clear_refs "5").
func ResetHWM() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// Loadavg is the first n load averages (1, 5, 15 minutes) of /proc/loadavg,
// separated by spaces, or "?".
func Loadavg(n int) string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= n {
		return strings.Join(f[:n], " ")
	}
	return "?"
}

// CPUSeconds is r's user + system time, in seconds.
func CPUSeconds(r unix.Rusage) float64 {
	tv := func(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(r.Utime) + tv(r.Stime)
}

// ProcessCPU is the process's CPU time (user + system) so far, in seconds.
func ProcessCPU() float64 {
	cpu, _ := Usage()
	return cpu
}

// Usage is the process's CPU time (user + system) and context switches
// (voluntary and not) so far.
func Usage() (cpu float64, switches int64) {
	var r unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &r)
	return CPUSeconds(r), r.Nvcsw + r.Nivcsw
}

// RaiseNofile raises this process's soft RLIMIT_NOFILE to its hard limit,
// and returns it.
func RaiseNofile() (uint64, error) {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	r.Cur = r.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	return r.Cur, nil
}

// LastCPU is the last CPU this process may run on (the programs' -cpu
// default), or -1 if none is found.
func LastCPU() (int, error) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return 0, err
	}
	cpu := -1
	for i := 0; i < len(allowed)*64; i++ {
		if allowed.IsSet(i) {
			cpu = i
		}
	}
	return cpu, nil
}

// CheckCPU says whether this process may run on cpu.
func CheckCPU(cpu int) error {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return err
	}
	if !allowed.IsSet(cpu) {
		return fmt.Errorf("-cpu %d: not a CPU this process may use", cpu)
	}
	return nil
}
