package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

func TestParseMacros(t *testing.T) {
	dm := `#define __STDC__ 1
#define CURLOPT_PROGRESSDATA CURLOPT_XFERINFODATA
#define CURLAUTH_ANY (~CURLAUTH_DIGEST_IE)
#define CURLOPT(na,t,nu) na = t + nu
#define CURL_DEPRECATED(version,message) __attribute__((deprecated("since " #version ". " message)))
#define CURL_IGNORE_DEPRECATION(statements) statements
#define CURL_EMPTY(x)
#define CURLINC_CURL_H 
#define LIBCURL_VERSION "7.88.1"
#define CURL_MAX_WRITE_SIZE 16384
`
	got := parseMacros([]byte(dm))
	want := map[string]macro{
		"__STDC__":                {body: "1"},
		"CURLOPT_PROGRESSDATA":    {body: "CURLOPT_XFERINFODATA"},
		"CURLAUTH_ANY":            {body: "(~CURLAUTH_DIGEST_IE)"},
		"CURLOPT":                 {funcLike: true, body: "na = t + nu"},
		"CURL_DEPRECATED":         {funcLike: true, body: `__attribute__((deprecated("since " #version ". " message)))`},
		"CURL_IGNORE_DEPRECATION": {funcLike: true, body: "statements"},
		"CURL_EMPTY":              {funcLike: true},
		"CURLINC_CURL_H":          {},
		"LIBCURL_VERSION":         {body: `"7.88.1"`},
		"CURL_MAX_WRITE_SIZE":     {body: "16384"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMacros:\n got %v\nwant %v", got, want)
	}
}

// Enum bodies as cc -E prints them from libcurl's constructs: CURLOPT()
// and CURLOPTDEPRECATED() expanded, CURL_DEPRECATED as an attribute, line
// markers and pragmas between enumerators.
func TestScanEnums(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []enumerator
	}{
		{"implicit and explicit values", `typedef enum {
  CURLE_OK = 0,
  CURLE_ONE,
  CURLE_FIVE = 5,
  CURL_LAST
} CURLcode;`, []enumerator{{name: "CURLE_OK"}, {name: "CURLE_ONE"}, {name: "CURLE_FIVE"}, {name: "CURL_LAST"}}},
		{"trailing comma, tag, casts and parentheses", `enum curl_khtype { A = (int)(1 << 2), B = (CURL_X, 3), };`,
			[]enumerator{{name: "A"}, {name: "B"}}},
		{"uses of an enum type are not definitions", `enum curl_khtype t; struct s { enum x y; }; enum { C } v; int f(enum curl_khtype);`,
			[]enumerator{{name: "C"}}},
		{"deprecated, with a comma in the message", `typedef enum {
  CURLOPT_URL = 10000 + 2,
  CURLOPT_OLD __attribute__((deprecated("since " "7.56.0" ". " "Use CURLOPT_NEW, really"))) = 0 + 7,
  CURLSSLBACKEND_AXTLS __attribute__((deprecated("since " "7.61.0" ". " ""))) = 10,
  CURLOPT_LASTENTRY
} CURLoption;`, []enumerator{{name: "CURLOPT_URL"}, {name: "CURLOPT_OLD", deprecated: true, text: "since 7.56.0. Use CURLOPT_NEW, really"},
			{name: "CURLSSLBACKEND_AXTLS", deprecated: true, text: "since 7.61.0. "}, {name: "CURLOPT_LASTENTRY"}}},
		{"escapes in the message", `enum { CURLINFO_X __attribute__((deprecated("since " "7.55.0" ". " "Use \"CURLINFO_Y\""))) };`,
			[]enumerator{{name: "CURLINFO_X", deprecated: true, text: `since 7.55.0. Use "CURLINFO_Y"`}}},
		{"a system header's own deprecations", `enum { SYS_A __attribute__((deprecated)), SYS_B __attribute__((deprecated("use \e SYS_C"))) };`,
			[]enumerator{{name: "SYS_A"}, {name: "SYS_B", deprecated: true, text: `use \e SYS_C`}}},
		{"line markers and pragmas inside a body", `# 1 "h.c"
enum {
  CURLFORM_NOTHING,
# 2500 "/usr/include/curl/curl.h" 3 4
  CURLFORM_COPYNAME,
#pragma GCC diagnostic push
  CURLFORM_PTRNAME
};
# 2510 "/usr/include/curl/curl.h" 3 4
enum { CURLFORM_AFTER };`, []enumerator{{name: "CURLFORM_NOTHING"}, {name: "CURLFORM_COPYNAME"}, {name: "CURLFORM_PTRNAME"}, {name: "CURLFORM_AFTER"}}},
		{"no enums", `typedef int CURLcode; int enumerate(void);`, nil},
	} {
		got, err := scanEnums([]byte(tc.src))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
	}
	if got, err := scanEnums([]byte(`enum { = 3 };`)); err == nil {
		t.Errorf("scanEnums of a nameless enumerator = %+v, want an error", got)
	}
}

func TestDeprecation(t *testing.T) {
	for _, tc := range []struct{ text, since, msg string }{
		{"since 7.56.0. Use CURLOPT_NEW, really", "7.56.0", "Use CURLOPT_NEW, really"},
		{"since 7.61.0. ", "7.61.0", ""},
		{"since 7.55.0. Use curl_easy_getinfo(). Or not.", "7.55.0", "Use curl_easy_getinfo(). Or not."},
		{"use CURLOPT_Y", "", ""},
		{"since 7.1", "", ""},
		{"since . x", "", ""},
		{"", "", ""},
	} {
		since, msg, err := deprecation(enumerator{name: "CURLOPT_X", deprecated: true, text: tc.text})
		if since != tc.since || msg != tc.msg || (err == nil) != (tc.since != "") {
			t.Errorf("deprecation(%q) = %q, %q, %v; want %q, %q", tc.text, since, msg, err, tc.since, tc.msg)
		}
	}
}

// collect and the rendering rules, on values as the probe prints them:
// (long long) of C's unsigned long ~CURLAUTH_DIGEST_IE is negative.
func TestCollect(t *testing.T) {
	macros := parseMacros([]byte(`#define CURLAUTH_BASIC (((unsigned long)1)<<0)
#define CURLAUTH_ONLY (((unsigned long)1)<<31)
#define CURLAUTH_ANY (~CURLAUTH_DIGEST_IE)
#define CURLAUTH_GSSAPI CURLAUTH_NEGOTIATE
#define CURLAUTH_NEGOTIATE (((unsigned long)1)<<2)
#define CURLPROTO_ALL (~0)
#define CURL_HET_DEFAULT 200L
#define CURL_HET_DEFAULTS 1
#define CURL_WRITEFUNC_ERROR 0xFFFFFFFF
#define CURLFTPSSL_ALL CURLUSESSL_ALL
#define CURLINFO_LONG 0x200000
#define CURLE_SHADOWED 9
#define CURLE_FUNC(x) x
#define CURLOPT_URL_ALIAS CURLOPT_URL
`))
	enums := []enumerator{
		{name: "CURLE_OK"}, {name: "CURLE_SHADOWED", deprecated: true, text: "since 7.1.0. "},
		{name: "CURLOPT_URL"}, {name: "CURLOPT_OLD", deprecated: true, text: "since 7.56.0. Use CURLOPT_NEW"}, {name: "CURLOPT_LASTENTRY"},
		{name: "CURLSSLBACKEND_AXTLS", deprecated: true, text: "since 7.61.0. "},
		{name: "CURLINFO_NONE"}, {name: "CURLINFO_RESPONSE_CODE"},
		{name: "CURL_SSLVERSION_DEFAULT"}, {name: "CURL_SSLVERSION_TLSv1_3"}, {name: "CURL_SSLVERSION_MAX_TLSv1_3"},
		{name: "CURLUSESSL_ALL"}, {name: "CURLFTPSSL_CCC_ACTIVE"},
		{name: "NOT_CURL"},
	}
	values := map[string]int64{
		"CURLAUTH_BASIC": 1, "CURLAUTH_ONLY": 1 << 31, "CURLAUTH_ANY": -17, "CURLAUTH_GSSAPI": 4, "CURLAUTH_NEGOTIATE": 4,
		"CURLPROTO_ALL": -1, "CURL_HET_DEFAULT": 200, "CURL_WRITEFUNC_ERROR": 0xffffffff,
		"CURLFTPSSL_ALL": 3, "CURLINFO_LONG": 0x200000, "CURLE_SHADOWED": 9,
		"CURLE_OK": 0, "CURLOPT_URL": 10002, "CURLOPT_URL_ALIAS": 10002, "CURLOPT_OLD": 7, "CURLOPT_LASTENTRY": 8,
		"CURLINFO_NONE": 0, "CURLINFO_RESPONSE_CODE": 0x200002,
		"CURL_SSLVERSION_DEFAULT": 0, "CURL_SSLVERSION_TLSv1_3": 7, "CURL_SSLVERSION_MAX_TLSv1_3": 7 << 16,
		"CURLUSESSL_ALL": 3, "CURLFTPSSL_CCC_ACTIVE": 2, "CURLSSLBACKEND_AXTLS": 10,
		"NOT_CURL": 1,
	}
	if got, want := candidates(macros, enums), sortedKeysOf(values, "NOT_CURL", "CURL_HET_DEFAULTS"); !reflect.DeepEqual(got, want) {
		t.Errorf("candidates:\n got %v\nwant %v", got, want)
	}
	cs, err := collect(macros, enums, values)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range cs {
		lines = append(lines, c.goName+" = "+formatValue(c)+note(c))
	}
	want := []string{
		"E_OK = 0",
		"E_SHADOWED = 9", // the macro wins, and has no deprecation
		"OPT_OLD = 7 // Deprecated since 7.56.0: Use CURLOPT_NEW",
		"OPT_LASTENTRY = 8", // collected; run leaves it out
		"OPT_URL = 10002",
		"OPT_URL_ALIAS = 10002 // = CURLOPT_URL",
		"INFO_NONE = 0",
		"INFO_LONG = 0x200000",
		"INFO_RESPONSE_CODE = 0x200000 + 2",
		"SSLVERSION_DEFAULT = 0",
		"SSLVERSION_TLSv1_3 = 7",
		"SSLVERSION_MAX_TLSv1_3 = 0x70000",
		"AUTH_ANY = 0xffffffef", // go-curl's C.CURLAUTH_ANY & (1<<32 - 1); sorted as -17
		"AUTH_BASIC = 1 << 0",
		"AUTH_NEGOTIATE = 1 << 2",
		"AUTH_GSSAPI = 1 << 2 // = CURLAUTH_NEGOTIATE",
		"AUTH_ONLY = 1 << 31",
		"PROTO_ALL = -1", // an int in C
		"SSLBACKEND_AXTLS = 10 // Deprecated since 7.61.0",
		"USESSL_ALL = 3",
		"FTPSSL_ALL = 3 // = CURLUSESSL_ALL",
		"FTPSSL_CCC_ACTIVE = 2",
		"HET_DEFAULT = 200",
		"WRITEFUNC_ERROR = 0xffffffff",
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("collect:\n got %q\nwant %q", lines, want)
	}
	if got := canonical(macros, "CURLFTPSSL_ALL"); got != "CURLUSESSL_ALL" {
		t.Errorf("canonical(CURLFTPSSL_ALL) = %s", got)
	}
	for _, name := range []string{"CURL_SSLVERSION_LAST", "CURL_SSLVERSION_MAX_LAST", "CURLVERSION_NOW", "CURLFTPSSL_CCC_LAST", "CURLOPT_LASTENTRY"} {
		if !skipName.MatchString(name) {
			t.Errorf("%s is not left out", name)
		}
	}
	for _, name := range []string{"CURL_TIMECOND_LASTMOD", "CURLINFO_LASTSOCKET", "CURL_SSLVERSION_TLSv1_3"} {
		if skipName.MatchString(name) {
			t.Errorf("%s is left out", name)
		}
	}
}

// sortedKeysOf returns m's keys but except, in order.
func sortedKeysOf(m map[string]int64, except ...string) []string {
	var keys []string
	for k := range m {
		if !slices.Contains(except, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// A libcurl name deprecated in an unknown way must stop generation rather
// than lose its note; a name that is not libcurl's may be deprecated any way.
func TestCollectBadDeprecation(t *testing.T) {
	values := map[string]int64{"CURLOPT_X": 1, "SYS_X": 2}
	if _, err := collect(nil, []enumerator{{name: "SYS_X", deprecated: true, text: "use SYS_Y"}}, values); err != nil {
		t.Errorf("collect: %v", err)
	}
	if _, err := collect(nil, []enumerator{{name: "CURLOPT_X", deprecated: true, text: "use CURLOPT_Y"}}, values); err == nil {
		t.Error("collect took a deprecation without a version")
	}
}

// Two libcurl names that map to one Go name must stop generation.
func TestConstantNameClash(t *testing.T) {
	enums := []enumerator{{name: "CURLVERSION_FIRST"}}
	macros := map[string]macro{"CURL_VERSION_FIRST": {body: "(1<<0)"}}
	values := map[string]int64{"CURLVERSION_FIRST": 0, "CURL_VERSION_FIRST": 1}
	if _, err := collect(macros, enums, values); err == nil || !strings.Contains(err.Error(), "CURLVERSION_FIRST and CURL_VERSION_FIRST both become VERSION_FIRST") {
		t.Errorf("collect: %v, want a clash error", err)
	}
}

func requireCC(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(ccCommand()[0]); err != nil {
		t.Skipf("no C compiler: %v", err)
	}
}

// The whole compiler side on a small stand-in for libcurl's headers: the
// constructs curl.h uses for its names and values, and names the probe
// must leave out.
const miniCurlH = `#ifndef CURLINC_CURL_H
#define CURLINC_CURL_H
#include "curlver.h"
#ifdef NEVER_DEFINED
#define CURL_MAX_NEVER 1
#endif
#define CURL_DEPRECATED(version, message) \
  __attribute__((deprecated("since " # version ". " message)))
#define CURLOPTTYPE_LONG          0
#define CURLOPTTYPE_OBJECTPOINT   10000
#define CURLOPTTYPE_STRINGPOINT CURLOPTTYPE_OBJECTPOINT
#define CURLOPT(na,t,nu) na = t + nu
#define CURLOPTDEPRECATED(na,t,nu,v,m) na CURL_DEPRECATED(v,m) = t + nu
typedef enum {
  CURLOPT(CURLOPT_URL, CURLOPTTYPE_STRINGPOINT, 2), /* a comment, with a comma */
  CURLOPTDEPRECATED(CURLOPT_OLD, CURLOPTTYPE_LONG, 7,
                    7.56.0, "Use CURLOPT_NEW, really"),
  CURLOPT_LASTENTRY
} CURLoption;
#define CURLOPT_ALIAS CURLOPT_URL
#define CURLAUTH_DIGEST_IE    (((unsigned long)1)<<4)
#define CURLAUTH_ANY          (~CURLAUTH_DIGEST_IE)
#define CURLHSTS_ENABLE       (long)(1<<0)
#define CURL_MAX_SHIFTED (1L<<3) \
  | 1
#define CURL_MAX_STRING "not a number"
#define CURL_MAX_FUNC(x) (x)
#define CURL_MAX_EMPTY
enum { CURL_SSLVERSION_TLSv1_3 = 7 };
enum { CURL_SSLVERSION_MAX_TLSv1_3 = (CURL_SSLVERSION_TLSv1_3 << 16) };
#include "multi.h"
#endif
`

func TestCompilerMini(t *testing.T) {
	requireCC(t)
	inc := t.TempDir()
	for name, src := range map[string]string{
		"curl.h":    miniCurlH,
		"curlver.h": "#define LIBCURL_VERSION \"7.99.0-mini\"\n",
		"multi.h":   "#ifndef CURLINC_MULTI_H\n#define CURLINC_MULTI_H\ntypedef enum { CURLM_OK, CURLM_BAD = -1 } CURLMcode;\n#endif\n",
	} {
		if err := os.MkdirAll(filepath.Join(inc, "curl"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inc, "curl", name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmp := t.TempDir()
	macros, enums, err := readHeaders(tmp, inc)
	if err != nil {
		t.Fatal(err)
	}
	if v := macros["LIBCURL_VERSION"].body; v != `"7.99.0-mini"` {
		t.Errorf("LIBCURL_VERSION = %s", v)
	}
	names := candidates(macros, enums)
	values, err := probe(tmp, inc, names)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"CURLOPT_URL": 10002, "CURLOPT_OLD": 7, "CURLOPT_LASTENTRY": 8, "CURLOPT_ALIAS": 10002,
		"CURLAUTH_DIGEST_IE": 16, "CURLAUTH_ANY": -17, "CURLHSTS_ENABLE": 1, "CURL_MAX_SHIFTED": 9,
		"CURL_SSLVERSION_TLSv1_3": 7, "CURL_SSLVERSION_MAX_TLSv1_3": 7 << 16,
		"CURLM_OK": 0, "CURLM_BAD": -1,
	}
	if !reflect.DeepEqual(values, want) {
		t.Errorf("probe of %v:\n got %v\nwant %v", names, values, want)
	}
	for _, e := range enums {
		if e.name == "CURLOPT_OLD" {
			if !e.deprecated || e.text != "since 7.56.0. Use CURLOPT_NEW, really" {
				t.Errorf("CURLOPT_OLD deprecation = %v, %q", e.deprecated, e.text)
			}
		} else if e.deprecated {
			t.Errorf("%s marked deprecated: %q", e.name, e.text)
		}
	}
}

// A compiler for which CURL_DEPRECATED is empty must stop generation
// rather than drop every deprecation note.
func TestCompilerHidesDeprecation(t *testing.T) {
	requireCC(t)
	inc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(inc, "curl"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"curl.h":  "#define CURL_DEPRECATED(version, message)\nenum { CURLOPT_OLD CURL_DEPRECATED(7.1.0, \"\") = 1 };\n",
		"multi.h": "",
	} {
		if err := os.WriteFile(filepath.Join(inc, "curl", name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := readHeaders(t.TempDir(), inc); err == nil || !strings.Contains(err.Error(), "CURL_DEPRECATED expands to nothing") {
		t.Errorf("readHeaders: %v, want an error about CURL_DEPRECATED", err)
	}
}

// The build machine's own libcurl headers: every candidate name is an
// integer constant, and a few values and notes every libcurl since 7.87
// has.
func TestCompilerRealHeaders(t *testing.T) {
	requireCC(t)
	inc, err := findInclude()
	if err != nil {
		t.Skip(err)
	}
	tmp := t.TempDir()
	macros, enums, err := readHeaders(tmp, inc)
	if err != nil {
		t.Fatal(err)
	}
	names := candidates(macros, enums)
	values, err := probe(tmp, inc, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, ok := values[n]; !ok {
			t.Errorf("%s: not an integer constant", n)
		}
	}
	for name, v := range map[string]int64{
		"CURLE_OK": 0, "CURLOPT_URL": 10002, "CURLINFO_RESPONSE_CODE": 0x200002, "CURLMOPT_PIPELINING": 3,
		"CURLAUTH_ANY": ^int64(16), "CURL_HTTP_VERSION_2_0": 3, "CURLPROTO_HTTPS": 2,
	} {
		if values[name] != v {
			t.Errorf("%s = %d, want %d", name, values[name], v)
		}
	}
	if m := macros["CURLOPT_PROGRESSDATA"]; m.body != "CURLOPT_XFERINFODATA" {
		t.Errorf("CURLOPT_PROGRESSDATA is %+v", m)
	}
	if !isIdent(macros["CURLINFO_HTTP_CODE"].body) {
		t.Errorf("CURLINFO_HTTP_CODE is %+v", macros["CURLINFO_HTTP_CODE"])
	}
	if _, ok := macros["CURL_DEPRECATED"]; ok {
		found := false
		for _, e := range enums {
			if e.name == "CURLOPT_PUT" {
				found = true
				if e.text != "since 7.12.1. Use CURLOPT_UPLOAD" {
					t.Errorf("CURLOPT_PUT deprecation = %v, %q", e.deprecated, e.text)
				}
			}
		}
		if !found {
			t.Error("no enumerator CURLOPT_PUT")
		}
	}
}
