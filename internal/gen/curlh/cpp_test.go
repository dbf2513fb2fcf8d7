package main

import (
	"reflect"
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
