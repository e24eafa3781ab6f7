#!/usr/bin/env bash
# Builds Karpenter with its KWOK cloud provider (sigs.k8s.io/karpenter/kwok) from the Go module proxy, and copies its
# CRDs out of the module cache, for the local cluster's optional autoscaler (`cluster.sh karpenter-up`).
# Same cache and conventions as build.sh; see README.md ("Autoscaler: Karpenter").
#
#   bash test/cluster/build-karpenter.sh        progress on stderr; the last line on stdout is the tool directory
#
# The tool directory holds karpenter-kwok and crds/*.yaml; it is linked at $GANTRY_KARPENTER_DIR.
#
# Environment:
#   GANTRY_CACHE          cache root outside the clone (default: ~/.cache/gantry), shared with build.sh
#   GANTRY_KARPENTER_DIR  where to link the tool directory (default: ${GANTRY_STATE_DIR:-<repo>/.gantry}/karpenter)
#   GANTRY_BUILD_JOBS     go build -p value (default here: 1; the machine is shared)
#   GANTRY_FORCE=1        rebuild even if the stamp matches
#   GANTRY_KEEP           builds kept in tools/karpenter/ (default: 3)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${GANTRY_CACHE:-${HOME:?HOME is not set}/.cache/gantry}
LINK=${GANTRY_KARPENTER_DIR:-${GANTRY_STATE_DIR:-$REPO_ROOT/.gantry}/karpenter}
JOBS=${GANTRY_BUILD_JOBS:-1}
KEEP=${GANTRY_KEEP:-3}
MOD=sigs.k8s.io/karpenter
PKG=$MOD/kwok
SRC=$HERE/karpenter

log() { printf '[karpenter-build] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

command -v go >/dev/null 2>&1 || die "the Go toolchain ('go') is not on PATH"
[[ -f $SRC/go.mod ]] || die "$SRC/go.mod not found"

mkdir -p "$CACHE/go-build" "$CACHE/go-mod" "$CACHE/tools/karpenter" "$CACHE/logs"
CACHE=$(cd "$CACHE" && pwd)
export GOCACHE="$CACHE/go-build"
export GOMODCACHE="$CACHE/go-mod"
export GOFLAGS="-buildvcs=false" # go.sum is committed: the default -mod=readonly applies
export GOWORK=off
export CGO_ENABLED=0

# One build at a time per cache, shared with build.sh: two Go builds at once on 2 cores only thrash.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.build.lock"
  flock 9
fi
rm -rf "$CACHE"/tools/karpenter/.tmp-*

hash=$({
  echo "tool=karpenter"
  (cd "$SRC" && go env GOVERSION GOOS GOARCH CGO_ENABLED)
  sha256sum "${BASH_SOURCE[0]}" "$SRC/go.mod" "$SRC/go.sum"
} | sha256sum | cut -c1-16)
DIR=$CACHE/tools/karpenter/$hash

link() {
  mkdir -p "$(dirname "$LINK")"
  ln -sfn "$DIR" "$LINK"
  echo "$DIR"
}

if [[ -f $DIR/.stamp && -z ${GANTRY_FORCE:-} ]]; then
  touch "$DIR"
  log "up to date ($DIR)"
  link
  exit 0
fi

logf=$CACHE/logs/karpenter.log
: >"$logf"
start=$SECONDS
fail() {
  log "FAILED: '$1'. Last lines of $logf:"
  tail -n 40 "$logf" | sed 's/^/    /' >&2
  die "karpenter failed at '$1' (full log: $logf)"
}
log "building $PKG (log: $logf; about 10 minutes on 2 free cores when the cache is cold)"

(cd "$SRC" && go mod download) >>"$logf" 2>&1 || fail "go mod download"
dl=$((SECONDS - start))
version=$(cd "$SRC" && go list -m -f '{{.Version}}' "$MOD")
moddir=$(cd "$SRC" && go list -m -f '{{.Dir}}' "$MOD")

tmp=$CACHE/tools/karpenter/.tmp-$hash-$$
rm -rf "$tmp"
mkdir -p "$tmp/crds"
ldflags="-s -w -X $MOD/pkg/operator.Version=$version"
echo "+ nice -n 19 go build -p $JOBS -trimpath -ldflags '$ldflags' -o $tmp/karpenter-kwok $PKG" >>"$logf"
if ! (cd "$SRC" && nice -n 19 go build -p "$JOBS" -trimpath -ldflags "$ldflags" -o "$tmp/karpenter-kwok" "$PKG") >>"$logf" 2>&1; then
  rm -rf "$tmp"
  fail "go build $PKG"
fi

# The CRDs of this exact version, from the module source: the KWOK chart's NodePool/NodeClaim/NodeOverlay/
# CapacityBuffer (they also restrict the karpenter.kwok.sh label domain) and the KWOKNodeClass.
for f in "$moddir"/kwok/charts/crds/*.yaml "$moddir"/kwok/apis/crds/*.yaml; do
  cp "$f" "$tmp/crds/"
  chmod 644 "$tmp/crds/$(basename "$f")"
done
for want in karpenter.sh_nodepools.yaml karpenter.sh_nodeclaims.yaml karpenter.kwok.sh_kwoknodeclasses.yaml; do
  [[ -f $tmp/crds/$want ]] || {
    rm -rf "$tmp"
    fail "copy CRDs ($want missing from $moddir)"
  }
done

printf 'karpenter %s built %s in %ss\n' "$version" "$(date -u +%FT%TZ)" "$((SECONDS - start))" >"$tmp/.stamp"
rm -rf "$DIR"
mv "$tmp" "$DIR"
touch "$DIR"
# Keep the $KEEP most recently used builds.
n=0
while IFS= read -r d; do
  n=$((n + 1))
  if ((n > KEEP)); then rm -rf "$d"; fi
done < <(find "$CACHE/tools/karpenter" -mindepth 1 -maxdepth 1 -type d ! -name '.tmp-*' -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
log "$version built in $((SECONDS - start))s (download ${dl}s, compile+link $((SECONDS - start - dl))s)"
link
