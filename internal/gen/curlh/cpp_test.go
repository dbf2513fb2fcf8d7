package main

import (
	"reflect"
	"strings"
	"testing"
)

// The header constructs libcurl relies on, in miniature. The real headers
// are checked against the C compiler at generation time; this pins down the
// reader's own rules so that a failure there is easier to place.
const miniHeader = `
#ifdef NEVER_DEFINED
#define CURL_STRICTER
#endif
#if defined(__GNUC__) && (__GNUC__ >= 6)
#define CURL_DEPRECATED(version, message) __attribute__((deprecated(#version message)))
#else
#define CURL_DEPRECATED(version, message)
#endif
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
typedef enum {
  CURLE_OK = 0,
  CURLE_ONE,
  CURLE_FIVE = 5,
  CURLE_SIX, // six
  CURL_LAST
} CURLcode;
#define CURLINFO_LONG 0x200000
typedef enum {
  CURLINFO_NONE,
  CURLINFO_RESPONSE_CODE = CURLINFO_LONG + 2,
  CURLINFO_LASTONE = 62
} CURLINFO;
#ifndef CURL_NO_OLDIES
#define CURLOPT_ALIAS CURLOPT_URL
#else
#undef CURLOPT_URL
#endif
#define CURLE_SHIFTED (1L<<3) \
  | 1
`

func TestMiniHeader(t *testing.T) {
	p := newCPP()
	if err := p.Feed("mini.h", miniHeader); err != nil {
		t.Fatal(err)
	}
	if err := p.ReadEnums(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"CURLOPT_URL": 10002, "CURLOPT_OLD": 7, "CURLOPT_LASTENTRY": 8,
		"CURLE_OK": 0, "CURLE_ONE": 1, "CURLE_FIVE": 5, "CURLE_SIX": 6, "CURL_LAST": 7,
		"CURLINFO_NONE": 0, "CURLINFO_RESPONSE_CODE": 0x200002, "CURLINFO_LASTONE": 62,
		"CURLOPT_ALIAS": 10002, "CURLE_SHIFTED": 9,
	}
	for name, v := range want {
		got, err := p.Value(name)
		if err != nil || got != v {
			t.Errorf("%s = %d, %v; want %d", name, got, err, v)
		}
	}
	if _, ok := p.macros["CURL_STRICTER"]; ok {
		t.Error("#ifdef of an undefined macro was taken")
	}
	for _, e := range p.enums {
		if e.Name == "CURLOPT_OLD" {
			if want := []string{"7.56.0", `"Use CURLOPT_NEW, really"`}; !reflect.DeepEqual(e.Deprecated, want) {
				t.Errorf("CURLOPT_OLD deprecation = %q, want %q", e.Deprecated, want)
			}
		} else if e.Deprecated != nil {
			t.Errorf("%s marked deprecated: %q", e.Name, e.Deprecated)
		}
	}
	cs, err := collect(p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.goName)
	}
	wantNames := []string{"E_OK", "E_ONE", "E_FIVE", "E_SIX", "E_SHIFTED", "OPT_OLD", "OPT_LASTENTRY", "OPT_URL", "OPT_ALIAS",
		"INFO_NONE", "INFO_LASTONE", "INFO_LONG", "INFO_RESPONSE_CODE"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("collected %v, want %v", names, wantNames)
	}
}

// The constructs of libcurl's value constants: unsigned long shifts and
// complements, casts, L suffixes, prefixes that contain one another, and
// whole-name entries.
const valueHeader = `
#define CURLAUTH_BASIC        (((unsigned long)1)<<0)
#define CURLAUTH_DIGEST_IE    (((unsigned long)1)<<4)
#define CURLAUTH_ONLY         (((unsigned long)1)<<31)
#define CURLAUTH_ANY          (~CURLAUTH_DIGEST_IE)
#define CURLAUTH_ANYSAFE      (~(CURLAUTH_BASIC|CURLAUTH_DIGEST_IE))
#define CURLPROTO_ALL    (~0)
#define CURLHSTS_ENABLE       (long)(1<<0)
#define CURLPIPE_MULTIPLEX 2L
#define CURL_HET_DEFAULT 200L
#define CURL_HET_DEFAULTS 1
#define CURL_WRITEFUNC_ERROR 0xFFFFFFFF
enum {
  CURL_SSLVERSION_DEFAULT,
  CURL_SSLVERSION_TLSv1_3 = 7,
  CURL_SSLVERSION_LAST
};
enum {
  CURL_SSLVERSION_MAX_TLSv1_3 = (CURL_SSLVERSION_TLSv1_3 << 16)
};
typedef enum {
  CURLUSESSL_NONE,
  CURLUSESSL_ALL = 3
} curl_usessl;
#define CURLFTPSSL_ALL CURLUSESSL_ALL
typedef enum {
  CURLFTPSSL_CCC_ACTIVE = 2
} curl_ftpccc;
`

func TestValueConstants(t *testing.T) {
	p := newCPP()
	if err := p.Feed("values.h", valueHeader); err != nil {
		t.Fatal(err)
	}
	if err := p.ReadEnums(); err != nil {
		t.Fatal(err)
	}
	cs, err := collect(p)
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		goName, value string
	}
	got := map[string]want{}
	for _, c := range cs {
		got[c.cName] = want{c.goName, formatValue(c)}
	}
	for cName, w := range map[string]want{
		"CURLAUTH_BASIC":              {"AUTH_BASIC", "1 << 0"},
		"CURLAUTH_ONLY":               {"AUTH_ONLY", "1 << 31"},
		"CURLAUTH_ANY":                {"AUTH_ANY", "0xffffffef"}, // go-curl's C.CURLAUTH_ANY & (1<<32 - 1)
		"CURLAUTH_ANYSAFE":            {"AUTH_ANYSAFE", "0xffffffee"},
		"CURLPROTO_ALL":               {"PROTO_ALL", "-1"}, // an int in C
		"CURLHSTS_ENABLE":             {"HSTS_ENABLE", "1 << 0"},
		"CURLPIPE_MULTIPLEX":          {"PIPE_MULTIPLEX", "2"},
		"CURL_HET_DEFAULT":            {"HET_DEFAULT", "200"},
		"CURL_WRITEFUNC_ERROR":        {"WRITEFUNC_ERROR", "0xffffffff"},
		"CURL_SSLVERSION_DEFAULT":     {"SSLVERSION_DEFAULT", "0"},
		"CURL_SSLVERSION_TLSv1_3":     {"SSLVERSION_TLSv1_3", "7"},
		"CURL_SSLVERSION_LAST":        {"SSLVERSION_LAST", "8"}, // collected; run leaves it out
		"CURL_SSLVERSION_MAX_TLSv1_3": {"SSLVERSION_MAX_TLSv1_3", "0x70000"},
		"CURLUSESSL_ALL":              {"USESSL_ALL", "3"},
		"CURLFTPSSL_ALL":              {"FTPSSL_ALL", "3"},
		"CURLFTPSSL_CCC_ACTIVE":       {"FTPSSL_CCC_ACTIVE", "2"},
	} {
		if got[cName] != w {
			t.Errorf("%s: got %+v, want %+v", cName, got[cName], w)
		}
	}
	if _, ok := got["CURL_HET_DEFAULTS"]; ok {
		t.Error("CURL_HET_DEFAULTS collected: a whole-name entry matched as a prefix")
	}
	if prefixOf("CURLFTPSSL_CCC_ACTIVE").c != "CURLFTPSSL_CCC_" {
		t.Error("CURLFTPSSL_CCC_ACTIVE not matched by the longest prefix")
	}
	for _, name := range []string{"CURL_SSLVERSION_LAST", "CURL_SSLVERSION_MAX_LAST", "CURLVERSION_NOW", "CURLFTPSSL_CCC_LAST"} {
		if !skipName.MatchString(name) {
			t.Errorf("%s is not left out", name)
		}
	}
	for _, name := range []string{"CURL_TIMECOND_LASTMOD", "CURLINFO_LASTSOCKET", "CURL_SSLVERSION_TLSv1_3"} {
		if skipName.MatchString(name) {
			t.Errorf("%s is left out", name)
		}
	}
	if p.canonical("CURLFTPSSL_ALL") != "CURLUSESSL_ALL" {
		t.Errorf("canonical(CURLFTPSSL_ALL) = %s", p.canonical("CURLFTPSSL_ALL"))
	}
}

// Two libcurl names that map to one Go name must stop generation.
func TestConstantNameClash(t *testing.T) {
	p := newCPP()
	err := p.Feed("clash.h", "typedef enum { CURLVERSION_FIRST } CURLversion;\n#define CURL_VERSION_FIRST (1<<0)\n")
	if err == nil {
		err = p.ReadEnums()
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := collect(p); err == nil || !strings.Contains(err.Error(), "CURLVERSION_FIRST and CURL_VERSION_FIRST both become VERSION_FIRST") {
		t.Errorf("collect: %v, want a clash error", err)
	}
}
