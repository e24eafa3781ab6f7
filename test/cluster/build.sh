#!/usr/bin/env bash
# Builds the local Kubernetes control-plane binaries used by Gantry's
# integration tests, from the Go module proxy only (no Docker, no downloads of
# release tarballs). See README.md in this folder.
#
#   bash test/cluster/build.sh [TOOL...]     TOOL: kube etcd kwok helm versitygw (default: all)
#
# Progress goes to stderr; the last line on stdout is the bin directory, so
#   BIN=$(bash test/cluster/build.sh)
# works. The bin directory is also linked at $GANTRY_BIN_DIR.
#
# Environment:
#   GANTRY_CACHE       cache root outside the clone (default: ~/.cache/gantry)
#                      holds go-build/ (GOCACHE), go-mod/ (GOMODCACHE),
#                      tools/<tool>/<hash>/ (built binaries), bin/<hash>/ (links), logs/
#   GANTRY_BIN_DIR     where to link the bin directory
#                      (default: ${GANTRY_STATE_DIR:-<repo>/.gantry}/bin, where cluster.sh looks)
#   GANTRY_BUILD_JOBS  go build -p value (default: 2)
#   GANTRY_FORCE=1     rebuild even if the stamp matches
#   GANTRY_KEEP        builds kept per tool in tools/<tool>/ (default: 3; older ones are removed)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${GANTRY_CACHE:-${HOME:?HOME is not set}/.cache/gantry}
BIN_LINK=${GANTRY_BIN_DIR:-${GANTRY_STATE_DIR:-$REPO_ROOT/.gantry}/bin} # as cluster.sh reads it
JOBS=${GANTRY_BUILD_JOBS:-2}
KEEP=${GANTRY_KEEP:-3}
ALL_TOOLS=(kube etcd kwok helm versitygw)

log() { printf '[cluster-build] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v go >/dev/null 2>&1 || die "the Go toolchain ('go') is not on PATH"

mkdir -p "$CACHE/go-build" "$CACHE/go-mod" "$CACHE/tools" "$CACHE/bin" "$CACHE/logs"
CACHE=$(cd "$CACHE" && pwd)

export GOCACHE="$CACHE/go-build"
export GOMODCACHE="$CACHE/go-mod"
export GOFLAGS="-buildvcs=false" # go.sum files are committed: the default -mod=readonly applies
export GOWORK=off
export CGO_ENABLED=0 # static binaries, no C toolchain needed (like upstream release builds)

# One build at a time per cache (CI and a developer shell may share it).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.build.lock"
  flock 9
fi
# Leftovers of interrupted builds.
rm -rf "$CACHE"/tools/*/.tmp-* "$CACHE"/bin/.tmp-*

sha() { sha256sum | cut -c1-16; }

# Hash of everything that determines a tool's binary.
tool_hash() {
  local tool=$1 dir="$HERE/$1"
  {
    echo "tool=$tool"
    (cd "$dir" && go env GOVERSION GOOS GOARCH CGO_ENABLED)
    sha256sum "$HERE/build.sh"
    (cd "$dir" && find . -maxdepth 1 -type f \( -name go.mod -o -name go.sum -o -name '*.go' \) | LC_ALL=C sort | xargs sha256sum)
  } | sha
}

# modver DIR MODULE -> version of MODULE in DIR's build list
modver() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }
# modtime DIR MODULE VERSION -> commit time of the tag (used as a reproducible build date)
modtime() { (cd "$1" && go list -m -f '{{with .Time}}{{.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' "$2@$3" 2>/dev/null) || true; }
# modcommit DIR MODULE VERSION -> upstream commit, when the proxy records it (empty otherwise)
modcommit() { (cd "$1" && go list -m -f '{{with .Origin}}{{.Hash}}{{end}}' "$2@$3" 2>/dev/null) || true; }

# Sets PKG, OUT, LDFLAGS and LINKS for a tool. Runs after `go mod download`.
tool_config() {
  local tool=$1 dir="$HERE/$1" v t c
  LINKS=()
  case $tool in
  kube)
    PKG=. OUT=kube
    v=$(modver "$dir" k8s.io/kubernetes)
    t=$(modtime "$dir" k8s.io/kubernetes "$v")
    c=$(modcommit "$dir" k8s.io/kubernetes "$v")
    local major minor
    major=${v#v}; major=${major%%.*}
    minor=${v#v*.}; minor=${minor%%.*}
    LDFLAGS=""
    local p
    for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
      LDFLAGS+=" -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor"
      LDFLAGS+=" -X $p.buildDate=${t:-1970-01-01T00:00:00Z} -X $p.gitTreeState=clean"
      [[ -n $c ]] && LDFLAGS+=" -X $p.gitCommit=$c"
    done
    LINKS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
    ;;
  etcd)
    PKG=. OUT=etcd
    v=$(modver "$dir" go.etcd.io/etcd/server/v3)
    c=$(modcommit "$dir" go.etcd.io/etcd/server/v3 "$v")
    LDFLAGS="-X go.etcd.io/etcd/api/v3/version.GitSHA=${c:-$v}"
    ;;
  kwok)
    PKG=sigs.k8s.io/kwok/cmd/kwok OUT=kwok
    v=$(modver "$dir" sigs.k8s.io/kwok)
    LDFLAGS="-X sigs.k8s.io/kwok/pkg/consts.Version=${v#v}"
    ;;
  helm)
    PKG=helm.sh/helm/v3/cmd/helm OUT=helm
    v=$(modver "$dir" helm.sh/helm/v3)
    c=$(modcommit "$dir" helm.sh/helm/v3 "$v")
    # As helm's Makefile: Kubernetes version = client-go v0.X.Y -> 1.X
    local kv kmajor kminor
    kv=$(modver "$dir" k8s.io/client-go)
    kv=${kv#v}; kmajor=$((${kv%%.*} + 1)); kminor=${kv#*.}; kminor=${kminor%%.*}
    LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
    [[ -n $c ]] && LDFLAGS+=" -X helm.sh/helm/v3/internal/version.gitCommit=$c"
    LDFLAGS+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$kmajor -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor"
    LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$kmajor -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor"
    ;;
  versitygw)
    PKG=github.com/versity/versitygw/cmd/versitygw OUT=versitygw
    v=$(modver "$dir" github.com/versity/versitygw)
    t=$(modtime "$dir" github.com/versity/versitygw "$v")
    c=$(modcommit "$dir" github.com/versity/versitygw "$v")
    LDFLAGS="-X main.Version=$v -X main.Build=${c:-$v} -X main.BuildTime=${t:-none}"
    ;;
  *) die "unknown tool '$tool' (known: ${ALL_TOOLS[*]})" ;;
  esac
  VERSION=$v
}

# build_tool TOOL -> sets TOOL_DIR to the directory holding its binaries.
build_tool() {
  local tool=$1 dir="$HERE/$1" hash logf start step
  [[ -f $dir/go.mod ]] || die "$tool: $dir/go.mod not found"
  hash=$(tool_hash "$tool")
  TOOL_DIR="$CACHE/tools/$tool/$hash"
  if [[ -f $TOOL_DIR/.stamp && -z ${GANTRY_FORCE:-} ]]; then
    touch "$TOOL_DIR" # most recently used: kept by prune_tool
    log "$tool: up to date ($TOOL_DIR)"
    return 0
  fi
  logf="$CACHE/logs/$tool.log"
  : >"$logf"
  start=$SECONDS
  log "$tool: building (log: $logf)"

  step="go mod download"
  if ! (cd "$dir" && go mod download) >>"$logf" 2>&1; then
    fail "$tool" "$step" "$logf"
  fi
  local dl=$((SECONDS - start))

  tool_config "$tool"
  step="go build $PKG"
  local tmp="$CACHE/tools/$tool/.tmp-$hash-$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  echo "+ go build -p $JOBS -trimpath -ldflags '-s -w $LDFLAGS' -o $tmp/$OUT $PKG" >>"$logf"
  if ! (cd "$dir" && go build -p "$JOBS" -trimpath -ldflags "-s -w $LDFLAGS" -o "$tmp/$OUT" "$PKG") >>"$logf" 2>&1; then
    rm -rf "$tmp"
    fail "$tool" "$step" "$logf"
  fi
  local l
  for l in "${LINKS[@]}"; do ln -s "$OUT" "$tmp/$l"; done
  if [[ $tool == kwok ]]; then
    step="write kwok-stages.yaml"
    write_kwok_stages "$dir" "$tmp/kwok-stages.yaml" >>"$logf" 2>&1 || fail "$tool" "$step" "$logf"
  fi
  printf '%s %s built %s in %ss\n' "$tool" "$VERSION" "$(date -u +%FT%TZ)" "$((SECONDS - start))" >"$tmp/.stamp"
  rm -rf "$TOOL_DIR"
  mv "$tmp" "$TOOL_DIR"
  touch "$TOOL_DIR"
  prune_tool "$tool"
  log "$tool: $VERSION built in $((SECONDS - start))s (download ${dl}s, compile+link $((SECONDS - start - dl))s)"
}

# The kwok controller has no built-in stages: write the upstream "fast" node
# and pod stages plus lease heartbeats (what kwokctl uses by default) as one
# file, for `kwok -c kwok-stages.yaml --node-lease-duration-seconds 40 ...`.
write_kwok_stages() {
  local dir=$1 dest=$2 src f
  src=$(cd "$dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage
  : >"$dest"
  for f in "$src"/node/fast/*.yaml "$src"/node/heartbeat-with-lease/*.yaml "$src"/pod/fast/*.yaml; do
    [[ $(basename "$f") == kustomization.yaml ]] && continue
    printf -- '---\n# %s\n' "${f#"$src"/}" >>"$dest"
    cat "$f" >>"$dest"
  done
  grep -q '^kind: Stage' "$dest"
}

# Keep the $KEEP most recently used builds of a tool; drop bin dirs whose links broke.
prune_tool() {
  local tool=$1 d n=0
  while IFS= read -r d; do
    n=$((n + 1))
    if ((n > KEEP)); then rm -rf "$d"; fi
  done < <(find "$CACHE/tools/$tool" -mindepth 1 -maxdepth 1 -type d ! -name '.tmp-*' -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
  for d in "$CACHE"/bin/*/; do
    [[ -d $d ]] || continue
    if find "$d" -maxdepth 1 -xtype l | grep -q .; then rm -rf "$d"; fi
  done
}

fail() {
  local tool=$1 step=$2 logf=$3
  log "FAILED: $tool: '$step' failed. Last lines of $logf:"
  tail -n 40 "$logf" | sed 's/^/    /' >&2
  die "$tool failed at '$step' (full log: $logf)"
}

TOOLS=("$@")
[[ ${#TOOLS[@]} -gt 0 ]] || TOOLS=("${ALL_TOOLS[@]}")

total_start=$SECONDS
declare -A DIRS=()
for tool in "${TOOLS[@]}"; do
  build_tool "$tool"
  DIRS[$tool]=$TOOL_DIR
done

# Combined bin directory: links to every selected tool's binaries.
key=$(for tool in "${TOOLS[@]}"; do echo "$tool ${DIRS[$tool]}"; done | sha)
BIN="$CACHE/bin/$key"
if [[ ! -f $BIN/.stamp ]]; then
  tmp="$CACHE/bin/.tmp-$key-$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  for tool in "${TOOLS[@]}"; do
    for f in "${DIRS[$tool]}"/*; do ln -s "$f" "$tmp/$(basename "$f")"; done
    cat "${DIRS[$tool]}/.stamp" >>"$tmp/.stamp"
  done
  rm -rf "$BIN"
  mv "$tmp" "$BIN"
fi

mkdir -p "$(dirname "$BIN_LINK")"
if [[ -d $BIN_LINK && ! -L $BIN_LINK ]]; then
  # An existing real directory: fill it with links instead of replacing it.
  for f in "$BIN"/*; do ln -sfn "$f" "$BIN_LINK/$(basename "$f")"; done
else
  ln -sfn "$BIN" "$BIN_LINK"
fi

log "done in $((SECONDS - total_start))s; bin dir: $BIN (linked at $BIN_LINK)"
echo "$BIN"
