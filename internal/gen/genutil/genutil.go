// Package genutil holds what the code generators under internal/gen share:
// locating and parsing go-curl's source, finding the names that curlsock's
// hand-written files already declare, and writing the result.
package genutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// GoCurlPath is the module whose API curlsock must stay a superset of.
const GoCurlPath = "github.com/andelf/go-curl"

// Module describes the go-curl module version selected by curlsock's go.mod.
type Module struct {
	Path    string
	Version string
	Dir     string
}

// FindGoCurl asks the go command (run in dir, curlsock's module root) which
// go-curl version go.mod pins and where its source lives, so that the
// generators and the drift test always look at the version that is built.
func FindGoCurl(dir string) (*Module, error) {
	var m Module
	if err := goJSON(dir, &m, "list", "-m", "-json", GoCurlPath); err != nil {
		return nil, err
	}
	if m.Dir == "" {
		// go list -m leaves Dir empty while the module is not in the module
		// cache; go mod download fills the cache and reports where.
		if err := goJSON(dir, &m, "mod", "download", "-json", GoCurlPath+"@"+m.Version); err != nil {
			return nil, err
		}
	}
	if m.Dir == "" {
		return nil, fmt.Errorf("cannot locate the source of %s %s", GoCurlPath, m.Version)
	}
	return &m, nil
}

func goJSON(dir string, v any, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return json.Unmarshal(out, v)
}

// Package is a parsed set of Go files of one package.
type Package struct {
	Fset  *token.FileSet
	Files []*ast.File // sorted by file name
	Names []string    // file base names, parallel to Files
}

// ParseDir parses the .go files in dir that keep returns true for.
func ParseDir(dir string, keep func(name string) bool, mode parser.Mode) (*Package, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := &Package{Fset: token.NewFileSet()}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || !keep(name) {
			continue
		}
		f, err := parser.ParseFile(p.Fset, filepath.Join(dir, name), nil, mode|parser.ParseComments)
		if err != nil {
			return nil, err
		}
		if ignored(f) {
			continue
		}
		p.Files = append(p.Files, f)
		p.Names = append(p.Names, name)
	}
	return p, nil
}

// ignored reports files excluded from every build (//go:build ignore).
// Files restricted to some GOOS or GOARCH are deliberately kept: a name
// declared by hand on any platform must not be generated as well, or that
// platform's build breaks with a duplicate declaration.
func ignored(f *ast.File) bool {
	for _, cg := range f.Comments {
		if cg.Pos() >= f.Package {
			break
		}
		for _, c := range cg.List {
			if !constraint.IsGoBuild(c.Text) {
				continue
			}
			expr, err := constraint.Parse(c.Text)
			if err != nil {
				continue
			}
			mentionsIgnore := false
			expr.Eval(func(tag string) bool {
				if tag == "ignore" {
					mentionsIgnore = true
				}
				return true
			})
			return mentionsIgnore
		}
	}
	return false
}

// IsSource reports the non-test Go files of a package.
func IsSource(name string) bool { return !strings.HasSuffix(name, "_test.go") }

// IsHandWritten reports the files of curlsock's root package that people
// write: everything but tests and the generators' zz_*.go output.
func IsHandWritten(name string) bool {
	return IsSource(name) && !strings.HasPrefix(name, "zz_")
}

// ParseGoCurl parses go-curl's package files.
func ParseGoCurl(m *Module) (*Package, error) {
	return ParseDir(m.Dir, IsSource, parser.SkipObjectResolution)
}

// TopLevelNames returns every package-scope name the files declare (methods
// excluded), mapped to the file declaring it.
func TopLevelNames(p *Package) map[string]string {
	names := map[string]string{}
	for i, f := range p.Files {
		for _, d := range f.Decls {
			for _, n := range DeclNames(d) {
				if n != "_" {
					names[n] = p.Names[i]
				}
			}
		}
	}
	return names
}

// DeclNames lists the package-scope names a declaration introduces.
func DeclNames(d ast.Decl) []string {
	var out []string
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			out = append(out, d.Name.Name)
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				out = append(out, s.Name.Name)
			case *ast.ValueSpec:
				for _, n := range s.Names {
					out = append(out, n.Name)
				}
			}
		}
	}
	return out
}

// ExportedNames returns the exported package-scope names of p, sorted.
func ExportedNames(p *Package) []string {
	var out []string
	for n := range TopLevelNames(p) {
		if ast.IsExported(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// HandDecl is a package-scope name declared by a hand-written file.
type HandDecl struct {
	File string
	// SameAsGoCurl is set for "type X = gocurl.X": such a declaration is
	// go-curl's own type, so go-curl signatures that use it stay correct.
	SameAsGoCurl bool
}

// HandWritten returns the package-scope names declared by the hand-written
// files of the package in dir.
func HandWritten(dir string) (map[string]HandDecl, error) {
	p, err := ParseDir(dir, IsHandWritten, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	out := map[string]HandDecl{}
	for i, f := range p.Files {
		if f.Name.Name != "curl" {
			return nil, fmt.Errorf("%s: package %s, want curl", p.Names[i], f.Name.Name)
		}
		goCurlName := importName(f, GoCurlPath)
		for _, d := range f.Decls {
			for _, n := range DeclNames(d) {
				if n != "_" {
					out[n] = HandDecl{File: p.Names[i]}
				}
			}
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE || goCurlName == "" {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				sel, ok := ts.Type.(*ast.SelectorExpr)
				if !ts.Assign.IsValid() || ts.TypeParams != nil || !ok {
					continue
				}
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == goCurlName && sel.Sel.Name == ts.Name.Name {
					out[ts.Name.Name] = HandDecl{File: p.Names[i], SameAsGoCurl: true}
				}
			}
		}
	}
	return out, nil
}

// importName returns the name under which f imports path, or "".
func importName(f *ast.File, path string) string {
	for _, is := range f.Imports {
		p, err := strconv.Unquote(is.Path.Value)
		if err != nil || p != path {
			continue
		}
		if is.Name != nil {
			return is.Name.Name
		}
		return "curl" // go-curl's package clause
	}
	return ""
}

// OutputPath resolves the -o flag: relative paths are taken relative to the
// package directory, which is also where go generate runs the generators.
func OutputPath(dir, out string) string {
	if out == "-" || filepath.IsAbs(out) {
		return out
	}
	return filepath.Join(dir, out)
}

// WriteOutput writes data to path, or to stdout when path is "-". It goes
// through a temporary file so that an interrupted run never leaves a
// truncated file behind for the compiler.
func WriteOutput(path string, data []byte) error {
	if path == "-" {
		_, err := os.Stdout.Write(data)
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gen-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// CommentList renders items as a comma-separated list wrapped into // lines
// that fit in width columns.
func CommentList(items []string, width int) string {
	var b strings.Builder
	line := "//"
	for i, it := range items {
		if i < len(items)-1 {
			it += ","
		} else {
			it += "."
		}
		if len(line)+1+len(it) > width && line != "//" {
			b.WriteString(line + "\n")
			line = "//"
		}
		line += " " + it
	}
	if line != "//" {
		b.WriteString(line + "\n")
	}
	return b.String()
}
