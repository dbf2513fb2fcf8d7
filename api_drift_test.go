//go:build linux

package curl

// Guards the promise that a go-curl program builds against this package
// with only its import path changed: the generated zz_*.go files must match
// what the generators produce now (go-curl's pinned version, the hand-written
// files and libcurl's headers all feed them), and every exported go-curl
// identifier must have a counterpart here, generated or hand-written.

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const goCurlImport = "github.com/andelf/go-curl"

func requireGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
}

func runCmd(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

func TestGeneratedFilesUpToDate(t *testing.T) {
	requireGo(t)
	bin := t.TempDir()
	runCmd(t, "go", "build", "-o", bin+string(filepath.Separator), "./internal/gen/gocurlapi", "./internal/gen/curlh")
	exe := func(name string) string { return filepath.Join(bin, name) }

	t.Run("zz_gocurl.go", func(t *testing.T) {
		want := runCmd(t, exe("gocurlapi"), "-o", "-")
		got, err := os.ReadFile("zz_gocurl.go")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("zz_gocurl.go is stale (go-curl, go.mod or a hand-written file changed); run go generate. Diff (- committed, + generated now):\n%s",
				lineDiff(string(got), string(want)))
		}
	})

	t.Run("zz_curlh.go", func(t *testing.T) {
		want := runCmd(t, exe("curlh"), "-o", "-")
		got, err := os.ReadFile("zz_curlh.go")
		if err != nil {
			t.Fatal(err)
		}
		gotVer, wantVer := headerVersion(got), headerVersion(want)
		if gotVer == wantVer {
			if !bytes.Equal(got, want) {
				t.Errorf("zz_curlh.go is stale; run go generate. Diff (- committed, + generated now):\n%s",
					lineDiff(string(got), string(want)))
			}
			return
		}
		// The file is generated from one machine's libcurl headers, so
		// another libcurl cannot reproduce it byte for byte. libcurl never
		// renumbers a constant, though: every committed name that this
		// libcurl also knows must have the same value here.
		t.Logf("zz_curlh.go comes from libcurl %s headers, this build uses %s: comparing values only", gotVer, wantVer)
		committed, now := constValues(t, got), constValues(t, want)
		var unknown []string
		for _, name := range sortedKeys(committed) {
			v, ok := now[name]
			switch {
			case !ok:
				unknown = append(unknown, name)
			case v != committed[name]:
				t.Errorf("%s = %d in zz_curlh.go, but libcurl %s says %d", name, committed[name], wantVer, v)
			}
		}
		if len(unknown) > 0 {
			t.Logf("not in libcurl %s's headers (fail at run time there): %s", wantVer, strings.Join(unknown, ", "))
		}
	})
}

var headerVersionRE = regexp.MustCompile(`(?m)^// Source: .* of libcurl (\S+)$`)

func headerVersion(src []byte) string {
	if m := headerVersionRE.FindSubmatch(src); m != nil {
		return string(m[1])
	}
	return "(unknown)"
}

// constValues type-checks a generated constants-only file on its own.
func constValues(t *testing.T, src []byte) map[string]int64 {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "zz_curlh.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := (&types.Config{}).Check("curl", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, name := range pkg.Scope().Names() {
		if c, ok := pkg.Scope().Lookup(name).(*types.Const); ok {
			v, _ := constant.Int64Val(c.Val())
			out[name] = v
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lineDiff renders the difference between two texts as -/+ lines with a
// little context, enough to see what drifted without a diff tool.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	// Longest common subsequence table, from the end.
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			ops = append(ops, line{' ', x[i]})
			i++
			j++
		case i < len(x) && (j == len(y) || lcs[i+1][j] >= lcs[i][j+1]):
			ops = append(ops, line{'-', x[i]})
			i++
		default:
			ops = append(ops, line{'+', y[j]})
			j++
		}
	}
	const context, limit = 2, 80
	show := make([]bool, len(ops))
	for k, op := range ops {
		if op.op != ' ' {
			for c := max(0, k-context); c <= min(len(ops)-1, k+context); c++ {
				show[c] = true
			}
		}
	}
	var out []string
	for k, op := range ops {
		if !show[k] {
			continue
		}
		if k > 0 && !show[k-1] && len(out) > 0 {
			out = append(out, "...")
		}
		out = append(out, string(op.op)+" "+op.text)
		if len(out) >= limit {
			out = append(out, "... (more differences)")
			break
		}
	}
	return strings.Join(out, "\n")
}

// apiDecl is what the counterpart check needs to know about a declaration.
type apiDecl struct {
	kind  token.Token // CONST, TYPE, VAR or FUNC
	file  string
	typed bool // a constant declared with an explicit type

	// For types: "type X = gocurl.X" makes methods and fields go-curl's own.
	sameAsGoCurl bool
	aliasOther   bool            // an alias of something else: not checked further
	embedsGoCurl bool            // embeds gocurl.X or *gocurl.X, promoting its members
	fields       map[string]bool // exported struct fields
	methods      map[string]bool
}

// parseAPI collects the package-scope declarations of the non-test files
// in dir, with the methods and fields of each type.
func parseAPI(t *testing.T, dir string) map[string]*apiDecl {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	decls := map[string]*apiDecl{}
	methods := map[string]map[string]bool{}
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(path)
		goCurlName := ""
		for _, is := range f.Imports {
			if p, _ := strconv.Unquote(is.Path.Value); p == goCurlImport {
				goCurlName = "curl"
				if is.Name != nil {
					goCurlName = is.Name.Name
				}
			}
		}
		isGoCurl := func(e ast.Expr, name string) bool {
			if s, ok := e.(*ast.StarExpr); ok {
				e = s.X
			}
			sel, ok := e.(*ast.SelectorExpr)
			if !ok || goCurlName == "" {
				return false
			}
			x, ok := sel.X.(*ast.Ident)
			return ok && x.Name == goCurlName && sel.Sel.Name == name
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					decls[d.Name.Name] = &apiDecl{kind: token.FUNC, file: base}
					continue
				}
				recv := d.Recv.List[0].Type
				for {
					if s, ok := recv.(*ast.StarExpr); ok {
						recv = s.X
					} else if ix, ok := recv.(*ast.IndexExpr); ok {
						recv = ix.X
					} else {
						break
					}
				}
				if id, ok := recv.(*ast.Ident); ok {
					if methods[id.Name] == nil {
						methods[id.Name] = map[string]bool{}
					}
					methods[id.Name][d.Name.Name] = true
				}
			case *ast.GenDecl:
				var lastType ast.Expr // implicit repetition in const groups
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						if s.Type != nil || len(s.Values) > 0 {
							lastType = s.Type
						}
						for _, n := range s.Names {
							decls[n.Name] = &apiDecl{kind: d.Tok, file: base, typed: d.Tok == token.CONST && lastType != nil}
						}
					case *ast.TypeSpec:
						a := &apiDecl{kind: token.TYPE, file: base, fields: map[string]bool{}}
						if s.Assign.IsValid() {
							a.sameAsGoCurl = isGoCurl(s.Type, s.Name.Name)
							a.aliasOther = !a.sameAsGoCurl
						}
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, fld := range st.Fields.List {
								if len(fld.Names) == 0 {
									if isGoCurl(fld.Type, s.Name.Name) {
										a.embedsGoCurl = true
									}
									continue
								}
								for _, n := range fld.Names {
									a.fields[n.Name] = true
								}
							}
						}
						decls[s.Name.Name] = a
					}
				}
			}
		}
	}
	for name, ms := range methods {
		if a := decls[name]; a != nil && a.kind == token.TYPE {
			a.methods = ms
		}
	}
	return decls
}

func goCurlDir(t *testing.T) string {
	t.Helper()
	dir := strings.TrimSpace(string(runCmd(t, "go", "list", "-m", "-f", "{{.Dir}}", goCurlImport)))
	if dir == "" {
		// Not in the module cache yet.
		out := runCmd(t, "go", "mod", "download", "-json", goCurlImport)
		m := regexp.MustCompile(`"Dir":\s*"([^"]+)"`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("cannot locate %s's source", goCurlImport)
		}
		dir = string(m[1])
	}
	return dir
}

func TestGoCurlAPICovered(t *testing.T) {
	requireGo(t)
	theirs := parseAPI(t, goCurlDir(t))
	ours := parseAPI(t, ".")

	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	n := 0
	for _, name := range sortedKeys(theirs) {
		g := theirs[name]
		if !ast.IsExported(name) {
			continue
		}
		n++
		o := ours[name]
		if o == nil {
			bad("%s (%s in go-curl's %s) has no counterpart", name, g.kind, g.file)
			continue
		}
		kindOK := o.kind == g.kind || g.kind == token.FUNC && o.kind == token.VAR
		if !kindOK {
			bad("%s is a %s in go-curl but a %s in %s", name, g.kind, o.kind, o.file)
			continue
		}
		if g.kind == token.CONST && !g.typed && o.typed {
			bad("%s is untyped in go-curl but typed in %s: calls such as Setopt(%s, ...) may stop compiling", name, o.file, name)
		}
		if g.kind != token.TYPE || o.sameAsGoCurl || o.embedsGoCurl {
			continue
		}
		if o.aliasOther {
			t.Logf("%s in %s is an alias of another type: its methods and fields are not checked", name, o.file)
			continue
		}
		for _, m := range sortedKeys(g.methods) {
			if ast.IsExported(m) && !o.methods[m] {
				bad("%s in %s lacks go-curl's method %s", name, o.file, m)
			}
		}
		for _, f := range sortedKeys(g.fields) {
			if ast.IsExported(f) && !o.fields[f] {
				bad("%s in %s lacks go-curl's field %s", name, o.file, f)
			}
		}
	}
	if n == 0 {
		t.Fatal("found no exported identifiers in go-curl's source")
	}
	for _, p := range problems {
		t.Error(p)
	}
}
