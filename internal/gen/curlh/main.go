// Command curlh writes zz_curlh.go: every constant of the build machine's
// libcurl headers (curl.h, multi.h) that go-curl has no counterpart for,
// within the families listed in blocks: options and info codes (CURLOPT_*,
// CURLINFO_*, CURLMOPT_*), result codes (CURLE_*, CURLM_*, CURLSHE_*), and
// the values and bits passed to or read from them (CURL_HTTP_VERSION_*,
// CURLAUTH_*, CURLPROTO_* ...). They are named the go-curl way, "CURL" or
// "CURL_" dropped: CURLOPT_X becomes OPT_X, CURL_HTTP_VERSION_X
// HTTP_VERSION_X, CURLSSLOPT_X SSLOPT_X.
//
// The constants are plain numbers, not C.xxx references, so that package
// curl still builds against an older libcurl that lacks some of them; using
// such an option or value then fails at run time with libcurl's own error.
// Names and values come from the C compiler ($CC, default gcc) on the same
// headers: see cc.go.
//
// Names go-curl already has, and names curlsock's hand-written files
// declare, are left out, after checking that they stand for the same
// libcurl constant; two libcurl names for one Go name fail generation. Run
// it from the package directory (go generate does); -o - prints the file
// instead of writing it.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"math/big"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/curlsock/curlsock/internal/gen/genutil"
)

// A block is one const group of the output: a heading and the libcurl
// prefixes it holds, each with its go-curl counterpart. go-curl drops
// "CURL" or "CURL_" (CURLOPT_X becomes OPT_X, CURL_HTTP_VERSION_X
// HTTP_VERSION_X); a prefix may also be a whole name (CURL_HET_DEFAULT).
type block struct {
	what     string
	prefixes []prefix
	// bits renders single-bit values as 1 << n; hex renders values above
	// 0xffff in hexadecimal. Others are decimal.
	bits, hex bool
}

type prefix struct {
	c, go_ string
	whole  bool // c is one name, not a prefix
	// mask32 keeps the low 32 bits, as go-curl does for CURLAUTH_*: C's
	// unsigned long ~CURLAUTH_DIGEST_IE would otherwise be negative here.
	mask32 bool
	rank   int    // position in the whole table, set by init
	blk    *block // the block holding it, set by init
}

// pattern is how headings and messages name the prefix's constants.
func (pf *prefix) pattern() string {
	if pf.whole {
		return pf.c
	}
	return pf.c + "*"
}

var blocks = []block{
	{what: "CURLcode values", hex: true, prefixes: []prefix{{c: "CURLE_", go_: "E_"}}},
	{what: "Options for (*CURL).Setopt", hex: true, prefixes: []prefix{{c: "CURLOPT_", go_: "OPT_"}}},
	{what: "Codes for (*CURL).Getinfo with their type bits, and curl_infotype values", hex: true, prefixes: []prefix{{c: "CURLINFO_", go_: "INFO_"}}},
	{what: "Options for (*CURLM).Setopt", hex: true, prefixes: []prefix{{c: "CURLMOPT_", go_: "MOPT_"}}},
	{what: "CURLMcode values", prefixes: []prefix{{c: "CURLM_", go_: "M_"}}},
	{what: "CURLSHcode values", prefixes: []prefix{{c: "CURLSHE_", go_: "SHE_"}}},

	{what: "Values for OPT_HTTP_VERSION", prefixes: []prefix{{c: "CURL_HTTP_VERSION_", go_: "HTTP_VERSION_"}}},
	{what: "Values for OPT_SSLVERSION and OPT_PROXY_SSLVERSION: a minimum, ORed with a maximum", hex: true, prefixes: []prefix{
		{c: "CURL_SSLVERSION_", go_: "SSLVERSION_"}, {c: "CURL_SSLVERSION_MAX_", go_: "SSLVERSION_MAX_"}}},
	{what: "Bits for OPT_SSL_OPTIONS and OPT_PROXY_SSL_OPTIONS", bits: true, prefixes: []prefix{{c: "CURLSSLOPT_", go_: "SSLOPT_"}}},
	{what: "Bits for OPT_HTTPAUTH and OPT_PROXYAUTH", bits: true, prefixes: []prefix{{c: "CURLAUTH_", go_: "AUTH_", mask32: true}}},
	{what: "Bits for OPT_SSH_AUTH_TYPES", bits: true, prefixes: []prefix{{c: "CURLSSH_AUTH_", go_: "SSH_AUTH_"}}},
	{what: "Bits for OPT_GSSAPI_DELEGATION", bits: true, prefixes: []prefix{{c: "CURLGSSAPI_DELEGATION_", go_: "GSSAPI_DELEGATION_"}}},
	{what: "Bits for OPT_PROTOCOLS and OPT_REDIR_PROTOCOLS", bits: true, prefixes: []prefix{{c: "CURLPROTO_", go_: "PROTO_"}}},
	{what: "Values for OPT_IPRESOLVE", prefixes: []prefix{{c: "CURL_IPRESOLVE_", go_: "IPRESOLVE_"}}},
	{what: "Values for OPT_NETRC", prefixes: []prefix{{c: "CURL_NETRC_", go_: "NETRC_"}}},
	{what: "Values for OPT_PROXYTYPE", prefixes: []prefix{{c: "CURLPROXY_", go_: "PROXY_"}}},
	{what: "Values of INFO_PROXY_ERROR", prefixes: []prefix{{c: "CURLPX_", go_: "PX_"}}},
	{what: "Values of TLSSessionInfo.Backend, from INFO_TLS_SSL_PTR and INFO_TLS_SESSION", prefixes: []prefix{{c: "CURLSSLBACKEND_", go_: "SSLBACKEND_"}}},
	{what: "Values for OPT_USE_SSL, and their names from before 7.17.0", prefixes: []prefix{
		{c: "CURLUSESSL_", go_: "USESSL_"}, {c: "CURLFTPSSL_", go_: "FTPSSL_"}}},
	{what: "Values for OPT_FTPSSLAUTH", prefixes: []prefix{{c: "CURLFTPAUTH_", go_: "FTPAUTH_"}}},
	{what: "Values for OPT_FTP_SSL_CCC", prefixes: []prefix{{c: "CURLFTPSSL_CCC_", go_: "FTPSSL_CCC_"}}},
	{what: "Values for OPT_FTP_FILEMETHOD", prefixes: []prefix{{c: "CURLFTPMETHOD_", go_: "FTPMETHOD_"}}},
	{what: "Values for OPT_FTP_CREATE_MISSING_DIRS", prefixes: []prefix{{c: "CURLFTP_CREATE_DIR", go_: "FTP_CREATE_DIR"}}},
	{what: "Bits for OPT_HEADEROPT", bits: true, prefixes: []prefix{{c: "CURLHEADER_", go_: "HEADER_"}}},
	{what: "Bits for OPT_POSTREDIR", prefixes: []prefix{{c: "CURL_REDIR_", go_: "REDIR_"}}},
	{what: "Values for OPT_TIMECONDITION", prefixes: []prefix{{c: "CURL_TIMECOND_", go_: "TIMECOND_"}}},
	{what: "Values for OPT_RTSP_REQUEST", prefixes: []prefix{{c: "CURL_RTSPREQ_", go_: "RTSPREQ_"}}},
	{what: "Bits for OPT_ALTSVC_CTRL", bits: true, prefixes: []prefix{{c: "CURLALTSVC_", go_: "ALTSVC_"}}},
	{what: "Bits for OPT_HSTS_CTRL", bits: true, prefixes: []prefix{{c: "CURLHSTS_", go_: "HSTS_"}}},
	{what: "Bits for OPT_MIME_OPTIONS", bits: true, prefixes: []prefix{{c: "CURLMIMEOPT_", go_: "MIMEOPT_"}}},
	{what: "Defaults of OPT_HAPPY_EYEBALLS_TIMEOUT_MS and OPT_UPKEEP_INTERVAL_MS, and buffer size limits", prefixes: []prefix{
		{c: "CURL_HET_DEFAULT", go_: "HET_DEFAULT", whole: true},
		{c: "CURL_UPKEEP_INTERVAL_DEFAULT", go_: "UPKEEP_INTERVAL_DEFAULT", whole: true},
		{c: "CURL_MAX_", go_: "MAX_"}}},
	{what: "Special results of write and read callbacks", hex: true, prefixes: []prefix{
		{c: "CURL_WRITEFUNC_", go_: "WRITEFUNC_"}, {c: "CURL_READFUNC_", go_: "READFUNC_"}}},
	{what: "Bits for (*CURL).Pause", bits: true, prefixes: []prefix{{c: "CURLPAUSE_", go_: "PAUSE_"}}},
	{what: "Values for MOPT_PIPELINING", prefixes: []prefix{{c: "CURLPIPE_", go_: "PIPE_"}}},
	{what: "The multi socket interface: what a MOPT_SOCKETFUNCTION callback is told to wait for, and what curl_multi_socket_action is told happened", prefixes: []prefix{
		{c: "CURL_POLL_", go_: "POLL_"}, {c: "CURL_CSELECT_", go_: "CSELECT_"}, {c: "CURL_SOCKET_TIMEOUT", go_: "SOCKET_TIMEOUT", whole: true}}},
	{what: "Events of struct curl_waitfd (curl_multi_wait, curl_multi_poll)", bits: true, prefixes: []prefix{{c: "CURL_WAIT_", go_: "WAIT_"}}},
	{what: "Results of a MOPT_PUSHFUNCTION callback", prefixes: []prefix{{c: "CURL_PUSH_", go_: "PUSH_"}}},
	{what: "Flags for GlobalInit", bits: true, prefixes: []prefix{{c: "CURL_GLOBAL_", go_: "GLOBAL_"}}},
	{what: "Values for (*CURLSH).Setopt(SHOPT_SHARE or SHOPT_UNSHARE, ...)", prefixes: []prefix{{c: "CURL_LOCK_DATA_", go_: "LOCK_DATA_"}}},
	{what: "Struct ages for VersionInfo", prefixes: []prefix{{c: "CURLVERSION_", go_: "VERSION_"}}},
	{what: "Bits of VersionInfo's Features", bits: true, prefixes: []prefix{{c: "CURL_VERSION_", go_: "VERSION_"}}},
}

// prefixes is every block's prefixes, in output order.
var prefixes []*prefix

func init() {
	for i := range blocks {
		for j := range blocks[i].prefixes {
			pf := &blocks[i].prefixes[j]
			pf.rank = len(prefixes)
			pf.blk = &blocks[i]
			prefixes = append(prefixes, pf)
		}
	}
}

// Sentinels mark the end of an enum and move with every libcurl release; a
// number baked in from one release would be wrong for the next (so would
// CURLVERSION_NOW, the newest struct age). OBSOLETE and RESERVED entries
// are placeholders keeping the numbering, never valid to use.
var skipName = regexp.MustCompile(`^(CURLOPT_LASTENTRY|CURLMOPT_LASTENTRY|CURLINFO_LASTONE|CURLVERSION_NOW|CURL[A-Z0-9_]*_LAST|CURL[A-Z0-9_]*_(OBSOLETE|RESERVED)[0-9]*)$`)

func main() {
	dir := flag.String("dir", ".", "directory of package curl")
	out := flag.String("o", "zz_curlh.go", "output file, relative to -dir; - for stdout")
	inc := flag.String("include", "", "directory holding curl/curl.h (default: from pkg-config libcurl, else /usr/include and the multiarch directory)")
	flag.Parse()
	if err := run(*dir, genutil.OutputPath(*dir, *out), *inc); err != nil {
		fmt.Fprintln(os.Stderr, "curlh:", err)
		os.Exit(1)
	}
}

type constant struct {
	cName, goName string
	pf            *prefix
	value         int64
	aliasOf       string // for #define CURLOPT_OLD CURLOPT_NEW
	since, msg    string // deprecated since libcurl version since
}

func run(dir, out, inc string) error {
	if inc == "" {
		var err error
		if inc, err = findInclude(); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp("", "curlh-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	macros, enums, err := readHeaders(tmp, inc)
	if err != nil {
		return err
	}
	version, err := strconv.Unquote(macros["LIBCURL_VERSION"].body)
	if err != nil {
		return fmt.Errorf("LIBCURL_VERSION %q: %v", macros["LIBCURL_VERSION"].body, err)
	}
	values, err := probe(tmp, inc, candidates(macros, enums))
	if err != nil {
		return err
	}
	all, err := collect(macros, enums, values)
	if err != nil {
		return err
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
	handPkg, err := genutil.ParseDir(dir, genutil.IsHandWritten, parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	refs := declRefs(gc)
	for name, ref := range declRefs(handPkg) {
		refs[name] = ref
	}

	var emit []constant
	counts := map[*prefix]int{}
	var byHand, clashes []string
	for _, c := range all {
		if skipName.MatchString(c.cName) {
			continue
		}
		_, inGoCurl := goCurl[c.goName]
		_, byHandName := hand[c.goName]
		if inGoCurl || byHandName {
			// Left out as declared already, which is only right if that
			// declaration is this very libcurl constant.
			if ref, ok := refs[c.goName]; ok && !sameConstant(macros, ref, c) {
				as := "C." + ref.cName
				if ref.cName == "" {
					as = ref.lit.String()
				}
				clashes = append(clashes, fmt.Sprintf("%s would name %s (%d), but go-curl or a hand-written file declares it as %s", c.goName, c.cName, c.value, as))
			}
			if byHandName && !inGoCurl {
				byHand = append(byHand, c.goName)
			}
			continue
		}
		emit = append(emit, c)
		counts[c.pf]++
	}
	if len(clashes) > 0 {
		sort.Strings(clashes)
		return fmt.Errorf("name clashes:\n\t%s", strings.Join(clashes, "\n\t"))
	}
	if len(byHand) > 0 {
		fmt.Fprintf(os.Stderr, "curlh: declared by hand, not generated: %s\n", strings.Join(byHand, ", "))
	}
	var summary []string
	for _, pf := range prefixes {
		if counts[pf] > 0 {
			summary = append(summary, fmt.Sprintf("%s %d", pf.pattern(), counts[pf]))
		}
	}
	fmt.Fprintf(os.Stderr, "curlh: libcurl %s: %d names in the headers, %d added (%s)\n",
		version, len(all), len(emit), strings.Join(summary, ", "))

	src, err := render(version, emit)
	if err != nil {
		return err
	}
	return genutil.WriteOutput(out, src)
}

// declRef is what an existing Go constant is declared as: the first C.NAME
// its value mentions, else a plain integer literal.
type declRef struct {
	cName string
	lit   *big.Int
}

func declRefs(pkg *genutil.Package) map[string]declRef {
	refs := map[string]declRef{}
	for _, f := range pkg.Files {
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i >= len(vs.Values) {
						break
					}
					var r declRef
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.INT {
						r.lit, _ = new(big.Int).SetString(strings.ReplaceAll(lit.Value, "_", ""), 0)
					}
					ast.Inspect(vs.Values[i], func(x ast.Node) bool {
						sel, ok := x.(*ast.SelectorExpr)
						if !ok {
							return r.cName == ""
						}
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "C" && r.cName == "" {
							r.cName = sel.Sel.Name
						}
						return false
					})
					if r.cName != "" || r.lit != nil {
						refs[n.Name] = r
					}
				}
			}
		}
	}
	return refs
}

// sameConstant reports whether an existing declaration stands for c.
func sameConstant(macros map[string]macro, r declRef, c constant) bool {
	if r.cName != "" {
		return canonical(macros, r.cName) == canonical(macros, c.cName)
	}
	v := c.value
	if c.pf.mask32 {
		v &= 1<<32 - 1
	}
	return r.lit.IsInt64() && r.lit.Int64() == v
}

// prefixOf returns the longest prefix name has, so that CURLFTPSSL_CCC_X
// is not taken for a CURLFTPSSL_ name.
func prefixOf(name string) *prefix {
	var best *prefix
	for _, pf := range prefixes {
		match := name == pf.c || !pf.whole && strings.HasPrefix(name, pf.c)
		if match && (best == nil || len(pf.c) > len(best.c)) {
			best = pf
		}
	}
	return best
}

func hasPrefix(name string) bool { return prefixOf(name) != nil }

// canonical follows name through macros that only rename another name
// (#define CURLAUTH_GSSAPI CURLAUTH_NEGOTIATE).
func canonical(macros map[string]macro, name string) string {
	for seen := 0; seen < 100; seen++ {
		m, ok := macros[name]
		if !ok || m.funcLike || !isIdent(m.body) {
			break
		}
		name = m.body
	}
	return name
}

// candidates lists the enumerators and object-like macros with one of the
// prefixes, for the probe to evaluate.
func candidates(macros map[string]macro, enums []enumerator) []string {
	seen := map[string]bool{}
	for _, e := range enums {
		seen[e.name] = hasPrefix(e.name)
	}
	for name, m := range macros {
		seen[name] = hasPrefix(name) && !m.funcLike && m.body != ""
	}
	var names []string
	for name, ok := range seen {
		if ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// collect makes a constant of every enumerator and object-like macro with
// one of the prefixes that values (the probe's) has. A macro wins over an
// enumerator of the same name, as in C.
func collect(macros map[string]macro, enums []enumerator, values map[string]int64) ([]constant, error) {
	byName := map[string]constant{}
	for _, e := range enums {
		v, ok := values[e.name]
		if !ok || !hasPrefix(e.name) {
			continue
		}
		c := constant{cName: e.name, value: v}
		if e.deprecated {
			var err error
			if c.since, c.msg, err = deprecation(e); err != nil {
				return nil, err
			}
		}
		byName[e.name] = c
	}
	for name, m := range macros {
		v, ok := values[name]
		if !ok || !hasPrefix(name) || m.funcLike {
			continue
		}
		c := constant{cName: name, value: v}
		if isIdent(m.body) {
			c.aliasOf = m.body
		}
		byName[name] = c
	}
	var all []constant
	goNames := map[string]string{}
	var dups []string
	for _, c := range byName {
		c.pf = prefixOf(c.cName)
		c.goName = c.pf.go_ + strings.TrimPrefix(c.cName, c.pf.c)
		if other, ok := goNames[c.goName]; ok {
			x, y := min(other, c.cName), max(other, c.cName)
			dups = append(dups, fmt.Sprintf("%s and %s both become %s", x, y, c.goName))
		}
		goNames[c.goName] = c.cName
		all = append(all, c)
	}
	if len(dups) > 0 {
		sort.Strings(dups)
		return nil, fmt.Errorf("two libcurl names for one Go name:\n\t%s", strings.Join(dups, "\n\t"))
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if a.pf.rank != b.pf.rank {
			return a.pf.rank < b.pf.rank
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

func render(version string, cs []constant) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by \"go run ./internal/gen/curlh\"; DO NOT EDIT.\n\n//go:build linux\n\n")
	b.WriteString("// libcurl constants that go-curl has no name for, as plain numbers so\n")
	b.WriteString("// that this package also builds against a libcurl that lacks some of\n")
	b.WriteString("// them; such an option or value then fails at run time with libcurl's\n")
	b.WriteString("// own error.\n")
	fmt.Fprintf(&b, "//\n// Source: curl/curl.h and curl/multi.h of libcurl %s\n\npackage curl\n", version)
	for _, blk := range blocks {
		var lines, cNames []string
		for _, pf := range blk.prefixes {
			n := len(lines)
			for _, c := range cs {
				if c.pf.rank == pf.rank {
					lines = append(lines, fmt.Sprintf("\t%s = %s%s\n", c.goName, formatValue(c), note(c)))
				}
			}
			if len(lines) > n {
				cNames = append(cNames, pf.pattern())
			}
		}
		if len(lines) == 0 {
			continue
		}
		b.WriteString("\n" + wrapComment(fmt.Sprintf("%s (%s).", blk.what, strings.Join(cNames, ", ")), 77))
		fmt.Fprintf(&b, "const (\n%s)\n", strings.Join(lines, ""))
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("formatting generated code: %v\n%s", err, b.Bytes())
	}
	return src, nil
}

func formatValue(c constant) string {
	blk, v := c.pf.blk, c.value
	if c.pf.mask32 {
		v &= 1<<32 - 1
	}
	switch {
	case c.pf.c == "CURLINFO_" && v >= 0x100000:
		// The high bits say which type curl_easy_getinfo returns.
		if v&0xfffff == 0 {
			return fmt.Sprintf("%#x", v)
		}
		return fmt.Sprintf("%#x + %d", v&^0xfffff, v&0xfffff)
	case blk.bits && v > 0 && v&(v-1) == 0:
		return fmt.Sprintf("1 << %d", bits.TrailingZeros64(uint64(v)))
	case (blk.hex || blk.bits) && v > 0xffff:
		return fmt.Sprintf("%#x", v) // CURLINFO_MASK, CURL_SSLVERSION_MAX_*
	}
	return strconv.FormatInt(v, 10)
}

// wrapComment renders text as // lines of at most width columns.
func wrapComment(text string, width int) string {
	var b strings.Builder
	line := "//"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > width && line != "//" {
			b.WriteString(line + "\n")
			line = "//"
		}
		line += " " + w
	}
	return b.String() + line + "\n"
}

func note(c constant) string {
	switch {
	case c.aliasOf != "":
		return " // = " + c.aliasOf
	case c.since != "" && c.msg == "":
		return " // Deprecated since " + c.since
	case c.since != "":
		return fmt.Sprintf(" // Deprecated since %s: %s", c.since, c.msg)
	}
	return ""
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
