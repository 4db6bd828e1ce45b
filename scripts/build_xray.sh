#!/usr/bin/env bash
# Build a pinned Xray binary from source into the project cache, for the Xray node's tests.
#
#   go install github.com/xtls/xray-core/main@$XRAY_VERSION  ->  .cache/bin/xray
#
# Everything Go touches stays under .cache/go (GOPATH, module cache, build cache, and even
# the go command's telemetry/config dir), so nothing is written into $HOME. Static binary
# (CGO_ENABLED=0), stripped (-s -w), reproducible (-trimpath, empty -buildid: the same Go
# builds the same sha256).
#
# Idempotent: when .cache/bin/xray already reports the pinned release, nothing is built.
# Go: `go` on PATH, else /usr/local/go/bin/go, else Debian's golang-go, but only when the
# candidate is new enough for xray-core's go.mod; otherwise the script fails and says why.
# No toolchain is ever downloaded (GOTOOLCHAIN=local).
#
# Usage: scripts/build_xray.sh            (env: EDGERELAY_CACHE to move the cache dir)
set -euo pipefail
shopt -s inherit_errexit

# Go module version of xray-core. Xray publishes each release vYY.M.D also as the Go module
# version v1.YYMMDD.N (its vYY tags are not valid versions for the module path), so
# v1.260327.0 is Xray 26.3.27.
XRAY_VERSION="v1.260327.0"
# The `go` directive of xray-core's go.mod at XRAY_VERSION. Only used to decide, before any
# go exists, whether Debian's golang-go would do; re-checked against the real go.mod below.
XRAY_GO_MIN="1.26"
XRAY_MODULE="github.com/xtls/xray-core"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${EDGERELAY_CACHE:-$ROOT/.cache}"
BIN_DIR="$CACHE/bin"
XRAY="$BIN_DIR/xray"

log() { printf '[build_xray] %s\n' "$*"; }
die() {
  printf '[build_xray] ERROR: %s\n' "$*" >&2
  exit 1
}

# v1.260327.0 -> 26.3.27 (what `xray version` prints).
xray_release() {
  local v="${1#v1.}"
  local ymd="${v%%.*}"
  [[ "$ymd" =~ ^[0-9]{6}$ ]] || die "cannot derive the Xray release from $1"
  printf '%d.%d.%d' "$((10#${ymd:0:2}))" "$((10#${ymd:2:2}))" "$((10#${ymd:4:2}))"
}
XRAY_RELEASE="$(xray_release "$XRAY_VERSION")"

# version_ge A B: A >= B for dotted versions (1.26.8 >= 1.26).
version_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }

installed_release() {
  [ -x "$XRAY" ] || return 0
  # First line: "Xray 26.3.27 (Xray, Penetrates Everything.) Custom (go1.26.8 linux/amd64)"
  "$XRAY" version 2>/dev/null | awk 'NR == 1 && $1 == "Xray" { print $2 }' || true
}

report_binary() {
  local size sha
  size=$(stat -c %s "$XRAY")
  sha=$(sha256sum "$XRAY" | cut -d' ' -f1)
  log "binary:  ${XRAY#"$ROOT"/} ($size bytes, $((size / 1024 / 1024)) MiB)"
  log "sha256:  $sha"
  log "version: $("$XRAY" version | head -1)"
}

current="$(installed_release)"
if [ "$current" = "$XRAY_RELEASE" ]; then
  log "Xray $XRAY_RELEASE ($XRAY_VERSION) already built, skipped"
  report_binary
  exit 0
fi
[ -z "$current" ] || log "found Xray $current at ${XRAY#"$ROOT"/}, want $XRAY_RELEASE: rebuilding"

# --- keep Go's state inside the project cache ------------------------------------------------
# The user's `go env -w` settings (GOPROXY, GOFLAGS, ...) still apply: GOENV keeps pointing at
# them before XDG_CONFIG_HOME is moved, which only relocates what go would write there.
export GOENV="${GOENV:-${XDG_CONFIG_HOME:-$HOME/.config}/go/env}"
export XDG_CONFIG_HOME="$CACHE/go/config"
export GOPATH="$CACHE/go"
export GOMODCACHE="$CACHE/go/pkg/mod"
export GOCACHE="$CACHE/go/cache"
export GOTOOLCHAIN=local
# Module cache files writable, so `rm -rf .cache` just works.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
export CGO_ENABLED=0
export GOBIN="$BIN_DIR"
mkdir -p "$GOPATH" "$GOCACHE" "$XDG_CONFIG_HOME" "$BIN_DIR"

# --- find a Go toolchain -------------------------------------------------------------------
go_version() { "$1" env GOVERSION 2>/dev/null | sed 's/^go//'; }

find_go() {
  local candidate
  for candidate in "$(command -v go 2>/dev/null || true)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
    if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then continue; fi
    if version_ge "$(go_version "$candidate")" "$XRAY_GO_MIN"; then
      echo "$candidate"
      return
    fi
    log "skipping $candidate: go $(go_version "$candidate") < $XRAY_GO_MIN" >&2
  done
}

install_debian_go() {
  command -v apt-get >/dev/null 2>&1 || return 0
  local candidate
  candidate=$(apt-cache policy golang-go 2>/dev/null | awk '/Candidate:/ { print $2 }')
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    apt-get update -qq >&2 || true
    candidate=$(apt-cache policy golang-go 2>/dev/null | awk '/Candidate:/ { print $2 }')
  fi
  # Debian versions look like 2:1.19~1: drop the epoch and the Debian suffix.
  local upstream="${candidate#*:}"
  upstream="${upstream%%[~+-]*}"
  if [ -z "$upstream" ] || [ "$candidate" = "(none)" ]; then
    log "Debian has no golang-go candidate" >&2
    return 0
  fi
  if ! version_ge "$upstream" "$XRAY_GO_MIN"; then
    log "Debian's golang-go is $candidate (go $upstream) < $XRAY_GO_MIN: not installing it" >&2
    return 0
  fi
  log "installing Debian's golang-go $candidate" >&2
  [ "$(id -u)" = 0 ] || die "installing golang-go needs root (or install Go >= $XRAY_GO_MIN yourself)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go >&2
}

GO="$(find_go)"
if [ -z "$GO" ]; then
  install_debian_go
  GO="$(find_go)"
fi
[ -n "$GO" ] || die "no Go >= $XRAY_GO_MIN found (looked at PATH, /usr/local/go/bin, Debian's golang-go).
  xray-core $XRAY_VERSION's go.mod requires go $XRAY_GO_MIN. Install it from https://go.dev/dl
  into /usr/local/go (or put it on PATH) and run this script again."

have="$(go_version "$GO")"
log "go:      $GO (go $have)"

# Fetch the module first and check its real go directive against the toolchain found.
gomod=$("$GO" mod download -json "$XRAY_MODULE@$XRAY_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[ -f "$gomod" ] || die "go mod download $XRAY_MODULE@$XRAY_VERSION gave no go.mod"
need=$(awk '$1 == "go" { print $2; exit }' "$gomod")
[ "$need" = "$XRAY_GO_MIN" ] ||
  log "note: go.mod of $XRAY_VERSION says go $need, XRAY_GO_MIN says $XRAY_GO_MIN: update XRAY_GO_MIN"
version_ge "$have" "$need" ||
  die "xray-core $XRAY_VERSION needs go >= $need (its go.mod), but $GO is go $have"

# --- build -----------------------------------------------------------------------------------
log "building $XRAY_MODULE/main@$XRAY_VERSION (CGO_ENABLED=0, -trimpath, -ldflags \"-s -w -buildid=\")"
start=$(date +%s)
"$GO" install -trimpath -ldflags "-s -w -buildid=" "$XRAY_MODULE/main@$XRAY_VERSION"
mv -f "$BIN_DIR/main" "$XRAY"
log "built in $(($(date +%s) - start))s"

got="$(installed_release)"
[ "$got" = "$XRAY_RELEASE" ] ||
  die "${XRAY#"$ROOT"/} reports Xray '${got:-?}', expected $XRAY_RELEASE for $XRAY_VERSION"
report_binary
