#!/usr/bin/env bash
# The local control plane for tests and the demo: etcd, kube-apiserver, controller-manager, scheduler, KWOK with
# simulated GPU node pools, Redis and an S3 server, all on 127.0.0.1, all started and stopped by PID.
#
#   bash test/cluster/cluster.sh up       start what is not running, wait until healthy, write .gantry/env
#   bash test/cluster/cluster.sh down     stop everything this state folder started, also after a crash
#   bash test/cluster/cluster.sh status   say what runs
#
# Optional, not part of up/status (see README.md, "Autoscaler: Karpenter"):
#   bash test/cluster/cluster.sh karpenter-up       on a running cluster: install Karpenter's CRDs and the NodePool
#                                                   gantry-burst, start Karpenter (KWOK provider), wait until Ready
#   bash test/cluster/cluster.sh karpenter-down     delete the NodePool (its nodes go), stop Karpenter
#   bash test/cluster/cluster.sh karpenter-status   exit 0 if Karpenter runs
#   GANTRY_KARPENTER=1 with up                      also runs karpenter-up
#
# Environment (defaults in brackets):
#   GANTRY_STATE_DIR [<repo>/.gantry]   kubeconfig, env file, PKI, data, logs and PIDs
#   GANTRY_BIN_DIR   [$GANTRY_STATE_DIR/bin]  the binaries from test/cluster/build.sh
#   GANTRY_PORT_OFFSET [0]              added to every port below, to run two clusters side by side
#   GANTRY_ETCD_PORT [32379] GANTRY_ETCD_PEER_PORT [32380] GANTRY_APISERVER_PORT [36443]
#   GANTRY_CM_PORT [30257] GANTRY_SCHEDULER_PORT [30259] GANTRY_KWOK_PORT [30247]
#   GANTRY_REDIS_PORT [36379] GANTRY_S3_PORT [37070]
#   GANTRY_NODES ["gpu-a100:2 gpu-spot:2 cpu:1"]  node pools and their sizes
#   GANTRY_KARPENTER_DIR [$GANTRY_STATE_DIR/karpenter]  karpenter-kwok and crds/ from test/cluster/build-karpenter.sh
#   GANTRY_KARPENTER_METRICS_PORT [30280] GANTRY_KARPENTER_HEALTH_PORT [30281] (plus GANTRY_PORT_OFFSET)
#   GANTRY_KARPENTER_LOG_LEVEL [info]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${GANTRY_STATE_DIR:-$REPO/.gantry}
mkdir -p "$STATE"
STATE=$(cd "$STATE" && pwd)
BIN=${GANTRY_BIN_DIR:-$STATE/bin}
RUN=$STATE/cluster
PKI=$RUN/pki
LOGS=$RUN/logs
PIDS=$RUN/pids
OFF=${GANTRY_PORT_OFFSET:-0}
# A running cluster keeps the ports it was started with, whatever the environment says now.
if [[ -f $RUN/ports.env ]]; then
  # shellcheck disable=SC1091
  source "$RUN/ports.env"
fi

ETCD_PORT=${ETCD_PORT:-$((${GANTRY_ETCD_PORT:-32379} + OFF))}
ETCD_PEER_PORT=${ETCD_PEER_PORT:-$((${GANTRY_ETCD_PEER_PORT:-32380} + OFF))}
API_PORT=${API_PORT:-$((${GANTRY_APISERVER_PORT:-36443} + OFF))}
CM_PORT=${CM_PORT:-$((${GANTRY_CM_PORT:-30257} + OFF))}
SCHED_PORT=${SCHED_PORT:-$((${GANTRY_SCHEDULER_PORT:-30259} + OFF))}
KWOK_PORT=${KWOK_PORT:-$((${GANTRY_KWOK_PORT:-30247} + OFF))}
REDIS_PORT=${REDIS_PORT:-$((${GANTRY_REDIS_PORT:-36379} + OFF))}
S3_PORT=${S3_PORT:-$((${GANTRY_S3_PORT:-37070} + OFF))}
NODES=${GANTRY_NODES:-"gpu-a100:2 gpu-spot:2 cpu:1"}
S3_BUCKET=gantry
KUBECONFIG_PATH=$STATE/kubeconfig
ENV_FILE=$STATE/env
COMPONENTS=(etcd apiserver controller-manager scheduler kwok redis s3)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

pid_of() { cat "$PIDS/$1.pid" 2>/dev/null || true; }
# Running, and not a zombie: a crashed child of a long-gone shell can linger unreaped as one.
pid_alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}
alive() {
  local pid
  pid=$(pid_of "$1")
  [[ -n $pid ]] && pid_alive "$pid"
}

# Fails with the fix when a port is taken by something that is not ours.
check_port() {
  local name=$1 port=$2 var=$3 deadline=$((SECONDS + 10))
  # A process that was just killed can hold its socket for a moment while its threads exit.
  while ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; do
    if ((SECONDS > deadline)); then
      die "port $port for $name is taken by another process ($(ss -Hltnp "sport = :$port" | grep -o 'users:.*' | head -1)). Stop it, or set $var or GANTRY_PORT_OFFSET."
    fi
    sleep 0.5
  done
}

check_tools() {
  local missing=()
  for t in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok versitygw; do
    [[ -x $BIN/$t ]] || missing+=("$BIN/$t")
  done
  if ((${#missing[@]} > 0)); then
    die "missing binaries: ${missing[*]}. Build them with: bash test/cluster/build.sh (or make setup)"
  fi
  for t in openssl curl ss redis-server redis-cli; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' is not installed. Install it with: make setup (apt-get install -y redis-server openssl curl iproute2)"
  done
}

# --- PKI -------------------------------------------------------------------------------------------------------------

cert() { # name CN O [SANs]
  local name=$1 cn=$2 org=$3 san=${4:-}
  [[ -f $PKI/$name.crt ]] && return 0
  openssl genrsa -out "$PKI/$name.key" 2048 2>/dev/null
  local subj="/CN=$cn"
  [[ -n $org ]] && subj="/O=$org/CN=$cn"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n $san ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$san"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 365 -sha256 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  if [[ ! -f $PKI/ca.crt ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 365 \
      -subj "/CN=gantry-local-ca" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
  fi
  cert apiserver kube-apiserver "" "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin gantry-admin system:masters
  cert controller-manager system:kube-controller-manager ""
  cert scheduler system:kube-scheduler ""
  cert kwok gantry-kwok system:masters
  if [[ ! -f $PKI/sa.key ]]; then
    openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
    openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  fi
}

kubeconfig() { # name file
  local name=$1 file=$2
  cat >"$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gantry-local
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $name
  user:
    client-certificate: $PKI/$name.crt
    client-key: $PKI/$name.key
contexts:
- name: gantry-local
  context: {cluster: gantry-local, user: $name}
current-context: gantry-local
EOF
  chmod 600 "$file"
}

# --- processes -------------------------------------------------------------------------------------------------------

STARTED=()

start() { # name cmd...
  local name=$1
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
  STARTED+=("$name")
}

wait_for() { # name seconds check-cmd...
  local name=$1 secs=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! alive "$name"; then
      log "$name exited while starting; the end of $LOGS/$name.log:"
      tail -n 25 "$LOGS/$name.log" >&2 || true
      die "$name did not start (see $LOGS/$name.log)"
    fi
    if ((SECONDS > deadline)); then
      log "$name is not healthy after ${secs}s; the end of $LOGS/$name.log:"
      tail -n 25 "$LOGS/$name.log" >&2 || true
      die "$name did not become healthy in ${secs}s"
    fi
    sleep 0.5
  done
}

stop_one() {
  local name=$1 pid
  pid=$(pid_of "$name")
  if [[ -n $pid ]] && pid_alive "$pid"; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      pid_alive "$pid" || break
      sleep 0.25
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
}

# A component that runs but does not answer (shutting down, wedged) is stopped so that it can be started afresh.
keep_if_healthy() { # name check-cmd...
  local name=$1
  shift
  alive "$name" || return 1
  local deadline=$((SECONDS + 10))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS > deadline)) || ! alive "$name"; then
      log "$name runs but does not answer; restarting it"
      stop_one "$name"
      return 1
    fi
    sleep 0.5
  done
}

on_failure() {
  local rc=$?
  if ((rc != 0)) && ((${#STARTED[@]} > 0)); then
    log "stopping what this run started: ${STARTED[*]}"
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_one "${STARTED[$i]}"; done
  fi
  exit $rc
}

api() { curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT$1"; }
kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }
s3_sign() { curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@"; }

start_etcd() {
  keep_if_healthy etcd curl -fsS "http://127.0.0.1:$ETCD_PORT/health" && return 0
  check_port etcd "$ETCD_PORT" GANTRY_ETCD_PORT
  check_port "etcd peer" "$ETCD_PEER_PORT" GANTRY_ETCD_PEER_PORT
  mkdir -p "$RUN/etcd"
  start etcd "$BIN/etcd" --name gantry --data-dir "$RUN/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "gantry=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "" \
    --quota-backend-bytes 2147483648 --unsafe-no-fsync
  wait_for etcd 60 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  keep_if_healthy apiserver api /readyz && return 0
  check_port kube-apiserver "$API_PORT" GANTRY_APISERVER_PORT
  start apiserver "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$API_PORT" \
    --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
    --client-ca-file "$PKI/ca.crt" \
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC \
    --allow-privileged=true \
    --profiling=false \
    --cert-dir "$RUN/apiserver-certs"
  wait_for apiserver 120 api /readyz
}

start_controller_manager() {
  keep_if_healthy controller-manager curl -fsSk "https://127.0.0.1:$CM_PORT/healthz" && return 0
  check_port kube-controller-manager "$CM_PORT" GANTRY_CM_PORT
  local kc=$RUN/controller-manager.kubeconfig
  kubeconfig controller-manager "$kc"
  start controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$CM_PORT" --cert-dir "$RUN/cm-certs" \
    --service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
    --use-service-account-credentials=true --leader-elect=false --profiling=false
  wait_for controller-manager 60 curl -fsSk "https://127.0.0.1:$CM_PORT/healthz"
}

start_scheduler() {
  keep_if_healthy scheduler curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz" && return 0
  check_port kube-scheduler "$SCHED_PORT" GANTRY_SCHEDULER_PORT
  local kc=$RUN/scheduler.kubeconfig
  kubeconfig scheduler "$kc"
  start scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
    --bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --cert-dir "$RUN/scheduler-certs" \
    --leader-elect=false --profiling=false
  wait_for scheduler 60 curl -fsSk "https://127.0.0.1:$SCHED_PORT/healthz"
}

start_kwok() {
  keep_if_healthy kwok curl -fsS "http://127.0.0.1:$KWOK_PORT/healthz" && return 0
  check_port kwok "$KWOK_PORT" GANTRY_KWOK_PORT
  local kc=$RUN/kwok.kubeconfig
  kubeconfig kwok "$kc"
  start kwok "$BIN/kwok" --kubeconfig "$kc" --config "$HERE/kwok.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --cidr 10.244.0.0/16 --node-ip 127.0.0.1 --server-address "127.0.0.1:$KWOK_PORT"
  wait_for kwok 60 curl -fsS "http://127.0.0.1:$KWOK_PORT/healthz"
}

make_nodes() {
  local pool count
  for spec in $NODES; do
    pool=${spec%%:*}
    count=${spec##*:}
    for ((i = 0; i < count; i++)); do
      bash "$HERE/nodes.sh" manifest "$pool" "$pool-$i"
    done
  done | kctl apply -f - >/dev/null
  local want=0
  for spec in $NODES; do want=$((want + ${spec##*:})); done
  wait_for kwok 60 nodes_ready "$want"
}

nodes_ready() {
  local ready
  ready=$(kctl get nodes -l type=kwok -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True)
  ((ready >= $1))
}

start_redis() {
  keep_if_healthy redis redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping && return 0
  check_port redis "$REDIS_PORT" GANTRY_REDIS_PORT
  mkdir -p "$RUN/redis"
  start redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN/redis" \
    --appendonly yes --appendfsync everysec --save "" --daemonize no --protected-mode yes
  wait_for redis 30 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
}

start_s3() {
  if [[ ! -f $RUN/s3.credentials ]]; then
    umask 077
    printf 'S3_ACCESS_KEY=%s\nS3_SECRET_KEY=%s\n' "gantry$(openssl rand -hex 6)" "$(openssl rand -hex 20)" >"$RUN/s3.credentials"
    umask 022
  fi
  # shellcheck disable=SC1091
  source "$RUN/s3.credentials"
  if ! alive s3; then
    check_port s3 "$S3_PORT" GANTRY_S3_PORT
    mkdir -p "$RUN/s3-data" "$RUN/s3-sidecar"
    ROOT_ACCESS_KEY=$S3_ACCESS_KEY ROOT_SECRET_KEY=$S3_SECRET_KEY \
      start s3 "$BIN/versitygw" --port "127.0.0.1:$S3_PORT" posix --sidecar "$RUN/s3-sidecar" "$RUN/s3-data"
    wait_for s3 30 s3_sign "http://127.0.0.1:$S3_PORT/"
  fi
  s3_sign "http://127.0.0.1:$S3_PORT/$S3_BUCKET" -o /dev/null 2>/dev/null ||
    s3_sign -X PUT "http://127.0.0.1:$S3_PORT/$S3_BUCKET" -o /dev/null
}

write_env() {
  umask 077
  cat >"$ENV_FILE" <<EOF
# Written by test/cluster/cluster.sh up. Source it: . $ENV_FILE
export KUBECONFIG=$KUBECONFIG_PATH
export GANTRY_BIN_DIR=$BIN
export REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
export S3_ENDPOINT=http://127.0.0.1:$S3_PORT
export S3_REGION=us-east-1
export S3_ACCESS_KEY=$S3_ACCESS_KEY
export S3_SECRET_KEY=$S3_SECRET_KEY
export S3_BUCKET=$S3_BUCKET
export ETCD_ENDPOINT=http://127.0.0.1:$ETCD_PORT
EOF
  umask 022
}

up() {
  check_tools
  mkdir -p "$RUN" "$LOGS" "$PIDS"
  if [[ ! -f $RUN/ports.env ]]; then
    declare -p ETCD_PORT ETCD_PEER_PORT API_PORT CM_PORT SCHED_PORT KWOK_PORT REDIS_PORT S3_PORT | sed 's/^declare -- //' >"$RUN/ports.env"
  fi
  trap on_failure EXIT
  local t0=$SECONDS
  make_pki
  kubeconfig admin "$KUBECONFIG_PATH"
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  start_kwok
  make_nodes
  start_redis
  start_s3
  write_env
  trap - EXIT
  log "up in $((SECONDS - t0))s${STARTED:+ (started: ${STARTED[*]})}"
  cat <<EOF
Local cluster is up.
  export KUBECONFIG=$KUBECONFIG_PATH        # or: . $ENV_FILE
  kubectl:   $BIN/kubectl get nodes
  Redis:     redis://127.0.0.1:$REDIS_PORT/0
  S3:        http://127.0.0.1:$S3_PORT  bucket $S3_BUCKET  (keys in $ENV_FILE)
  Stop it:   make cluster-down
EOF
}

down() {
  local stopped=()
  # Local node agents first: they give their pods' processes the grace period the stray-process sweep would not.
  bash "$HERE/node-agent.sh" stop --all >/dev/null 2>&1 || true
  # The optional autoscaler next, so that it does not react to the control plane going away.
  if [[ -f $PIDS/karpenter.pid ]]; then
    alive karpenter && stopped+=(karpenter)
    stop_one karpenter
  fi
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    local name=${COMPONENTS[$i]}
    if [[ -f $PIDS/$name.pid ]]; then
      alive "$name" && stopped+=("$name")
      stop_one "$name"
    fi
  done
  # Leftovers whose PID files were lost (a crash, a killed shell): anything still running from this state folder.
  local stray
  stray=$({
    pgrep -f -- "$RUN/" || true
    # redis-server rewrites its command line, so match it by the port this cluster gave it.
    [[ -f $RUN/ports.env ]] && { pgrep -f -- "redis-server 127.0.0.1:$REDIS_PORT" || true; }
  } | sort -u)
  if [[ -n $stray ]]; then
    log "stopping leftover processes: $(echo "$stray" | tr '\n' ' ')"
    kill -TERM $stray 2>/dev/null || true
    sleep 1
    kill -KILL $stray 2>/dev/null || true
  fi
  rm -rf "$RUN" "$ENV_FILE" "$KUBECONFIG_PATH"
  log "down${stopped[*]:+ (stopped: ${stopped[*]})}; removed $RUN"
}

status() {
  local rc=0
  for name in "${COMPONENTS[@]}"; do
    if alive "$name"; then
      printf '%-20s running (pid %s)\n' "$name" "$(pid_of "$name")"
    else
      printf '%-20s stopped\n' "$name"
      rc=1
    fi
  done
  return $rc
}

# --- optional: Karpenter with its KWOK provider, the autoscaler ---------------------------------------------------
# Not in COMPONENTS: `status` (and so "is the cluster up") does not depend on it, and up starts it only on request.

KARPENTER_DIR=${GANTRY_KARPENTER_DIR:-$STATE/karpenter}
KARPENTER_RUN=$RUN/karpenter
KARPENTER_NODEPOOL=gantry-burst
if [[ -f $KARPENTER_RUN/ports.env ]]; then
  # shellcheck disable=SC1091
  source "$KARPENTER_RUN/ports.env"
fi
KARPENTER_METRICS_PORT=${KARPENTER_METRICS_PORT:-$((${GANTRY_KARPENTER_METRICS_PORT:-30280} + OFF))}
KARPENTER_HEALTH_PORT=${KARPENTER_HEALTH_PORT:-$((${GANTRY_KARPENTER_HEALTH_PORT:-30281} + OFF))}

karpenter_ready() { curl -fsS "http://127.0.0.1:$KARPENTER_HEALTH_PORT/readyz"; }
nodepool_ready() {
  [[ $(kctl get nodepool "$KARPENTER_NODEPOOL" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

karpenter_up() {
  [[ -x $KARPENTER_DIR/karpenter-kwok && -d $KARPENTER_DIR/crds ]] ||
    die "Karpenter is not built ($KARPENTER_DIR/karpenter-kwok). Build it with: bash test/cluster/build-karpenter.sh"
  if ! { [[ -f $PKI/ca.crt ]] && api /readyz >/dev/null 2>&1; }; then
    die "the cluster is not up: run bash test/cluster/cluster.sh up first"
  fi
  mkdir -p "$KARPENTER_RUN" "$LOGS" "$PIDS"
  trap on_failure EXIT
  local t0=$SECONDS
  if keep_if_healthy karpenter karpenter_ready; then
    kctl apply -f "$HERE/karpenter/nodepool.yaml" >/dev/null # picks up edits; unchanged objects are left alone
    nodepool_ready || wait_for karpenter 60 nodepool_ready
    trap - EXIT
    log "karpenter already runs (pid $(pid_of karpenter))"
    return 0
  fi
  check_port "karpenter metrics" "$KARPENTER_METRICS_PORT" GANTRY_KARPENTER_METRICS_PORT
  check_port "karpenter health" "$KARPENTER_HEALTH_PORT" GANTRY_KARPENTER_HEALTH_PORT
  declare -p KARPENTER_METRICS_PORT KARPENTER_HEALTH_PORT | sed 's/^declare -- //' >"$KARPENTER_RUN/ports.env"
  # Like KWOK's: a client certificate of its own, in system:masters (a local cluster; the chart's RBAC is not used).
  cert karpenter gantry-karpenter system:masters
  local kc=$RUN/karpenter.kubeconfig
  kubeconfig karpenter "$kc"
  kctl apply --server-side --force-conflicts -f "$KARPENTER_DIR/crds" >/dev/null
  kctl wait --for condition=Established --timeout 60s -f "$KARPENTER_DIR/crds" >/dev/null
  kctl apply -f "$HERE/karpenter/nodepool.yaml" >/dev/null
  cp "$HERE/karpenter/instance-types.json" "$KARPENTER_RUN/instance-types.json"
  # Ports of their own (the defaults 8080/8081 are the operator's); no leader election (one replica, no webhook).
  start karpenter env KUBECONFIG="$kc" SYSTEM_NAMESPACE=kube-system CLUSTER_NAME=gantry-local \
    DISABLE_LEADER_ELECTION=true METRICS_PORT="$KARPENTER_METRICS_PORT" HEALTH_PROBE_PORT="$KARPENTER_HEALTH_PORT" \
    LOG_LEVEL="${GANTRY_KARPENTER_LOG_LEVEL:-info}" BATCH_MAX_DURATION=5s BATCH_IDLE_DURATION=1s \
    "$KARPENTER_DIR/karpenter-kwok" --instance-types-file-path "$KARPENTER_RUN/instance-types.json"
  wait_for karpenter 120 karpenter_ready
  wait_for karpenter 60 nodepool_ready
  trap - EXIT
  log "karpenter up in $((SECONDS - t0))s (NodePool $KARPENTER_NODEPOOL, log $LOGS/karpenter.log)"
}

karpenter_down() {
  # Delete the NodePool while Karpenter still runs, so that it drains and deletes the nodes it made (their
  # finalizer is Karpenter's); then stop it. Anything left (Karpenter already dead) is removed by hand.
  if [[ -f $PKI/ca.crt ]] && api /readyz >/dev/null 2>&1 && kctl get crd nodepools.karpenter.sh >/dev/null 2>&1; then
    kctl delete nodepool "$KARPENTER_NODEPOOL" --ignore-not-found --wait=false >/dev/null
    if alive karpenter; then
      local deadline=$((SECONDS + 60))
      while [[ -n $(kctl get nodeclaims -l "karpenter.sh/nodepool=$KARPENTER_NODEPOOL" -o name 2>/dev/null) ]] && ((SECONDS < deadline)); do
        sleep 1
      done
    fi
  fi
  local was=""
  alive karpenter && was=yes
  stop_one karpenter
  if [[ -f $PKI/ca.crt ]] && api /readyz >/dev/null 2>&1 && kctl get crd nodepools.karpenter.sh >/dev/null 2>&1; then
    local o
    for o in $(kctl get nodeclaims -o name 2>/dev/null) $(kctl get nodes -l karpenter.sh/nodepool -o name 2>/dev/null); do
      log "removing leftover $o"
      kctl patch "$o" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
      kctl delete "$o" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    done
  fi
  rm -rf "$KARPENTER_RUN"
  log "karpenter down${was:+ (stopped)}"
}

karpenter_status() {
  if alive karpenter; then
    printf '%-20s running (pid %s)\n' karpenter "$(pid_of karpenter)"
  else
    printf '%-20s stopped\n' karpenter
    return 1
  fi
}

case ${1:-} in
up)
  up
  if [[ ${GANTRY_KARPENTER:-} == 1 ]]; then karpenter_up; fi
  ;;
down) down ;;
status) status ;;
karpenter-up) karpenter_up ;;
karpenter-down) karpenter_down ;;
karpenter-status) karpenter_status ;;
*)
  echo "usage: $0 {up|down|status|karpenter-up|karpenter-down|karpenter-status}" >&2
  exit 2
  ;;
esac
