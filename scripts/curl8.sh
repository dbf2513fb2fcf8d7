#!/bin/sh
# curl8.sh - put libcurl 8.x from Debian's bookworm-backports into a private prefix,
# next to (not instead of) Debian 12's system libcurl 7.88.1, and print the
# environment that makes cgo (go-curl's `#cgo linux pkg-config: libcurl`) use it.
#
# Usage:
#   scripts/curl8.sh PREFIX_DIR          install into PREFIX_DIR if needed, print exports
#   scripts/curl8.sh --env PREFIX_DIR    only print exports; fail if not installed
#
# In a Makefile (keep the `&&`: `eval ""` of a failed run would succeed silently):
#   E=$$(scripts/curl8.sh .curl8) && eval "$$E" && go test ./...
#
# stdout carries nothing but `export NAME='value'` lines (on success); all progress goes
# to stderr, and apt's own output goes to PREFIX_DIR/curl8.log (shown if something fails).
#
# The system is not touched: apt runs with a private sources file and private
# Dir::State::Lists / Dir::Cache under PREFIX_DIR (never /var/lib/apt/lists, never
# /etc/apt/sources.list*), the packages are only fetched with `apt-get download` and
# unpacked with `dpkg -x` (never installed). Runs as root or as a normal user; no sudo.
#
# Optional environment overrides:
#   CURL8_SUITE   suite to take libcurl from           (default: bookworm-backports)
#   CURL8_MIRROR  Debian mirror URI                    (default: the one in the system's apt sources)
#   CURL8_KEYRING keyring that signs the suite         (default: /usr/share/keyrings/debian-archive-keyring.gpg)
#
# Refresh to the newest backports version: rm -rf PREFIX_DIR and run again.

set -eu

PROG=curl8.sh
SUITE=${CURL8_SUITE:-bookworm-backports}
KEYRING=${CURL8_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

usage() {
	cat >&2 <<EOF
usage: scripts/curl8.sh PREFIX_DIR        install libcurl 8.x (from $SUITE) into PREFIX_DIR
                                          if needed, then print the shell exports
       scripts/curl8.sh --env PREFIX_DIR  print the shell exports only (fail if not installed)
Typical Makefile use:  E=\$\$(scripts/curl8.sh .curl8) && eval "\$\$E" && go build ./...
EOF
	exit 2
}

# Single-quote a value for POSIX sh (works with dash's eval in make recipes).
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# ---------------------------------------------------------------- arguments
MODE=install
case ${1-} in
	--env) MODE="env"; shift ;;
	-h|--help) usage ;;
	-*) usage ;;
esac
if [ $# -ne 1 ] || [ -z "$1" ]; then usage; fi
PREFIX_ARG=$1

# ---------------------------------------------------------------- paths
multiarch() {
	ma=
	if command -v dpkg-architecture >/dev/null 2>&1; then
		ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null) || ma=
	fi
	if [ -z "$ma" ]; then
		for cc in "${CC:-}" gcc cc; do
			if [ -z "$cc" ] || ! command -v "$cc" >/dev/null 2>&1; then continue; fi
			ma=$("$cc" -print-multiarch 2>/dev/null) || ma=
			[ -n "$ma" ] && break
		done
	fi
	printf '%s' "$ma"
}

MA=$(multiarch)
[ -n "$MA" ] || die "cannot determine the multiarch triplet: neither 'dpkg-architecture' (package dpkg-dev) nor 'gcc -print-multiarch' works; install one: apt-get install -y dpkg-dev gcc"

abspath() { (cd "$1" && pwd -P); }

check_prefix_chars() {
	# The prefix ends up in PKG_CONFIG_PATH (':'-separated), CGO_LDFLAGS (space-separated)
	# and an ELF rpath ('$' is special there), so keep it boring.
	case $1 in
		*[[:space:]:\$\'\"\\]*) die "prefix path '$1' contains whitespace or one of : \$ ' \" \\ - pick a simpler path" ;;
	esac
}

installed() {
	# Installed == libcurl.so resolves and the .pc file exists without Requires.private.
	[ -e "$1/root/usr/lib/$MA/libcurl.so" ] &&
		[ -f "$1/root/usr/lib/$MA/pkgconfig/libcurl.pc" ] &&
		! grep -q '^Requires\.private' "$1/root/usr/lib/$MA/pkgconfig/libcurl.pc"
}

print_env() {
	lib=$1/root/usr/lib/$MA
	printf 'export PKG_CONFIG_PATH=%s\n' "$(shquote "$lib/pkgconfig")"
	printf 'export PKG_CONFIG_SYSROOT_DIR=%s\n' "$(shquote "$1/root")"
	printf 'export CGO_LDFLAGS=%s\n' "$(shquote "-Wl,-rpath,$lib")"
}

# ---------------------------------------------------------------- --env mode
if [ "$MODE" = env ]; then
	[ -d "$PREFIX_ARG" ] || die "$PREFIX_ARG does not exist; run: scripts/curl8.sh $PREFIX_ARG"
	P=$(abspath "$PREFIX_ARG")
	installed "$P" || die "libcurl 8 is not installed in $P (no patched $P/root/usr/lib/$MA/pkgconfig/libcurl.pc); run: scripts/curl8.sh $PREFIX_ARG"
	check_prefix_chars "$P"
	print_env "$P"
	exit 0
fi

# ---------------------------------------------------------------- fast path
mkdir -p "$PREFIX_ARG" || die "cannot create $PREFIX_ARG"
P=$(abspath "$PREFIX_ARG")
check_prefix_chars "$P"

if installed "$P"; then
	print_env "$P"
	exit 0
fi

# ---------------------------------------------------------------- prerequisites
missing=
for c in apt-get apt-cache dpkg dpkg-deb awk sed grep ldd; do
	command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
[ -z "$missing" ] || die "required command(s) not found:$missing (this script needs a Debian system with apt and dpkg)"
[ -r "$KEYRING" ] || die "keyring $KEYRING not found; install it: apt-get install -y debian-archive-keyring"

# Serialise concurrent runs (e.g. make -j) on the same prefix.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$P/.curl8.lock"
	flock 9
	if installed "$P"; then # someone else finished while we waited
		print_env "$P"
		exit 0
	fi
fi

LOG=$P/curl8.log
: >"$LOG"
STAGE=
cleanup() {
	[ -z "$STAGE" ] || rm -rf "$STAGE"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { # fail MESSAGE: show the apt log, then die
	if [ -s "$LOG" ]; then
		printf '%s: ---- %s ----\n' "$PROG" "$LOG" >&2
		sed 's/^/  | /' "$LOG" >&2
		printf '%s: ---- end of log ----\n' "$PROG" >&2
	fi
	die "$*"
}

# ---------------------------------------------------------------- private apt config
osr() { # osr KEY: a value from /etc/os-release, unquoted
	if [ -r /etc/os-release ]; then sed -n "s/^$1=//p" /etc/os-release | tr -d "\"'"; fi
}
CODENAME=$(osr VERSION_CODENAME)
CODENAME=${CODENAME:-bookworm}
if [ "$(osr ID)" != debian ] || [ "$(osr VERSION_ID)" != 12 ]; then
	log "warning: this is meant for Debian 12 (bookworm); found '$(osr PRETTY_NAME)'. Continuing with suite $SUITE."
fi

# The machine's own Debian mirror: first URI of a `deb` entry for the plain release suite.
find_mirror() {
	uri=
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(awk -v cn="$CODENAME" '
			function flush() { if (deb && suite && u != "" && !found) { print u; found = 1 } deb = suite = 0; u = "" }
			/^[[:space:]]*#/ { next }
			/^[[:space:]]*$/ { flush(); next }
			tolower($1) == "types:"  { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
			tolower($1) == "uris:"   { u = $2 }
			tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == cn) suite = 1 }
			END { flush() }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri=$(awk -v cn="$CODENAME" '
			$1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			              if ($(i + 1) == cn) { print $i; exit } }' /etc/apt/sources.list)
	fi
	case $uri in
		http://*|https://*|ftp://*|file:/*) printf '%s' "$uri" ;;
		*) printf '%s' http://deb.debian.org/debian ;;
	esac
}
MIRROR=${CURL8_MIRROR:-$(find_mirror)}

mkdir -p "$P/apt/lists/partial" "$P/apt/cache/archives/partial"
# The sources file name must end in .sources for apt to read it as deb822.
# Targets: Packages -> skip Translation/DEP-11/Contents indexes we do not need.
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\nTargets: Packages\n' \
	"$MIRROR" "$SUITE" "$KEYRING" >"$P/apt/backports.sources"
# Drop the system's apt-update hooks (docker-clean's `rm /var/cache/apt/...`, appstream
# refresh, PackageKit notification): they act on system state and are irrelevant here.
cat >"$P/apt/apt.conf" <<'EOF'
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF

# Same private-state options as the reference (word-split on purpose; $P has no spaces).
O="-c $P/apt/apt.conf -o Dir::Etc::sourcelist=$P/apt/backports.sources -o Dir::Etc::sourceparts=- -o Dir::State::Lists=$P/apt/lists -o Dir::Cache=$P/apt/cache"

log "updating private package lists for $SUITE from $MIRROR ..."
# shellcheck disable=SC2086
apt-get -qq $O --error-on=any update >>"$LOG" 2>&1 ||
	fail "apt-get update of $SUITE from $MIRROR failed (network, proxy or mirror problem?)"

# Newest version of libcurl4-openssl-dev in the suite (madison lists newest first).
# shellcheck disable=SC2086
V=$(apt-cache $O madison libcurl4-openssl-dev 2>>"$LOG" |
	awk -F'|' -v s="$SUITE" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
[ -n "$V" ] || fail "libcurl4-openssl-dev not found in $SUITE at $MIRROR"
case $V in
	[0-7].*|[0-9]:[0-7].*) fail "$SUITE only has libcurl $V, expected 8.x or newer" ;;
esac
log "found libcurl $V in $SUITE; downloading libcurl4 and libcurl4-openssl-dev ..."

STAGE=$(mktemp -d "$P/.stage.XXXXXX")
mkdir "$STAGE/debs" "$STAGE/root"
# apt-get download writes to the current directory. As root, apt would drop privileges
# to _apt, which cannot write into this private 0700 directory; apt then downloads
# unsandboxed (a warning in the log). The files are still verified against the signed
# Release file of the suite.
# shellcheck disable=SC2086
(cd "$STAGE/debs" && apt-get -qq $O download "libcurl4=$V" "libcurl4-openssl-dev=$V") >>"$LOG" 2>&1 ||
	fail "downloading libcurl4=$V and libcurl4-openssl-dev=$V from $SUITE failed"

n=0
for f in "$STAGE"/debs/*.deb; do
	[ -f "$f" ] || continue
	pkg=$(dpkg-deb -f "$f" Package) || fail "$(basename "$f") is not a valid .deb"
	ver=$(dpkg-deb -f "$f" Version) || fail "$(basename "$f") is not a valid .deb"
	case $pkg in libcurl4|libcurl4-openssl-dev) ;; *) fail "unexpected package $pkg downloaded" ;; esac
	[ "$ver" = "$V" ] || fail "$pkg has version $ver, expected $V"
	dpkg -x "$f" "$STAGE/root" >>"$LOG" 2>&1 || fail "dpkg -x $(basename "$f") failed"
	n=$((n + 1))
done
[ "$n" -eq 2 ] || fail "expected 2 packages (libcurl4, libcurl4-openssl-dev), got $n"

L=$STAGE/root/usr/lib/$MA
if [ ! -e "$L/libcurl.so" ] || [ ! -f "$L/pkgconfig/libcurl.pc" ]; then
	found=$(cd "$STAGE/root" && find . -name 'libcurl.so*' -o -name libcurl.pc | tr '\n' ' ')
	fail "packages unpacked, but no usr/lib/$MA/libcurl.so + pkgconfig/libcurl.pc (multiarch '$MA' wrong?); found: $found"
fi
# Its private deps (libnghttp2, libssh2, ...) ship no .pc files on Debian 12.
sed -i '/^Requires\.private/d' "$L/pkgconfig/libcurl.pc"

# Every shared library libcurl 8 needs must come from the stock system.
notfound=$(ldd "$L/libcurl.so" 2>&1 | awk '/not found/ { print $1 }' | tr '\n' ' ')
[ -z "$notfound" ] || fail "libcurl $V needs libraries not on this system: $notfound"

# Move into place: root/ only ever appears complete.
rm -rf "$P/root" "$P/debs"
mv "$STAGE/root" "$P/root"
mv "$STAGE/debs" "$P/debs"
rm -rf "$STAGE"
STAGE=

installed "$P" || fail "internal error: $P not in the installed state after unpacking"

if command -v pkg-config >/dev/null 2>&1; then
	pv=$(PKG_CONFIG_PATH="$P/root/usr/lib/$MA/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$P/root" pkg-config --modversion libcurl 2>>"$LOG") ||
		fail "pkg-config cannot read $P/root/usr/lib/$MA/pkgconfig/libcurl.pc"
	log "pkg-config now reports libcurl $pv"
else
	log "warning: pkg-config is not installed; cgo needs it for go-curl: apt-get install -y pkg-config"
fi
log "libcurl $V installed in $P/root"
print_env "$P"
