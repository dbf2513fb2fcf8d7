package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/curlsock/curlsock/internal/benchkit"
)

// microRow is one dispatch benchmark (BenchmarkDispatch/<name> in package
// curl's bench_test.go) over the -count runs of go test -bench.
type microRow struct {
	name                 string
	ns, floor, x, allocs []float64
}

// microDescs says what each sub-benchmark measures; the goal applies to those
// with a goal of true.
var microDescs = map[string]struct {
	what string
	goal bool
}{
	"floor":        {"bare cgo callback C→Go→C (cbench), the reference", false},
	"open":         {"open-socket callback returning a socket from OpenSocket", true},
	"open-rewrite": {"the same, the callback rewrites the destination (written back to libcurl)", true},
	"open-guard":   {"the same, the callback runs Guard.CheckSockaddr first", true},
	"sockopt":      {"sockopt callback returning SOCKOPT_OK", true},
	"close":        {"close-socket callback (no socket charged)", true},
	"open-foreign": {"open-socket callback returning a socket curlsock did not make: checked with fstat", false},
	"open+close":   {"open then close with a close-socket callback set: the socket is charged and released (libcurl < 8.2: + an fstat for its identity)", false},
}

// parseMicro reads go test -bench output.
func parseMicro(path string) ([]*microRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []*microRow
	byName := map[string]*microRow{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "BenchmarkDispatch/") {
			continue
		}
		name := strings.TrimPrefix(fields[0], "BenchmarkDispatch/")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the -GOMAXPROCS suffix
		}
		r := byName[name]
		if r == nil {
			r = &microRow{name: name}
			byName[name] = r
			rows = append(rows, r)
		}
		// Value-unit pairs after the iteration count.
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				continue
			}
			switch fields[i+1] {
			case "ns/op":
				r.ns = append(r.ns, v)
			case "floor-ns/call":
				r.floor = append(r.floor, v)
			case "x-floor":
				r.x = append(r.x, v)
			case "allocs/op":
				r.allocs = append(r.allocs, v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no BenchmarkDispatch results", path)
	}
	return rows, nil
}

// microReport renders the dispatch benchmarks as a markdown section.
func microReport(rows []*microRow, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Dispatch micro-benchmarks\n\n")
	fmt.Fprintf(&b, "`go test -run '^$' -bench Dispatch -benchmem` (package curl, bench_test.go; libcurl %s): C calls curlsock's trampolines directly, without libcurl or a network, inside a Perform frame. Each run measures the floor batch by batch next to the callback (x-floor); medians over %d runs.\n\n", version, len(rows[0].ns))
	b.WriteString("| benchmark | what | ns/op | floor ns/call | × floor (median, min–max) | allocs/op | goal ≤ 2× floor, 0 allocs |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | --- |\n")
	for _, r := range rows {
		d := microDescs[r.name]
		x := "—"
		if len(r.x) > 0 {
			x = fmt.Sprintf("%s (%.2f–%.2f)", judged(benchkit.Median(r.x), 2, func(v float64) bool { return v <= 2 }), slices.Min(r.x), slices.Max(r.x))
		}
		floor := "—"
		if len(r.floor) > 0 {
			floor = fmt.Sprintf("%.1f", benchkit.Median(r.floor))
		}
		verdict := ""
		if d.goal {
			verdict = "**MISSED**"
			if benchkit.Median(r.x) <= 2 && benchkit.Median(r.allocs) == 0 {
				verdict = "met"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f | %s | %s | %.0f | %s |\n", r.name, d.what, benchkit.Median(r.ns), floor, x, benchkit.Median(r.allocs), verdict)
	}
	b.WriteString("\n")
	return b.String()
}
