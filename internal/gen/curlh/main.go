// Command curlh writes zz_curlh.go: every CURLOPT_*, CURLINFO_*, CURLE_* and
// CURLMOPT_* constant of the build machine's libcurl headers that go-curl
// has no counterpart for, named the go-curl way (CURLOPT_X becomes OPT_X,
// CURLINFO_X INFO_X, CURLE_X E_X, CURLMOPT_X MOPT_X).
//
// The constants are plain numbers, not C.xxx references, so that package
// curl still builds against an older libcurl that lacks some of them; using
// such an option then fails at run time with libcurl's own error. The values
// are computed from the header text and then checked against what the C
// compiler makes of the same headers; any disagreement fails generation.
//
// Names go-curl already has, and names curlsock's hand-written files
// declare, are left out. Run it from the package directory (go generate
// does); -o - prints the file instead of writing it.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/curlsock/curlsock/internal/gen/genutil"
)

// prefixes maps libcurl's prefixes to go-curl's, in output order.
var prefixes = []struct{ c, go_, what string }{
	{"CURLE_", "E_", "CURLcode values"},
	{"CURLOPT_", "OPT_", "Options for (*CURL).Setopt"},
	{"CURLINFO_", "INFO_", "Codes for (*CURL).Getinfo with their type bits, and curl_infotype values"},
	{"CURLMOPT_", "MOPT_", "Options for (*CURLM).Setopt"},
}

// Sentinels mark the end of an enum and move with every libcurl release; a
// number baked in from one release would be wrong for the next. OBSOLETE
// and RESERVED entries are placeholders keeping the numbering, never valid
// to use.
var skipName = regexp.MustCompile(`^(CURLOPT_LASTENTRY|CURLMOPT_LASTENTRY|CURLINFO_LASTONE|CURL[A-Z]*_(OBSOLETE|RESERVED)[0-9]*)$`)

func main() {
	dir := flag.String("dir", ".", "directory of package curl")
	out := flag.String("o", "zz_curlh.go", "output file, relative to -dir; - for stdout")
	inc := flag.String("include", "", "directory holding curl/curl.h (default: from pkg-config libcurl, else /usr/include and the multiarch directory)")
	verify := flag.Bool("verify", true, "check every value against the C compiler ($CC, default gcc)")
	flag.Parse()
	if err := run(*dir, genutil.OutputPath(*dir, *out), *inc, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "curlh:", err)
		os.Exit(1)
	}
}

type constant struct {
	cName, goName string
	value         int64
	aliasOf       string   // for #define CURLOPT_OLD CURLOPT_NEW
	deprecated    []string // version, message
	order         int
}

func run(dir, out, inc string, verify bool) error {
	if inc == "" {
		var err error
		if inc, err = findInclude(); err != nil {
			return err
		}
	}
	p := newCPP()
	for _, h := range []string{"curl.h", "multi.h"} {
		src, err := os.ReadFile(filepath.Join(inc, "curl", h))
		if err != nil {
			return err
		}
		if err := p.Feed(h, string(src)); err != nil {
			return err
		}
	}
	if err := p.ReadEnums(); err != nil {
		return err
	}
	version, err := libcurlVersion(inc)
	if err != nil {
		return err
	}

	all, err := collect(p)
	if err != nil {
		return err
	}
	if verify {
		if err := verifyWithCC(inc, p, all); err != nil {
			return err
		}
	}

	mod, err := genutil.FindGoCurl(dir)
	if err != nil {
		return err
	}
	gc, err := genutil.ParseGoCurl(mod)
	if err != nil {
		return err
	}
	goCurl := genutil.TopLevelNames(gc)
	hand, err := genutil.HandWritten(dir)
	if err != nil {
		return err
	}

	var emit []constant
	counts := map[string]int{}
	var byHand []string
	for _, c := range all {
		if skipName.MatchString(c.cName) {
			continue
		}
		if _, ok := goCurl[c.goName]; ok {
			continue
		}
		if _, ok := hand[c.goName]; ok {
			byHand = append(byHand, c.goName)
			continue
		}
		emit = append(emit, c)
		counts[prefixOf(c.cName).go_]++
	}
	if len(byHand) > 0 {
		fmt.Fprintf(os.Stderr, "curlh: declared by hand, not generated: %s\n", strings.Join(byHand, ", "))
	}
	var summary []string
	for _, pf := range prefixes {
		summary = append(summary, fmt.Sprintf("%s* %d", pf.go_, counts[pf.go_]))
	}
	fmt.Fprintf(os.Stderr, "curlh: libcurl %s: %d names in the headers, %d added (%s)\n",
		version, len(all), len(emit), strings.Join(summary, ", "))

	src, err := render(version, emit)
	if err != nil {
		return err
	}
	return genutil.WriteOutput(out, src)
}

func prefixOf(name string) struct{ c, go_, what string } {
	for _, pf := range prefixes {
		if strings.HasPrefix(name, pf.c) {
			return pf
		}
	}
	panic("no prefix for " + name)
}

func hasPrefix(name string) bool {
	for _, pf := range prefixes {
		if strings.HasPrefix(name, pf.c) {
			return true
		}
	}
	return false
}

// collect evaluates every enumerator and object-like macro with one of the
// prefixes. A macro wins over an enumerator of the same name, as in C.
func collect(p *cpp) ([]constant, error) {
	byName := map[string]constant{}
	for _, e := range p.enums {
		if !hasPrefix(e.Name) {
			continue
		}
		c := constant{cName: e.Name, value: e.Value, deprecated: e.Deprecated, order: e.order}
		byName[e.Name] = c
	}
	for name, m := range p.macros {
		if !hasPrefix(name) || m.funcLike {
			continue
		}
		v, err := p.Value(name)
		if err != nil {
			return nil, fmt.Errorf("#define %s %s: %v", name, joinToks(m.body), err)
		}
		c := constant{cName: name, value: v, order: m.order}
		if len(m.body) == 1 && m.body[0].kind == tIdent {
			c.aliasOf = m.body[0].text
		}
		byName[name] = c
	}
	var all []constant
	for _, c := range byName {
		pf := prefixOf(c.cName)
		c.goName = pf.go_ + strings.TrimPrefix(c.cName, pf.c)
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		pa, pb := prefixRank(a.cName), prefixRank(b.cName)
		if pa != pb {
			return pa < pb
		}
		if a.value != b.value {
			return a.value < b.value
		}
		if (a.aliasOf == "") != (b.aliasOf == "") {
			return a.aliasOf == ""
		}
		return a.cName < b.cName
	})
	return all, nil
}

func prefixRank(name string) int {
	for i, pf := range prefixes {
		if strings.HasPrefix(name, pf.c) {
			return i
		}
	}
	return len(prefixes)
}

func render(version string, cs []constant) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by \"go run ./internal/gen/curlh\"; DO NOT EDIT.\n\n")
	b.WriteString("// libcurl constants that go-curl has no name for, as plain numbers so\n")
	b.WriteString("// that this package also builds against a libcurl that lacks some of\n")
	b.WriteString("// them; such an option then fails at run time with libcurl's own error.\n")
	fmt.Fprintf(&b, "//\n// Source: curl/curl.h and curl/multi.h of libcurl %s\n\npackage curl\n", version)
	for _, pf := range prefixes {
		var lines []string
		for _, c := range cs {
			if !strings.HasPrefix(c.cName, pf.c) {
				continue
			}
			val := strconv.FormatInt(c.value, 10)
			if pf.c == "CURLINFO_" && c.value >= 0x100000 {
				// The high bits say which type curl_easy_getinfo returns.
				val = fmt.Sprintf("%#x + %d", c.value&^0xfffff, c.value&0xfffff)
				if c.value&0xfffff == 0 {
					val = fmt.Sprintf("%#x", c.value)
				}
			} else if c.value > 0xffff {
				val = fmt.Sprintf("%#x", c.value) // CURLINFO_MASK
			}
			note := ""
			switch {
			case c.aliasOf != "":
				note = " // = " + c.aliasOf
			case len(c.deprecated) == 2:
				msg, err := strconv.Unquote(c.deprecated[1])
				if err != nil {
					msg = c.deprecated[1]
				}
				note = fmt.Sprintf(" // Deprecated since %s: %s", c.deprecated[0], msg)
			}
			lines = append(lines, fmt.Sprintf("\t%s = %s%s\n", c.goName, val, note))
		}
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n// %s (%s*).\nconst (\n%s)\n", pf.what, pf.c, strings.Join(lines, ""))
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting generated code: %v\n%s", err, b.Bytes())
	}
	return src, nil
}

// findInclude locates the directory holding curl/curl.h the way the cgo
// build will: pkg-config's include flags for libcurl (the package's
// #cgo pkg-config line), else the compiler's default directories.
func findInclude() (string, error) {
	var dirs []string
	if out, err := exec.Command("pkg-config", "--cflags-only-I", "libcurl").Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "-I") {
				dirs = append(dirs, strings.TrimPrefix(f, "-I"))
			}
		}
	}
	if out, err := exec.Command(ccCommand()[0], "-print-multiarch").Output(); err == nil {
		if ma := strings.TrimSpace(string(out)); ma != "" {
			dirs = append(dirs, filepath.Join("/usr/include", ma))
		}
	}
	dirs = append(dirs, "/usr/local/include", "/usr/include")
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "curl", "curl.h")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("curl/curl.h not found in %s; use -include", strings.Join(dirs, ", "))
}

var versionRE = regexp.MustCompile(`(?m)^#define\s+LIBCURL_VERSION\s+"([^"]+)"`)

func libcurlVersion(inc string) (string, error) {
	src, err := os.ReadFile(filepath.Join(inc, "curl", "curlver.h"))
	if err != nil {
		return "", err
	}
	m := versionRE.FindSubmatch(src)
	if m == nil {
		return "", fmt.Errorf("no LIBCURL_VERSION in curlver.h")
	}
	return string(m[1]), nil
}

func ccCommand() []string {
	if cc := strings.Fields(os.Getenv("CC")); len(cc) > 0 {
		return cc
	}
	return []string{"gcc"}
}

// verifyWithCC compiles and runs a C program printing every constant, and
// asks the preprocessor for its list of macros, so that a header construct
// this generator misreads fails generation instead of shipping a wrong
// option number.
func verifyWithCC(inc string, p *cpp, all []constant) error {
	tmp, err := os.MkdirTemp("", "curlh-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cc := ccCommand()

	// Macro names: a conditional this generator evaluated differently
	// from the compiler shows up as a missing or extra name.
	hdr := filepath.Join(tmp, "h.c")
	if err := os.WriteFile(hdr, []byte("#include <curl/curl.h>\n#include <curl/multi.h>\n"), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(cc[0], append(cc[1:], "-I"+inc, "-E", "-dM", hdr)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("%s -E -dM: %v", strings.Join(cc, " "), err)
	}
	ccMacros := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "#define" && hasPrefix(f[1]) && !strings.Contains(f[1], "(") {
			ccMacros[f[1]] = true
		}
	}
	var problems []string
	for name := range ccMacros {
		if m, ok := p.macros[name]; !ok || m.funcLike {
			problems = append(problems, "the compiler defines macro "+name+", the generator does not")
		}
	}
	for name, m := range p.macros {
		if hasPrefix(name) && !m.funcLike && !ccMacros[name] {
			problems = append(problems, "the generator defines macro "+name+", the compiler does not")
		}
	}

	var src strings.Builder
	src.WriteString("#include <stdio.h>\n#include <curl/curl.h>\n#include <curl/multi.h>\nint main(void) {\n")
	for _, c := range all {
		fmt.Fprintf(&src, "\tprintf(\"%%s %%lld\\n\", \"%s\", (long long)(%s));\n", c.cName, c.cName)
	}
	src.WriteString("\treturn 0;\n}\n")
	prog := filepath.Join(tmp, "v.c")
	if err := os.WriteFile(prog, []byte(src.String()), 0o644); err != nil {
		return err
	}
	bin := filepath.Join(tmp, "v")
	// -w: deprecated enumerators warn on every use, which is noise here.
	cmd = exec.Command(cc[0], append(cc[1:], "-w", "-I"+inc, "-o", bin, prog)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("compiling the check program: %v", err)
	}
	out, err = exec.Command(bin).Output()
	if err != nil {
		return fmt.Errorf("running the check program: %v", err)
	}
	got := map[string]int64{}
	sc = bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return fmt.Errorf("check program printed %q", sc.Text())
		}
		got[f[0]] = v
	}
	for _, c := range all {
		v, ok := got[c.cName]
		switch {
		case !ok:
			problems = append(problems, c.cName+": not printed by the check program")
		case v != c.value:
			problems = append(problems, fmt.Sprintf("%s: generator computed %d, the compiler says %d", c.cName, c.value, v))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return fmt.Errorf("values disagree with %s on the headers in %s:\n\t%s", cc[0], inc, strings.Join(problems, "\n\t"))
	}
	fmt.Fprintf(os.Stderr, "curlh: %d values checked against %s\n", len(all), strings.Join(cc, " "))
	return nil
}
