#!/usr/bin/env bash
# Build the real Toxiproxy server from a source tarball you give (Shopify/toxiproxy >= 2.1.5, MIT
# licence), on Debian/Ubuntu, without the Go module proxy: Go and every library come from the
# distribution's golang-*-dev packages (sources under /usr/share/gocode/src), built in GOPATH mode
# (GO111MODULE=off), so go.mod's pinned versions are not used and nothing is downloaded but apt
# packages. About 90 s on a 2-core machine, most of it apt. Nothing of Toxiproxy is kept in this
# repository: the tarball is yours (a release's "Source code (tar.gz)" from GitHub, or a mirror).
#
#   scripts/build-toxiproxy.sh TARBALL OUT_DIR
# Leaves OUT_DIR/toxiproxy-server and OUT_DIR/toxiproxy-cli (static, CGO_ENABLED=0 as upstream's
# release). Then either put OUT_DIR on PATH or export DURABENCH_TOXIPROXY_SERVER=OUT_DIR/toxiproxy-server,
# and durabench starts it for every run (harness/net). With network access and Go >= 1.23 you need
# none of this: `go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0`.
#
# Environment (all optional):
#   TOXIPROXY_VERSION  version baked into the binaries  (default: the tarball's newest CHANGELOG heading)
#   WORKDIR            scratch directory, kept afterwards (default: a temp dir removed at exit)
#   SKIP_APT=1         do not apt-get anything (packages already installed)
#
# The one deviation from upstream's dependency set: Debian 12 ships zerolog 1.26.1, whose
# CallerMarshalFunc is func(file, line); toxiproxy >= 2.5 is written against zerolog >= 1.28, where it
# is func(pc, file, line). The script copies Debian's zerolog into a private GOPATH and backports that
# three-line signature change. Toxiproxy's own source is built unmodified.
set -euo pipefail

die() { echo "build-toxiproxy: $*" >&2; exit 1; }
[[ $# -eq 2 ]] || die "usage: $0 TARBALL OUT_DIR (a Toxiproxy source tarball, where to put the binaries)"
TARBALL=$1
OUT=$2
[[ -f $TARBALL ]] || die "no such tarball: $TARBALL (download a release's source tarball from https://github.com/Shopify/toxiproxy/releases)"

# ---- 1. Debian packages -------------------------------------------------------------------------
PKGS=(
  golang-go                                   # Go 1.19 on bookworm
  golang-github-gorilla-mux-dev
  golang-github-prometheus-client-golang-dev  # pulls common, procfs, client-model, perks, xxhash, ...
  golang-github-golang-protobuf-1-5-dev       # the protobuf v1 shim that client_golang 1.14 expects
  golang-protobuf-extensions-dev              # matttproud pbutil, used by prometheus/common expfmt
  golang-google-protobuf-dev
  golang-github-rs-zerolog-dev                # toxiproxy >= 2.5
  golang-github-sirupsen-logrus-dev           # toxiproxy < 2.5
  golang-github-urfave-cli-v2-dev
  golang-golang-x-term-dev
  golang-golang-x-sys-dev
  golang-gopkg-tomb.v1-dev
)
if [[ ${SKIP_APT:-0} != 1 ]]; then
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    command -v apt-get >/dev/null || die "needs Debian/Ubuntu packages ${missing[*]}; without apt, use go install (see the header)"
    echo "build-toxiproxy: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi
command -v go >/dev/null || die "no go on PATH after installing golang-go"
GOSRC=/usr/share/gocode/src
[[ -d $GOSRC/github.com/rs/zerolog ]] || die "$GOSRC has no zerolog: are the golang-*-dev packages installed?"

# ---- 2. the source ------------------------------------------------------------------------------
if [[ -n ${WORKDIR:-} ]]; then
  W=$WORKDIR; mkdir -p "$W"
else
  W=$(mktemp -d "${TMPDIR:-/tmp}/build-toxiproxy.XXXXXX"); trap 'rm -rf "$W"' EXIT
fi
rm -rf "$W/src" "$W/gopath"; mkdir -p "$W/src"
[[ -f $TARBALL ]] || die "no such tarball: $TARBALL"
tar -xf "$TARBALL" -C "$W/src"
# The tree may sit at the top or one directory down (git archive --prefix, GitHub tarballs).
GOMOD=$(find "$W/src" -maxdepth 2 -name go.mod -print | awk '!best || length($0) < length(best) {best = $0} END {print best}')
[[ -n $GOMOD ]] || die "no go.mod in the source"
SRC=$(dirname "$GOMOD")
MODULE=$(awk '$1 == "module" {print $2; exit}' "$GOMOD")
[[ $MODULE == github.com/Shopify/toxiproxy* ]] || die "not toxiproxy's source (module $MODULE)"
[[ -d $SRC/cmd/server ]] || die "no cmd/server in the source (toxiproxy < 2.1.5?)"
if [[ -n ${TOXIPROXY_VERSION:-} ]]; then
  VERSION=$TOXIPROXY_VERSION
else
  VERSION=$(grep -m1 -oE '^# \[[0-9]+\.[0-9]+\.[0-9]+[^]]*\]' "$SRC/CHANGELOG.md" 2>/dev/null | tr -d '#[] ' || true)
  VERSION=${VERSION:-git}
fi

# ---- 3. a private GOPATH in front of Debian's --------------------------------------------------
# GOPATH mode resolves "github.com/Shopify/toxiproxy/v2/..." to GOPATH/src/github.com/Shopify/toxiproxy/v2.
GP=$W/gopath
mkdir -p "$GP/src/$(dirname "$MODULE")"
cp -a "$SRC" "$GP/src/$MODULE"
if grep -rqs 'CallerMarshalFunc = func(pc uintptr' "$GP/src/$MODULE" --include='*.go' &&
   grep -qs 'CallerMarshalFunc = func(file string, line int) string' "$GOSRC/github.com/rs/zerolog/globals.go"; then
  echo "build-toxiproxy: backporting zerolog >= 1.28's CallerMarshalFunc(pc, file, line) onto Debian's zerolog"
  Z=$GP/src/github.com/rs/zerolog
  mkdir -p "$(dirname "$Z")"; cp -a "$GOSRC/github.com/rs/zerolog" "$Z"; chmod -R u+w "$Z"
  sed -i 's/^\t_, file, line, ok := runtime.Caller(skip + e.skipFrame)$/\tpc, file, line, ok := runtime.Caller(skip + e.skipFrame)/;
          s/CallerMarshalFunc(file, line))$/CallerMarshalFunc(pc, file, line))/' "$Z/event.go"
  sed -i 's/^\tCallerMarshalFunc = func(file string, line int) string {$/\tCallerMarshalFunc = func(pc uintptr, file string, line int) string {/' "$Z/globals.go"
  rm -f "$Z"/*_test.go
  grep -q 'CallerMarshalFunc(pc, file, line)' "$Z/event.go" && grep -q 'func(pc uintptr, file string' "$Z/globals.go" ||
    die "the zerolog backport did not apply (Debian's zerolog changed?)"
fi

# ---- 4. build -----------------------------------------------------------------------------------
export GOPATH="$GP:/usr/share/gocode" GO111MODULE=off GOPROXY=off GOFLAGS= GOTOOLCHAIN=local \
  GOCACHE=$W/gocache CGO_ENABLED=0
LDFLAGS="-s -w -X $MODULE.Version=$VERSION"
echo "build-toxiproxy: $(go version); building $MODULE $VERSION"
mkdir -p "$OUT"
(cd "$GP/src/$MODULE" && go build -ldflags "$LDFLAGS" -o "$W/toxiproxy-server" ./cmd/server)
(cd "$GP/src/$MODULE" && go build -ldflags "$LDFLAGS" -o "$W/toxiproxy-cli" ./cmd/cli) ||
  echo "build-toxiproxy: warning: toxiproxy-cli did not build; the server did" >&2
got=$("$W/toxiproxy-server" -version 2>&1) || die "the built server does not run: $got"
[[ $got == *"$VERSION"* ]] || die "unexpected version output: $got"
install -m 0755 "$W/toxiproxy-server" "$OUT/toxiproxy-server"
[[ -x $W/toxiproxy-cli ]] && install -m 0755 "$W/toxiproxy-cli" "$OUT/toxiproxy-cli"
echo "build-toxiproxy: $got -> $OUT"
ls -l "$OUT"/toxiproxy-*
