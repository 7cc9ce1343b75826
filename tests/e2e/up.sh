#!/usr/bin/env bash
# Starts the upstream and Envoy (h2mux.yaml with dist/h2mux.wasm, else plain-tcp.yaml) and
# keeps them up until Ctrl-C, for trying things by hand. Same environment as run.py.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

e2e_init >/dev/null
e2e_trap
e2e_ports
e2e_cert
e2e_www
export WASM=${WASM:-$E2E_ROOT/dist/h2mux.wasm}
template=plain-tcp
[[ -f $WASM ]] && template=h2mux
e2e_start_upstream
e2e_start_envoy "$(e2e_render "$template")"
cat <<EOF
Envoy ($template.yaml) and the upstream are up; run directory $RUN_DIR
  curl --http2-prior-knowledge http://127.0.0.1:$H2C_PORT/
  curl -k --http2 https://127.0.0.1:$TLS_PORT/
  curl http://127.0.0.1:$ADMIN_PORT/stats?filter=wasmcustom
Ctrl-C stops both.
EOF
while e2e_running envoy && e2e_running upstream; do sleep 1; done
echo "e2e: a process exited; see $RUN_DIR/*.log" >&2
exit 1
