//go:build linux

package curl

// The proof of drop-in. curlsock promises that a go-curl program works with
// only its import path changed, so this test takes go-curl's own code from the
// pinned version in the module cache and holds curlsock to it:
//
//  1. every go-curl example (examples/*.go) that builds against go-curl must
//     build against curlsock, with only the import path rewritten;
//  2. every test in go-curl's easy_test.go and core_test.go that passes
//     against go-curl must pass against curlsock.
//
// Both sides are built and run the same way (same go command, environment,
// language version and flags), so a failure is curlsock's, not the setup's;
// whatever fails against go-curl as well is logged, not hidden and not failed.
// The examples reach the internet: they are only compiled, never run.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	dropinGoCurl   = "github.com/andelf/go-curl"
	dropinCurlsock = "github.com/curlsock/curlsock"
	// Two builds at a time: each go command is itself parallel, and the
	// target is a 2-core machine.
	dropinWorkers = 2
	// Marks the line the probe test prints, so its libcurl can be compared.
	dropinProbeMark = "dropin-libcurl-version="
)

// go-curl's tests that are run against both packages. Its logging_test.go is
// left out: it tests go-curl's unexported logger state (log_level), which no
// importer of the package can reach.
var dropinTestFiles = []string{"easy_test.go", "core_test.go"}

// A probe added next to go-curl's test files (not into them): it reports the
// libcurl the child test binary really loaded, which must be the parent's, or
// the comparison would be against some other libcurl line.
const dropinProbe = `package curl

import "testing"

func TestDropinProbe(t *testing.T) { t.Log("` + dropinProbeMark + `" + Version()) }
`

// dropinSide is one of the two temp modules: go-curl itself, or curlsock.
type dropinSide struct {
	name       string // "go-curl" or "curlsock"
	importPath string
	dir        string // the temp module's root
}

// dropinJob is one go command run by the worker pool.
type dropinJob struct {
	side *dropinSide
	args []string
	out  []byte // combined output (stdout only for go test -json)
	errb []byte // stderr, for go test -json
	err  error
	took time.Duration
}

func TestDropIn(t *testing.T) {
	if testing.Short() {
		t.Skip("builds go-curl's examples and runs its tests twice: skipped in -short mode")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	start := time.Now()

	// Where things are: the repository (the main module; go test runs in the
	// package directory, the root), its go directive, and the pinned go-curl.
	info := dropinGoList(t, "list", "-m", "-f", "{{.Path}}\t{{.Dir}}\t{{.Version}}\t{{.GoVersion}}", dropinCurlsock, dropinGoCurl)
	var rootDir, goVersion, goCurlDir, goCurlVersion string
	for _, line := range strings.Split(strings.TrimSpace(info), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("go list -m: unexpected line %q", line)
		}
		switch f[0] {
		case dropinCurlsock:
			rootDir, goVersion = f[1], f[3]
		case dropinGoCurl:
			goCurlDir, goCurlVersion = f[1], f[2]
		}
	}
	if rootDir == "" || goVersion == "" || goCurlVersion == "" {
		t.Fatalf("go list -m did not report the module root, its go version and go-curl's version:\n%s", info)
	}
	if goCurlDir == "" {
		t.Fatalf("%s@%s is not in the module cache; run: go mod download %s", dropinGoCurl, goCurlVersion, dropinGoCurl)
	}
	goSum, err := os.ReadFile(filepath.Join(rootDir, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}

	examples, err := filepath.Glob(filepath.Join(goCurlDir, "examples", "*.go"))
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples in %s/examples (err %v)", goCurlDir, err)
	}
	sort.Strings(examples)
	names := make([]string, len(examples))
	for i, p := range examples {
		names[i] = strings.TrimSuffix(filepath.Base(p), ".go")
	}

	// Two temp modules, one per side, laid out alike. go-curl's side requires
	// only go-curl, so curlsock's requirements cannot change what it builds
	// against; curlsock's side replaces curlsock by this working tree. Both
	// carry the repository's go.sum and go directive (the language version
	// the examples and tests are compiled with).
	tmp := t.TempDir()
	gocurl := &dropinSide{name: "go-curl", importPath: dropinGoCurl, dir: filepath.Join(tmp, "gocurl")}
	curlsock := &dropinSide{name: "curlsock", importPath: dropinCurlsock, dir: filepath.Join(tmp, "curlsock")}
	sides := []*dropinSide{gocurl, curlsock}
	for _, s := range sides {
		gomod := fmt.Sprintf("module dropin.test/%s\n\ngo %s\n\nrequire %s %s\n", filepath.Base(s.dir), goVersion, dropinGoCurl, goCurlVersion)
		if s == curlsock {
			gomod += fmt.Sprintf("\nrequire %s v0.0.0-00010101000000-000000000000\n\nreplace %s => %s\n",
				dropinCurlsock, dropinCurlsock, strconv.Quote(rootDir))
		}
		dropinWrite(t, filepath.Join(s.dir, "go.mod"), []byte(gomod))
		dropinWrite(t, filepath.Join(s.dir, "go.sum"), goSum)

		// Each example in its own directory: several of them define main.
		for i, p := range examples {
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if s == curlsock {
				src = dropinRewriteImports(t, p, src, dropinGoCurl, dropinCurlsock)
			}
			dropinWrite(t, filepath.Join(s.dir, "ex", names[i], "main.go"), src)
		}

		// go-curl's tests are package curl and use its API unqualified. They
		// stay package curl (a package of their own here) and gain a single
		// line, a dot import of the side's package, which brings EasyInit,
		// OPT_URL, VersionInfo, ... into their scope; nothing else changes.
		for _, name := range dropinTestFiles {
			p := filepath.Join(goCurlDir, name)
			src, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dropinWrite(t, filepath.Join(s.dir, "gotest", name), dropinAddDotImport(t, p, src, s.importPath))
		}
		probe := dropinAddDotImport(t, "probe", []byte(dropinProbe), s.importPath)
		dropinWrite(t, filepath.Join(s.dir, "gotest", "zz_dropin_probe_test.go"), probe)
	}

	env := dropinEnviron()

	// Settle each go.mod once, before builds run in parallel in the same
	// module: -mod=mod adds the indirect requirements curlsock brings in
	// (golang.org/x/sys). go list compiles nothing, so this is quick; it is
	// also where a module missing from the cache shows up, clearly.
	for _, s := range sides {
		dropinGoListIn(t, s.dir, env, "list", "-deps", "-test", "./...")
	}
	// Warm the build cache serially: go-curl's cgo package is the expensive
	// compile, and both sides need it (curlsock wraps it); two go commands
	// started cold at once would both compile it. A failure here is not
	// judged: the builds below report it, per example.
	if out, err := dropinRun(curlsock.dir, env, "build", dropinGoCurl, dropinCurlsock); err != nil {
		t.Logf("warming the build cache: %v\n%s", err, out)
	}

	// Every build and both test runs go through one pool of dropinWorkers.
	var jobs []*dropinJob
	testJobs := map[*dropinSide]*dropinJob{}
	for _, s := range sides {
		// -count=1: the point is to run them; -vet=off: go-curl's test files
		// are taken as they are, vet's opinion of them is not the question.
		j := &dropinJob{side: s, args: []string{"test", "-json", "-count=1", "-vet=off", "./gotest"}}
		testJobs[s] = j
		jobs = append(jobs, j)
	}
	buildJobs := map[*dropinSide][]*dropinJob{}
	for _, name := range names {
		for _, s := range sides {
			// Linked too (to nowhere): a drop-in must link as well as compile.
			// The link is most of each build's time; -s -w skips the symbol
			// table and DWARF, which nobody reads here, to shorten it.
			j := &dropinJob{side: s, args: []string{"build", "-ldflags=-s -w", "-o", os.DevNull, "./ex/" + name}}
			buildJobs[s] = append(buildJobs[s], j)
			jobs = append(jobs, j)
		}
	}
	prepared := time.Now()
	dropinPool(jobs, env)
	t.Logf("preparing the temp modules took %v, %d go commands on %d workers %v",
		prepared.Sub(start).Round(100*time.Millisecond), len(jobs), dropinWorkers, time.Since(prepared).Round(100*time.Millisecond))

	// 1. The examples.
	built := 0
	for i, name := range names {
		g, c := buildJobs[gocurl][i], buildJobs[curlsock][i]
		t.Run("example/"+name, func(t *testing.T) {
			switch {
			case g.err == nil && c.err == nil:
				built++
				t.Logf("builds against go-curl (%v) and curlsock (%v)", g.took.Round(100*time.Millisecond), c.took.Round(100*time.Millisecond))
			case g.err == nil:
				built++
				t.Errorf("examples/%s.go builds against go-curl but not against curlsock:\n%s", name, c.out)
			case c.err == nil:
				t.Logf("does not build against go-curl either (%s); builds against curlsock", dropinFirstLine(g.out))
			default:
				t.Logf("does not build against go-curl either (%s); against curlsock: %s", dropinFirstLine(g.out), dropinFirstLine(c.out))
			}
		})
	}
	if built == 0 {
		// Else the assertion above holds vacuously: something is wrong with
		// the setup, not with go-curl's examples.
		t.Errorf("no example builds against go-curl; first error: %s", dropinFirstLine(buildJobs[gocurl][0].out))
	}

	// 2. go-curl's tests.
	results := map[*dropinSide]map[string]*dropinResult{}
	version := Version()
	for _, s := range sides {
		j := testJobs[s]
		t.Logf("go test of go-curl's tests against %s took %v", s.name, j.took.Round(100*time.Millisecond))
		res, buildOut := dropinParseTestJSON(j.out)
		results[s] = res
		probe := res["TestDropinProbe"]
		delete(res, "TestDropinProbe")
		if probe == nil || probe.action != "pass" {
			why := buildOut + string(j.errb)
			if strings.TrimSpace(why) == "" {
				why = dropinTail(j.out)
			}
			t.Errorf("go test of go-curl's tests against %s did not run (%v):\n%s", s.name, j.err, why)
			continue
		}
		got := probe.probeVersion()
		if got != version {
			t.Errorf("go-curl's tests against %s ran with libcurl %q, this test binary with %q: the environment did not carry over", s.name, got, version)
		}
	}
	var tests []string
	for name := range results[gocurl] {
		tests = append(tests, name)
	}
	for name := range results[curlsock] {
		if results[gocurl][name] == nil {
			tests = append(tests, name)
		}
	}
	sort.Strings(tests)
	passed := 0
	for _, name := range tests {
		g, c := results[gocurl][name], results[curlsock][name]
		t.Run("gotest/"+name, func(t *testing.T) {
			switch {
			case g == nil:
				t.Logf("ran against curlsock only, not against go-curl: %s", c.summary())
			case g.action != "pass":
				same := c.summary()
				if c != nil && c.action == g.action && c.reason() == g.reason() {
					same = "the same"
				}
				t.Logf("%s against go-curl too: %s; against curlsock: %s", g.action, g.reason(), same)
			case c == nil || c.action != "pass":
				passed++
				t.Errorf("passes against go-curl, against curlsock: %s\n%s", c.summary(), c.output())
			default:
				passed++
				t.Logf("passes against go-curl and curlsock")
			}
		})
	}
	if passed == 0 {
		t.Errorf("none of go-curl's tests passes against go-curl itself: the setup is wrong")
	}
	t.Logf("libcurl %s; %d examples, %d go-curl tests checked in %v", version, len(names), len(tests), time.Since(start).Round(100*time.Millisecond))
}

// dropinEnviron is this process's environment (so CGO_CFLAGS, CGO_LDFLAGS,
// PKG_CONFIG_PATH, PKG_CONFIG_SYSROOT_DIR, GOCACHE, GOMODCACHE reach the
// child builds and they use this test binary's libcurl and caches) with the
// module settings the temp modules need: -mod=mod so go may complete their
// go.mod and go.sum; GOPROXY=off because everything is in the module cache
// already and nothing may be fetched (the network is off limits); GOWORK=off
// so no go.work of the caller takes them over; GOTOOLCHAIN=local so the go
// directive never triggers a toolchain download.
func dropinEnviron() []string {
	var env, flags []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "GOFLAGS":
			for _, f := range strings.Fields(v) {
				if !strings.HasPrefix(f, "-mod=") {
					flags = append(flags, f)
				}
			}
		case "GOPROXY", "GOWORK", "GOTOOLCHAIN":
		default:
			env = append(env, kv)
		}
	}
	return append(env,
		"GOFLAGS="+strings.Join(append(flags, "-mod=mod"), " "),
		"GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
}

// dropinPool runs jobs on dropinWorkers goroutines.
func dropinPool(jobs []*dropinJob, env []string) {
	ch := make(chan *dropinJob)
	var wg sync.WaitGroup
	for range dropinWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				began := time.Now()
				if j.args[0] == "test" {
					// stdout is the JSON stream; keep stderr apart.
					cmd := exec.Command("go", j.args...)
					cmd.Dir, cmd.Env = j.side.dir, env
					var stderr bytes.Buffer
					cmd.Stderr = &stderr
					j.out, j.err = cmd.Output()
					j.errb = stderr.Bytes()
				} else {
					j.out, j.err = dropinRun(j.side.dir, env, j.args...)
				}
				j.took = time.Since(began)
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}

func dropinRun(dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	return cmd.CombinedOutput()
}

// dropinGoList runs a go command in the package directory, as go test left it.
func dropinGoList(t *testing.T, args ...string) string {
	t.Helper()
	return dropinGoListIn(t, "", nil, args...)
}

func dropinGoListIn(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, stderr.Bytes())
	}
	return string(out)
}

func dropinWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dropinRewriteImports replaces the import path from by to in src's import
// declarations and touches nothing else: not the alias (go-curl's examples
// import it as curl), not strings that merely contain the path (misc.go's
// user agent does).
func dropinRewriteImports(t *testing.T, name string, src []byte, from, to string) []byte {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	last := 0
	for _, imp := range f.Imports { // in source order
		if p, _ := strconv.Unquote(imp.Path.Value); p != from {
			continue
		}
		out.Write(src[last:fset.Position(imp.Path.Pos()).Offset])
		out.WriteString(strconv.Quote(to))
		last = fset.Position(imp.Path.End()).Offset
	}
	out.Write(src[last:])
	return out.Bytes()
}

// dropinAddDotImport inserts `import . "path"` right after src's package
// clause, as a declaration of its own, so the file's other imports stay
// byte for byte as they were.
func dropinAddDotImport(t *testing.T, name string, src []byte, path string) []byte {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	at := fset.Position(f.Name.End()).Offset
	var out bytes.Buffer
	out.Write(src[:at])
	fmt.Fprintf(&out, "\n\nimport . %s", strconv.Quote(path))
	out.Write(src[at:])
	return out.Bytes()
}

// dropinResult is one top-level test's outcome in a go test -json stream.
type dropinResult struct {
	action string // pass, fail or skip
	lines  []string
}

// reason is the first line of the test's own output (go test's framing
// lines left out), and how many more there are: enough to tell why it failed
// or skipped.
func (r *dropinResult) reason() string {
	var keep []string
	for _, l := range r.lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		keep = append(keep, l)
	}
	switch len(keep) {
	case 0:
		return "no output"
	case 1:
		return keep[0]
	default:
		return fmt.Sprintf("%s (+%d more lines)", keep[0], len(keep)-1)
	}
}

func (r *dropinResult) summary() string {
	switch {
	case r == nil:
		return "did not run"
	case r.action == "pass":
		return "pass"
	default:
		return r.action + " (" + r.reason() + ")"
	}
}

func (r *dropinResult) output() string {
	if r == nil {
		return ""
	}
	return strings.Join(r.lines, "")
}

func (r *dropinResult) probeVersion() string {
	for _, l := range r.lines {
		if _, v, ok := strings.Cut(l, dropinProbeMark); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// dropinParseTestJSON reads go test -json output: the outcome of each
// top-level test, and any output that belongs to no test (build errors).
func dropinParseTestJSON(out []byte) (map[string]*dropinResult, string) {
	res := map[string]*dropinResult{}
	var other strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Action string
			Test   string
			Output string
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			other.WriteString(sc.Text() + "\n")
			continue
		}
		if ev.Test == "" {
			if ev.Action == "output" || ev.Action == "build-output" {
				other.WriteString(ev.Output)
			}
			continue
		}
		top, _, _ := strings.Cut(ev.Test, "/")
		r := res[top]
		if r == nil {
			r = &dropinResult{}
			res[top] = r
		}
		switch ev.Action {
		case "output":
			r.lines = append(r.lines, ev.Output)
		case "pass", "fail", "skip":
			if top == ev.Test {
				r.action = ev.Action
			}
		}
	}
	// A test that started but never finished (a crash) counts as failed.
	for _, r := range res {
		if r.action == "" {
			r.action = "fail"
		}
	}
	return res, other.String()
}

// dropinFirstLine is the first line of a go build's output that says
// something: not the "# package" header.
func dropinFirstLine(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return "no output"
}

// dropinTail is the end of a long output, for error messages.
func dropinTail(out []byte) string {
	const n = 4000
	if len(out) > n {
		return "...\n" + string(out[len(out)-n:])
	}
	return string(out)
}
