package main

// What the C compiler makes of libcurl's headers. This generator evaluates
// nothing itself: it takes the names from the preprocessor (the macros in
// force at the end of the headers, from cc -dM -E, and the enumerators of
// every enum, from a light scan of cc -E) and every value from a program
// the compiler builds and runs, which knows the casts, shifts and enums.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/scanner"
)

// headers starts every source handed to the compiler.
const headers = "#include <curl/curl.h>\n#include <curl/multi.h>\n"

// A macro is an object-like or function-like macro as cc -dM prints it.
type macro struct {
	funcLike bool
	body     string
}

// An enumerator is one constant of a C enum, with the text of its
// deprecated("text") attribute if it has one; curl.h's
// CURL_DEPRECATED(version, message) becomes "since version. message".
type enumerator struct {
	name       string
	deprecated bool
	text       string
}

func ccCommand() []string {
	if cc := strings.Fields(os.Getenv("CC")); len(cc) > 0 {
		return cc
	}
	return []string{"gcc"}
}

// cc runs the C compiler ($CC, default gcc) in dir and returns what it
// prints.
func cc(dir string, args ...string) ([]byte, error) {
	c := ccCommand()
	cmd := exec.Command(c[0], append(c[1:], args...)...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v", strings.Join(c, " "), strings.Join(args, " "), err)
	}
	return out, nil
}

// readHeaders preprocesses the headers in inc twice: with -dM for their
// macros, and plainly for their enums.
func readHeaders(tmp, inc string) (map[string]macro, []enumerator, error) {
	if err := os.WriteFile(filepath.Join(tmp, "h.c"), []byte(headers), 0o644); err != nil {
		return nil, nil, err
	}
	dm, err := cc(tmp, "-I"+inc, "-E", "-dM", "h.c")
	if err != nil {
		return nil, nil, err
	}
	macros := parseMacros(dm)
	// curl.h chooses between an attribute and nothing by compiler version
	// (libcurl 8 wants gcc 12.1 or clang 3); nothing would silently drop
	// every deprecation note.
	if m, ok := macros["CURL_DEPRECATED"]; ok && m.body == "" {
		return nil, nil, fmt.Errorf("CURL_DEPRECATED expands to nothing with %s on the headers in %s, so their deprecations cannot be read; use a newer compiler ($CC)",
			strings.Join(ccCommand(), " "), inc)
	}
	e, err := cc(tmp, "-I"+inc, "-E", "h.c")
	if err != nil {
		return nil, nil, err
	}
	enums, err := scanEnums(e)
	return macros, enums, err
}

// parseMacros reads the #define lines of cc -dM, one per macro.
func parseMacros(dm []byte) map[string]macro {
	ms := map[string]macro{}
	for _, line := range strings.Split(string(dm), "\n") {
		def, ok := strings.CutPrefix(line, "#define ")
		if !ok {
			continue
		}
		i := strings.IndexAny(def, " (")
		if i < 0 {
			i = len(def)
		}
		name, rest := def[:i], def[i:]
		var m macro
		// A function-like macro has "(" right after its name; -dM prints
		// its parameters without a ")" among them.
		if m.funcLike = strings.HasPrefix(rest, "("); m.funcLike {
			rest = rest[strings.Index(rest, ")")+1:]
		}
		m.body = strings.TrimSpace(rest)
		ms[name] = m
	}
	return ms
}

var directive = regexp.MustCompile(`(?m)^[ \t]*#.*$`)

// scanEnums returns the enumerators of every enum defined in preprocessed
// C, libcurl's and the system headers' alike.
func scanEnums(src []byte) ([]enumerator, error) {
	var s scanner.Scanner
	// Line markers and #pragma lines may fall inside an enum body.
	s.Init(bytes.NewReader(directive.ReplaceAll(src, nil)))
	s.Mode = scanner.ScanIdents | scanner.ScanInts | scanner.ScanFloats | scanner.ScanStrings | scanner.ScanChars
	s.Error = func(*scanner.Scanner, string) {} // C is not quite Go
	var toks []string
	for t := s.Scan(); t != scanner.EOF; t = s.Scan() {
		toks = append(toks, s.TokenText())
	}
	var enums []enumerator
	for i := 0; i < len(toks); i++ {
		if toks[i] != "enum" {
			continue
		}
		j := i + 1
		if j < len(toks) && isIdent(toks[j]) {
			j++ // the tag
		}
		if j >= len(toks) || toks[j] != "{" {
			continue // a use of an enum type, not a definition
		}
		// An enum body holds no braces; split it at the commas outside
		// parentheses.
		depth, start := 0, j+1
		for i = start; i < len(toks) && toks[i] != "}"; i++ {
			switch toks[i] {
			case "(":
				depth++
			case ")":
				depth--
			}
			if toks[i] == "," && depth == 0 {
				e, err := readEnumerator(toks[start:i])
				if err != nil {
					return nil, err
				}
				enums = append(enums, e)
				start = i + 1
			}
		}
		if start < i { // no trailing comma
			e, err := readEnumerator(toks[start:i])
			if err != nil {
				return nil, err
			}
			enums = append(enums, e)
		}
	}
	return enums, nil
}

func readEnumerator(toks []string) (enumerator, error) {
	if len(toks) == 0 || !isIdent(toks[0]) {
		return enumerator{}, fmt.Errorf("enumerator %q does not start with a name", strings.Join(toks, " "))
	}
	e := enumerator{name: toks[0]}
	for i := 1; i+1 < len(toks) && !e.deprecated; i++ {
		if toks[i] != "deprecated" || toks[i+1] != "(" {
			continue
		}
		e.deprecated = true
		for i += 2; i < len(toks) && toks[i] != ")"; i++ {
			s, err := strconv.Unquote(toks[i])
			if err != nil {
				s = strings.Trim(toks[i], `"`) // a C escape Go lacks
			}
			e.text += s
		}
	}
	return e, nil
}

// deprecation splits the text of libcurl's deprecated attribute into the
// version and the message.
func deprecation(e enumerator) (since, msg string, err error) {
	rest, ok := strings.CutPrefix(e.text, "since ")
	if ok {
		since, msg, ok = strings.Cut(rest, ". ")
	}
	if !ok || since == "" {
		return "", "", fmt.Errorf("%s: deprecated(%q) is not \"since VERSION. message\"", e.name, e.text)
	}
	return since, msg, nil
}

func isIdent(s string) bool {
	for i, r := range s {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}

// probe compiles and runs a program printing every name's value, and
// returns the values of the names that are integer constants; the others
// (a string macro, say) are left out.
func probe(tmp, inc string, names []string) (map[string]int64, error) {
	var src strings.Builder
	src.WriteString("#include <stdio.h>\n" + headers)
	src.WriteString(`#define P(x) printf("%s %d %lld\n", #x, _Generic((x), _Bool: 1, char: 1, ` +
		`signed char: 1, unsigned char: 1, short: 1, unsigned short: 1, int: 1, unsigned: 1, long: 1, ` +
		`unsigned long: 1, long long: 1, unsigned long long: 1, default: 0), (long long)(x))` + "\n")
	src.WriteString("int main(void) {\n")
	for _, n := range names {
		fmt.Fprintf(&src, "\tP(%s);\n", n)
	}
	src.WriteString("\treturn 0;\n}\n")
	if err := os.WriteFile(filepath.Join(tmp, "probe.c"), []byte(src.String()), 0o644); err != nil {
		return nil, err
	}
	// -w: deprecated enumerators warn on every use, which is noise here.
	if _, err := cc(tmp, "-w", "-I"+inc, "-o", "probe", "probe.c"); err != nil {
		return nil, fmt.Errorf("compiling the probe program: %v", err)
	}
	out, err := exec.Command(filepath.Join(tmp, "probe")).Output()
	if err != nil {
		return nil, fmt.Errorf("running the probe program: %v", err)
	}
	values := map[string]int64{}
	printed := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			return nil, fmt.Errorf("the probe program printed %q", sc.Text())
		}
		v, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("the probe program printed %q", sc.Text())
		}
		printed[f[0]] = true
		if f[1] == "1" {
			values[f[0]] = v
		}
	}
	var missing []string
	for _, n := range names {
		if !printed[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("the probe program printed nothing for %s", strings.Join(missing, ", "))
	}
	return values, nil
}
