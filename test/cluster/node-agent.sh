#!/usr/bin/env bash
# The local node agent (test/node-agent, the local development runtime) in the background, beside the local cluster.
# Each agent registers one Node and runs the pods bound to it as local processes.
#
#   bash test/cluster/node-agent.sh start NAME [agent options]   e.g. start dev-gpu-0 --pool gpu-a100 --gpus 2
#   bash test/cluster/node-agent.sh stop NAME|--all [--delete-node]
#   bash test/cluster/node-agent.sh status
#
# Agent options are main.ts's (npx tsx test/node-agent/main.ts --help). Logs: <state>/cluster/logs/node-agent-NAME.log;
# pod logs: <state>/cluster/pods/<namespace>_<pod>_<uid>/<container>.log. Run `stop --all` before `cluster.sh down`:
# stopping an agent stops its pods' processes.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${GANTRY_STATE_DIR:-$REPO/.gantry}
RUN=$STATE/cluster
PIDS=$RUN/pids
LOGS=$RUN/logs

log() { printf '[node-agent] %s\n' "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}
pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

start() {
  local name=${1:?usage: start NAME [agent options]}
  shift
  [[ -f $STATE/kubeconfig ]] || die "no $STATE/kubeconfig: start the cluster first (make cluster-up)"
  mkdir -p "$PIDS" "$LOGS"
  local pidfile=$PIDS/node-agent-$name.pid logfile=$LOGS/node-agent-$name.log
  if pid_alive "$(cat "$pidfile" 2>/dev/null || true)"; then
    log "$name runs already (pid $(cat "$pidfile"))"
    return 0
  fi
  : >"$logfile"
  KUBECONFIG=$STATE/kubeconfig setsid node --import "$REPO/node_modules/tsx/dist/loader.mjs" "$REPO/test/node-agent/main.ts" \
    --node "$name" --state-dir "$RUN" "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + 30))
  until grep -q '"message":"node agent ready"' "$logfile"; do
    if ! pid_alive "$(cat "$pidfile")"; then
      tail -n 20 "$logfile" >&2
      rm -f "$pidfile"
      die "$name exited while starting (see $logfile)"
    fi
    ((SECONDS < deadline)) || die "$name is not ready after 30s (see $logfile)"
    sleep 0.3
  done
  log "$name is up (pid $(cat "$pidfile"), log $logfile)"
}

stop_one() {
  local pidfile=$1 delete=$2 pid name
  name=$(basename "$pidfile" .pid)
  name=${name#node-agent-}
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if pid_alive "$pid"; then
    kill -TERM "$pid"
    # The agent gives its pods up to 10 s after SIGTERM, then kills them.
    for _ in $(seq 1 60); do
      pid_alive "$pid" || break
      sleep 0.25
    done
    pid_alive "$pid" && kill -KILL "$pid"
  fi
  rm -f "$pidfile"
  if [[ $delete == true && -f $STATE/kubeconfig ]]; then
    "${GANTRY_BIN_DIR:-$STATE/bin}/kubectl" --kubeconfig "$STATE/kubeconfig" delete node "$name" --ignore-not-found >/dev/null
  fi
  log "$name stopped"
}

stop() {
  local target=${1:?usage: stop NAME|--all [--delete-node]} delete=false
  [[ ${2:-} == --delete-node ]] && delete=true
  if [[ $target == --all ]]; then
    shopt -s nullglob
    for f in "$PIDS"/node-agent-*.pid; do stop_one "$f" "$delete"; done
  else
    stop_one "$PIDS/node-agent-$target.pid" "$delete"
  fi
}

status() {
  shopt -s nullglob
  local any=false
  for f in "$PIDS"/node-agent-*.pid; do
    any=true
    local name
    name=$(basename "$f" .pid)
    if pid_alive "$(cat "$f")"; then printf '%-30s running (pid %s)\n' "${name#node-agent-}" "$(cat "$f")"; else printf '%-30s stopped\n' "${name#node-agent-}"; fi
  done
  $any || echo "no node agents"
}

case ${1:-} in
start) shift && start "$@" ;;
stop) shift && stop "$@" ;;
status) status ;;
*)
  echo "usage: $0 {start NAME [options]|stop NAME|--all [--delete-node]|status}" >&2
  exit 2
  ;;
esac
