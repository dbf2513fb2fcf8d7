// Command gocurlapi writes zz_gocurl.go: a same-named counterpart in package
// curl for every exported identifier of github.com/andelf/go-curl, so that a
// go-curl program builds after changing nothing but its import path.
//
// Identifiers that curlsock's hand-written files declare themselves are left
// out; they are reported on stderr. Run it from the package directory (go
// generate does); -o - prints the file instead of writing it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/token"
	"go/types"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/curlsock/curlsock/internal/gen/genutil"
)

func main() {
	dir := flag.String("dir", ".", "directory of package curl")
	out := flag.String("o", "zz_gocurl.go", "output file, relative to -dir; - for stdout")
	flag.Parse()
	if err := run(*dir, genutil.OutputPath(*dir, *out)); err != nil {
		fmt.Fprintln(os.Stderr, "gocurlapi:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	mod, err := genutil.FindGoCurl(dir)
	if err != nil {
		return err
	}
	pkg, err := genutil.ParseGoCurl(mod)
	if err != nil {
		return err
	}
	hand, err := genutil.HandWritten(dir)
	if err != nil {
		return err
	}
	g := newGenerator(mod, pkg, hand)
	src, err := g.generate()
	if err != nil {
		return err
	}
	if len(g.skipped) > 0 {
		var list []string
		for _, n := range g.skipped {
			list = append(list, n+" ("+hand[n].File+")")
		}
		fmt.Fprintf(os.Stderr, "gocurlapi: %d go-curl identifiers declared by hand, not re-exported: %s\n",
			len(list), strings.Join(list, ", "))
	}
	fmt.Fprintf(os.Stderr, "gocurlapi: re-exported %d go-curl identifiers (%d const, %d type, %d func, %d var); func wrappers: %d, func vars: %s\n",
		g.count.total(), g.count.consts, g.count.types, g.count.funcs+g.count.funcVars, g.count.vars,
		g.count.funcs, listOrNone(g.funcVars))
	return genutil.WriteOutput(out, src)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

type generator struct {
	mod  *genutil.Module
	pkg  *genutil.Package
	hand map[string]genutil.HandDecl

	// Every package-scope declaration of go-curl, exported or not, so that
	// identifiers in signatures can be told apart from predeclared ones.
	typeNames map[string]bool
	allNames  map[string]string
	methods   map[string][]*ast.FuncDecl // by receiver base type name

	imports  map[string]string // package name -> import path, beyond gocurl
	skipped  []string
	funcVars []string
	count    counts
	problems []string
}

type counts struct{ consts, types, funcs, funcVars, vars int }

func (c counts) total() int { return c.consts + c.types + c.funcs + c.funcVars + c.vars }

func newGenerator(mod *genutil.Module, pkg *genutil.Package, hand map[string]genutil.HandDecl) *generator {
	g := &generator{
		mod:       mod,
		pkg:       pkg,
		hand:      hand,
		typeNames: map[string]bool{},
		allNames:  genutil.TopLevelNames(pkg),
		methods:   map[string][]*ast.FuncDecl{},
		imports:   map[string]string{},
	}
	for _, f := range pkg.Files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				if d.Tok == token.TYPE {
					for _, s := range d.Specs {
						g.typeNames[s.(*ast.TypeSpec).Name.Name] = true
					}
				}
			case *ast.FuncDecl:
				if d.Recv != nil && len(d.Recv.List) == 1 {
					if base := receiverBase(d.Recv.List[0].Type); base != "" {
						g.methods[base] = append(g.methods[base], d)
					}
				}
			}
		}
	}
	return g
}

func receiverBase(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.ParenExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return ""
		}
	}
}

// typeRefs describes the identifiers a type expression of go-curl uses.
type typeRefs struct {
	goCurlTypes   []string          // go-curl package-level types named
	inexpressible []string          // C.x and unexported go-curl names: cannot be spelled outside go-curl
	imports       map[string]string // package name -> path, for other packages named
}

// refs walks the type expressions below n (field names are not types and
// are skipped) and classifies every name they mention.
func (g *generator) refs(file *ast.File, n ast.Node) typeRefs {
	r := typeRefs{imports: map[string]string{}}
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		ast.Inspect(n, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Field:
				if n.Type != nil {
					walk(n.Type)
				}
				return false
			case *ast.SelectorExpr:
				x, ok := n.X.(*ast.Ident)
				if !ok {
					return true
				}
				if x.Name == "C" {
					r.inexpressible = append(r.inexpressible, "C."+n.Sel.Name)
					return false
				}
				if p := importPath(file, x.Name); p != "" {
					r.imports[x.Name] = p
				}
				return false
			case *ast.Ident:
				name := n.Name
				if _, ok := g.allNames[name]; ok {
					if g.typeNames[name] {
						r.goCurlTypes = append(r.goCurlTypes, name)
					}
					if !ast.IsExported(name) {
						r.inexpressible = append(r.inexpressible, name)
					}
				}
			}
			return true
		})
	}
	walk(n)
	return r
}

// importPath resolves a package name used in file to its import path.
func importPath(file *ast.File, name string) string {
	for _, is := range file.Imports {
		p, err := strconv.Unquote(is.Path.Value)
		if err != nil {
			continue
		}
		local := path.Base(p)
		if is.Name != nil {
			local = is.Name.Name
		}
		if local == name {
			return p
		}
	}
	return ""
}

// checkHandWrittenRefs fails generation when re-exporting name would pull in
// go-curl's own version of a type that this package declares by hand: the
// re-export would compile, but hand a go-curl value where a curlsock one is
// expected (e.g. a function returning *gocurl.CURL), which is exactly the
// kind of mismatch a go-curl program cannot work around.
func (g *generator) checkHandWrittenRefs(name string, r typeRefs) {
	seen := map[string]bool{}
	for _, t := range r.goCurlTypes {
		if h, ok := g.hand[t]; ok && !h.SameAsGoCurl && t != name && !seen[t] {
			seen[t] = true
			g.problems = append(g.problems, fmt.Sprintf(
				"go-curl's %s uses type %s, which %s declares by hand; declare %s by hand too",
				name, t, h.File, name))
		}
	}
}

// isCommentedOutCode recognises doc comments that are really disabled
// declarations in go-curl (e.g. "//   M_OK = C.CURLM_OK"); copying them onto
// the next constant would document it with unrelated text.
func isCommentedOutCode(cg *ast.CommentGroup) bool {
	for _, c := range cg.List {
		t := strings.TrimSpace(strings.TrimPrefix(c.Text, "//"))
		if i := strings.Index(t, "="); i > 0 && token.IsIdentifier(strings.TrimSpace(t[:i])) {
			return true
		}
	}
	return false
}

func writeDoc(b *bytes.Buffer, cg *ast.CommentGroup) {
	if cg == nil || isCommentedOutCode(cg) {
		return
	}
	for _, c := range cg.List {
		b.WriteString(c.Text)
		b.WriteByte('\n')
	}
}

func lineComment(cg *ast.CommentGroup) string {
	if cg == nil {
		return ""
	}
	var parts []string
	for _, c := range cg.List {
		parts = append(parts, c.Text)
	}
	return " " + strings.Join(parts, " ")
}

// want reports whether go-curl's name gets a counterpart here.
func (g *generator) want(name string) bool {
	if !ast.IsExported(name) {
		return false
	}
	if _, ok := g.hand[name]; ok {
		g.skipped = append(g.skipped, name)
		return false
	}
	return true
}

func (g *generator) generate() ([]byte, error) {
	var body bytes.Buffer
	for i, f := range g.pkg.Files {
		var fileOut bytes.Buffer
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.GenDecl:
				g.genDecl(&fileOut, f, d)
			case *ast.FuncDecl:
				g.funcDecl(&fileOut, f, d)
			}
		}
		if fileOut.Len() > 0 {
			fmt.Fprintf(&body, "\n// From go-curl's %s.\n\n", g.pkg.Names[i])
			body.Write(fileOut.Bytes())
		}
	}
	if len(g.problems) > 0 {
		sort.Strings(g.problems)
		return nil, fmt.Errorf("cannot re-export go-curl's API faithfully:\n\t%s", strings.Join(g.problems, "\n\t"))
	}

	var b bytes.Buffer
	b.WriteString("// Code generated by \"go run ./internal/gen/gocurlapi\"; DO NOT EDIT.\n\n//go:build linux\n\n")
	b.WriteString("// Counterparts of every exported identifier of go-curl, so that a go-curl\n")
	b.WriteString("// program builds after changing only its import path. Constants are\n")
	b.WriteString("// declared from go-curl's, so they stay untyped where go-curl's are.\n")
	fmt.Fprintf(&b, "//\n// Source: %s %s\n", genutil.GoCurlPath, g.mod.Version)
	if len(g.skipped) > 0 {
		sort.Strings(g.skipped)
		b.WriteString("//\n// Declared by hand in this package instead:\n")
		b.WriteString(genutil.CommentList(g.skipped, 78))
	}
	b.WriteString("\npackage curl\n\nimport (\n")
	var paths []string
	for name, p := range g.imports {
		if name == "gocurl" {
			return nil, fmt.Errorf("go-curl imports a package named gocurl (%s), which clashes with the generated import", p)
		}
		if path.Base(p) == name {
			paths = append(paths, strconv.Quote(p))
		} else {
			paths = append(paths, name+" "+strconv.Quote(p))
		}
	}
	paths = append(paths, "gocurl "+strconv.Quote(genutil.GoCurlPath))
	sort.Strings(paths)
	for _, p := range paths {
		b.WriteString("\t" + p + "\n")
	}
	b.WriteString(")\n")
	b.Write(body.Bytes())

	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting generated code: %v\n%s", err, b.Bytes())
	}
	return src, nil
}

func (g *generator) genDecl(b *bytes.Buffer, f *ast.File, d *ast.GenDecl) {
	switch d.Tok {
	case token.CONST, token.VAR:
		var lines bytes.Buffer
		n := 0
		for _, s := range d.Specs {
			vs := s.(*ast.ValueSpec)
			r := g.refs(f, &ast.Field{Type: vs.Type})
			for _, v := range vs.Values {
				vr := g.refs(f, v)
				r.goCurlTypes = append(r.goCurlTypes, vr.goCurlTypes...)
			}
			first := true
			for _, name := range vs.Names {
				if !g.want(name.Name) {
					continue
				}
				g.checkHandWrittenRefs(name.Name, r)
				if first && len(d.Specs) > 1 {
					writeDoc(&lines, vs.Doc)
				}
				first = false
				comment := ""
				if len(vs.Names) == 1 {
					comment = lineComment(vs.Comment)
				}
				if d.Tok == token.VAR {
					// Go has no variable aliases: this is a copy made at
					// init time, so writes to one are not seen by the other.
					fmt.Fprintf(&lines, "%s = gocurl.%s // copy of go-curl's variable%s\n", name.Name, name.Name, comment)
					g.count.vars++
				} else {
					fmt.Fprintf(&lines, "%s = gocurl.%s%s\n", name.Name, name.Name, comment)
					g.count.consts++
				}
				n++
			}
		}
		if n == 0 {
			return
		}
		writeDoc(b, d.Doc)
		if n == 1 && len(d.Specs) == 1 {
			fmt.Fprintf(b, "%s %s\n", d.Tok, lines.String())
		} else {
			fmt.Fprintf(b, "%s (\n%s)\n\n", d.Tok, lines.String())
		}
	case token.TYPE:
		for _, s := range d.Specs {
			ts := s.(*ast.TypeSpec)
			if !g.want(ts.Name.Name) {
				continue
			}
			if ts.TypeParams != nil {
				g.problems = append(g.problems, fmt.Sprintf("generic type %s: re-exporting generic types is not implemented", ts.Name.Name))
				continue
			}
			r := g.refs(f, ts.Type)
			for _, m := range g.methods[ts.Name.Name] {
				if ast.IsExported(m.Name.Name) {
					mr := g.refs(f, m.Type)
					r.goCurlTypes = append(r.goCurlTypes, mr.goCurlTypes...)
				}
			}
			g.checkHandWrittenRefs(ts.Name.Name, r)
			if len(d.Specs) == 1 {
				writeDoc(b, d.Doc)
			} else {
				writeDoc(b, ts.Doc)
			}
			fmt.Fprintf(b, "type %s = gocurl.%s\n\n", ts.Name.Name, ts.Name.Name)
			g.count.types++
		}
	}
}

func (g *generator) funcDecl(b *bytes.Buffer, f *ast.File, d *ast.FuncDecl) {
	if d.Recv != nil || !g.want(d.Name.Name) {
		return
	}
	name := d.Name.Name
	if d.Type.TypeParams != nil {
		g.problems = append(g.problems, fmt.Sprintf("generic func %s: re-exporting generic functions is not implemented", name))
		return
	}
	r := g.refs(f, d.Type)
	g.checkHandWrittenRefs(name, r)
	writeDoc(b, d.Doc)
	if len(r.inexpressible) > 0 {
		// The signature names types that only exist inside go-curl (its
		// cgo C.* types), so no wrapper can spell it. A variable of
		// go-curl's own function type keeps every call a go-curl program
		// can write compiling: untyped constants such as VERSION_NOW still
		// convert, and so do values go-curl itself returned with that type.
		fmt.Fprintf(b, "var %s = gocurl.%s\n\n", name, name)
		g.funcVars = append(g.funcVars, name)
		g.count.funcVars++
		return
	}
	for k, p := range r.imports {
		g.imports[k] = p
	}
	params, args, variadic := g.params(d.Type.Params)
	results := resultList(d.Type.Results)
	call := fmt.Sprintf("gocurl.%s(%s%s)", name, strings.Join(args, ", "), map[bool]string{true: "...", false: ""}[variadic])
	if d.Type.Results != nil && d.Type.Results.NumFields() > 0 {
		call = "return " + call
	}
	fmt.Fprintf(b, "func %s(%s)%s {\n\t%s\n}\n\n", name, strings.Join(params, ", "), results, call)
	g.count.funcs++
}

func resultList(fl *ast.FieldList) string {
	if fl == nil || len(fl.List) == 0 {
		return ""
	}
	if len(fl.List) == 1 && len(fl.List[0].Names) == 0 {
		return " " + types.ExprString(fl.List[0].Type)
	}
	var parts []string
	for _, f := range fl.List {
		var names []string
		for _, n := range f.Names {
			names = append(names, n.Name)
		}
		parts = append(parts, strings.TrimSpace(strings.Join(names, ", ")+" "+types.ExprString(f.Type)))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// params renders a parameter list with every parameter named, so that the
// wrapper can pass them on; names that would shadow the gocurl import or a
// package used in the signature are renamed.
func (g *generator) params(fl *ast.FieldList) (params, args []string, variadic bool) {
	reserved := map[string]bool{"gocurl": true}
	for k := range g.imports {
		reserved[k] = true
	}
	i := 0
	for _, field := range fl.List {
		typ := types.ExprString(field.Type)
		if _, ok := field.Type.(*ast.Ellipsis); ok {
			variadic = true
		}
		names := field.Names
		if len(names) == 0 {
			names = []*ast.Ident{{Name: "_"}}
		}
		var ns []string
		for _, n := range names {
			name := n.Name
			if name == "_" || reserved[name] {
				name = fmt.Sprintf("p%d", i)
			}
			ns = append(ns, name)
			args = append(args, name)
			i++
		}
		params = append(params, strings.Join(ns, ", ")+" "+typ)
	}
	return params, args, variadic
}
