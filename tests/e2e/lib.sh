#!/usr/bin/env bash
# Helpers to run Envoy and an HTTP/2 upstream on loopback.
#   source tests/e2e/lib.sh; e2e_init; e2e_trap; ...   (functions e2e_*)
#   tests/e2e/lib.sh <function without e2e_> [args]      (one call per step, as run.py does)
# State lives in a run directory (RUN_DIR, under target/e2e/): env (ports, paths), *.log,
# pids/*.pid, *.rc (exit codes). Every later step reads RUN_DIR/env, so steps may run in
# separate processes.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${ENVOY:=$E2E_ROOT/.venv/bin/envoy}"
: "${ENVOY_CONCURRENCY:=2}"
: "${ENVOY_LOG_LEVEL:=info}"
: "${ENVOY_READY_TIMEOUT:=30}"
# Where Envoy finds the native module (lib<name>.so) of h2mux-native.yaml.
: "${NATIVE_MODULE:=$E2E_ROOT/dist/libh2mux.so}"
export ENVOY_DYNAMIC_MODULES_SEARCH_PATH=${ENVOY_DYNAMIC_MODULES_SEARCH_PATH:-$(dirname "$NATIVE_MODULE")}

e2e_die() { echo "e2e: $*" >&2; return 1; }

# Reads the run directory's state, if there is one.
e2e_load() {
  [[ -n ${RUN_DIR:-} && -f $RUN_DIR/env ]] || return 0
  # shellcheck disable=SC1091
  source "$RUN_DIR/env"
}

# Records NAME=VALUE for later steps (and exports it in this shell).
e2e_set() {
  printf 'export %s=%q\n' "$1" "$2" >>"$RUN_DIR/env"
  export "$1=$2"
}

# Creates a fresh run directory (keeps the last 10), prints its path.
e2e_init() {
  local base=$E2E_ROOT/target/e2e
  mkdir -p "$base"
  RUN_DIR=$base/run-$(date +%Y%m%d-%H%M%S)-$$
  mkdir -p "$RUN_DIR/pids"
  : >"$RUN_DIR/env"
  e2e_set RUN_DIR "$RUN_DIR"
  ln -sfn "$(basename "$RUN_DIR")" "$base/latest"
  # shellcheck disable=SC2012
  ls -1dt "$base"/run-* 2>/dev/null | tail -n +11 | xargs -r rm -rf
  echo "$RUN_DIR"
}

# True when nothing listens on 127.0.0.1:PORT (a listener on 0.0.0.0 or :: answers too).
e2e_port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A port nothing listens on, other than those named after it (ports picked but not yet bound:
# the kernel may hand the same free port out twice in a row).
e2e_free_port() {
  python3 -c '
import socket, sys
avoid = set(sys.argv[1:])
for _ in range(100):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    if str(p) not in avoid:
        print(p); break
else:
    sys.exit("no free port")' "$@"
}

# Says which process listens on PORT, if ss can tell (it cannot for other users' processes).
e2e_port_holder() {
  local users
  users=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(([^)]*))' | head -n 1)
  if [[ $users =~ \(\(\"([^\"]+)\",pid=([0-9]+) ]]; then
    echo "${BASH_REMATCH[1]} (pid ${BASH_REMATCH[2]})"
  else
    echo "a process ss cannot name (another user's?)"
  fi
}

# Fixes the ports. The listener and admin ports (VAR... , default all four) are the documented
# ones unless set in the environment; if one is taken we stop (E2E_AUTO_PORTS=1 picks free ones
# instead). The upstream and the module server get free ports unless set, and a port set for
# them must be free too.
e2e_ports() {
  local spec var port
  local -A fixed=([ADMIN_PORT]=9901 [H2C_PORT]=10000 [TLS_PORT]=10443 [HCM_PORT]=10002)
  local vars=("$@") picked=()
  ((${#vars[@]})) || vars=(ADMIN_PORT H2C_PORT TLS_PORT HCM_PORT)
  # Ports set in the environment count as taken: a picked port must differ from all of them.
  for var in ADMIN_PORT H2C_PORT TLS_PORT HCM_PORT UPSTREAM_PORT WASM_PORT; do
    [[ -n ${!var:-} ]] && picked+=("${!var}")
  done
  for var in "${vars[@]}" UPSTREAM_PORT WASM_PORT; do
    port=${!var:-${fixed[$var]:-}}
    if [[ -z $port ]]; then
      port=$(e2e_free_port "${picked[@]}")
    elif ! e2e_port_free "$port"; then
      if [[ ${E2E_AUTO_PORTS:-0} = 1 ]]; then
        port=$(e2e_free_port "${picked[@]}")
      else
        echo "e2e: port $port ($var) is in use by $(e2e_port_holder "$port")" >&2
        e2e_die "stop that process, or set $var=<port>, or E2E_AUTO_PORTS=1 to pick free ports"
        return 1
      fi
    fi
    picked+=("$port")
    e2e_set "$var" "$port"
  done
}

# Self-signed certificate for the TLS listener.
e2e_cert() {
  local dir=$RUN_DIR/certs
  mkdir -p "$dir"
  [[ -f $dir/cert.pem ]] || openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>"$RUN_DIR/openssl.log" \
    || e2e_die "openssl failed, see $RUN_DIR/openssl.log" || return 1
  e2e_set CERT_DIR "$dir"
}

# Renders envoy-config/TEMPLATE.yaml.in into RUN_DIR/OUT_NAME (default TEMPLATE.yaml) and
# prints its path. CONFIG_JSON, WASM, BUFFER_LIMIT... come from the environment.
e2e_render() {
  local template=$1 out=${2:-$1.yaml}
  "$E2E_ROOT/envoy-config/render.sh" "$E2E_ROOT/envoy-config/$template.yaml.in" "$RUN_DIR/$out"
}

# Starts NAME in its own process group: output to RUN_DIR/NAME.log, exit code to RUN_DIR/NAME.rc.
# pids/NAME.pid is the wrapper (the group leader), NAME.cpid the command itself.
e2e_spawn() {
  local name=$1; shift
  rm -f "$RUN_DIR/$name.rc" "$RUN_DIR/$name.cpid"
  # setsid: stopping the group also stops whatever the command started.
  setsid bash -c '"${@:3}" & echo $! >"$2"; wait $!; echo $? >"$1"' \
    _ "$RUN_DIR/$name.rc" "$RUN_DIR/$name.cpid" "$@" >"$RUN_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/pids/$name.pid"
}

# A zombie counts as gone: our exited children are reaped by whoever adopted them, maybe late.
e2e_alive() {
  local st
  st=$(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) && [[ -n $st && $st != Z ]]
}

e2e_running() {
  local p
  for p in "$RUN_DIR/pids/$1.pid" "$RUN_DIR/$1.cpid"; do
    [[ -f $p ]] && e2e_alive "$(cat "$p")" && return 0
  done
  return 1
}

# Waits until something accepts on 127.0.0.1:PORT; fails early if process NAME has exited.
e2e_wait_port() {
  local port=$1 name=$2 deadline=$((SECONDS + ${3:-10}))
  while ((SECONDS < deadline)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    e2e_running "$name" || break
    sleep 0.1
  done
  tail -n 20 "$RUN_DIR/$name.log" >&2
  e2e_die "$name: nothing accepts on port $port (log: $RUN_DIR/$name.log)"
}

e2e_stop() {
  local name=$1 f=$RUN_DIR/pids/$1.pid pid i
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  kill -TERM -- "-$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    e2e_running "$name" || break
    sleep 0.05
  done
  if e2e_running "$name"; then
    echo "e2e: $name ignored SIGTERM for 5s, killing it" >&2
    kill -KILL -- "-$pid" 2>/dev/null
  fi
  rm -f "$f"
}

# Stops everything this run directory started.
e2e_cleanup() {
  [[ -d ${RUN_DIR:-}/pids ]] || return 0
  local f
  for f in "$RUN_DIR"/pids/*.pid; do
    [[ -e $f ]] && e2e_stop "$(basename "$f" .pid)"
  done
  return 0
}

# For scripts that source this file: clean up however the script ends.
e2e_trap() {
  trap e2e_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# Files the upstream serves: index.html, a 256 KiB and a 10 MiB file.
e2e_www() {
  local www=$RUN_DIR/www
  mkdir -p "$www"
  echo "h2mux e2e upstream" >"$www/index.html"
  head -c 262144 /dev/urandom >"$www/256k.bin"
  head -c 10485760 /dev/urandom >"$www/10m.bin"
  e2e_set E2E_WWW "$www"
}

# Starts the upstream as process NAME (default upstream): UPSTREAM_CMD (a bash command line
# that may use $UPSTREAM_PORT and $E2E_WWW), by default nghttpd serving E2E_WWW over h2c,
# echoing uploads, adding a trailer.
e2e_start_upstream() {
  local name=${1:-upstream}
  local cmd=${UPSTREAM_CMD:-'nghttpd --no-tls -a 127.0.0.1 --echo-upload --trailer "x-e2e-trailer: yes" -d "$E2E_WWW" "$UPSTREAM_PORT"'}
  e2e_spawn "$name" bash -c "$cmd"
  e2e_wait_port "$UPSTREAM_PORT" "$name" 10
}

# Serves WASM as /h2mux.wasm on WASM_PORT (for h2mux-remote.yaml).
e2e_start_wasm_server() {
  local dir=$RUN_DIR/wasm-server wasm=${WASM:-$E2E_ROOT/dist/h2mux.wasm}
  e2e_running wasm_server && return 0
  mkdir -p "$dir"
  cp "$wasm" "$dir/h2mux.wasm"
  e2e_spawn wasm_server python3 -m http.server "$WASM_PORT" --bind 127.0.0.1 --directory "$dir"
  e2e_wait_port "$WASM_PORT" wasm_server 10
}

# Starts Envoy with CONFIG as process NAME (default envoy) and WORKERS worker threads (default
# ENVOY_CONCURRENCY) and waits for /ready on its admin port (ADMIN, default ADMIN_PORT). Returns 0 when ready, 1 if Envoy exited first (exit code
# in RUN_DIR/NAME.rc), 2 on timeout.
e2e_start_envoy() {
  local config=$1 name=${2:-envoy} admin=${3:-$ADMIN_PORT} workers=${4:-$ENVOY_CONCURRENCY} deadline
  [[ -x $ENVOY ]] || e2e_die "no Envoy at $ENVOY (run: make envoy)" || return 1
  # No hot restart: several Envoys may run on one machine without --base-id juggling.
  # shellcheck disable=SC2086 # ENVOY_ARGS: extra arguments, split on spaces
  e2e_spawn "$name" "$ENVOY" -c "$config" --concurrency "$workers" \
    --disable-hot-restart --log-level "$ENVOY_LOG_LEVEL" \
    ${ENVOY_COMPONENT_LOG_LEVEL:+--component-log-level "$ENVOY_COMPONENT_LOG_LEVEL"} ${ENVOY_ARGS:-}
  deadline=$((SECONDS + ENVOY_READY_TIMEOUT))
  while ((SECONDS < deadline)); do
    [[ $(curl -s --max-time 1 "http://127.0.0.1:$admin/ready" 2>/dev/null) = LIVE ]] && return 0
    if ! e2e_running "$name"; then
      echo "e2e: $name exited with code $(cat "$RUN_DIR/$name.rc" 2>/dev/null || echo '?')" \
        "before ready (log: $RUN_DIR/$name.log)" >&2
      rm -f "$RUN_DIR/pids/$name.pid"
      return 1
    fi
    sleep 0.1
  done
  echo "e2e: $name not ready after ${ENVOY_READY_TIMEOUT}s (log: $RUN_DIR/$name.log)" >&2
  return 2
}

e2e_load
if [[ ${BASH_SOURCE[0]} = "$0" ]]; then
  [[ $# -ge 1 ]] || e2e_die "usage: lib.sh <function without e2e_> [args]" || exit 2
  fn=e2e_$1; shift
  declare -F "$fn" >/dev/null || e2e_die "no function $fn" || exit 2
  "$fn" "$@"
fi
