#!/usr/bin/env bash
# Starts an upstream and Envoy (h2mux.yaml with dist/h2mux.wasm, else plain-tcp.yaml) and
# keeps them up until Ctrl-C, for trying things by hand. `make run` is this with the demo
# upstream on 127.0.0.1:8080. Same environment as run.py, and:
#   UPSTREAM=nghttpd (default; serves generated files) or demo (wasm-tests' demo upstream)
#   E2E_ARTIFACT=native  the native module (dist/libh2mux.so, h2mux-native.yaml) in place of
#                        the .wasm (`make run NATIVE=1`)
# A port that is taken is an error naming it (exit code 1), unless E2E_AUTO_PORTS=1.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

upstream=${UPSTREAM:-nghttpd}
demo=${DEMO_UPSTREAM:-$E2E_ROOT/wasm-tests/target/release/demo-upstream}
case $upstream in
  nghttpd) ;;
  demo) [[ -x $demo ]] || e2e_die "no $demo (make upstream)" || exit 1 ;;
  *) e2e_die "UPSTREAM must be nghttpd or demo, not $upstream" || exit 1 ;;
esac

e2e_init >/dev/null
e2e_trap
e2e_ports ADMIN_PORT H2C_PORT TLS_PORT || exit 1
e2e_cert
export WASM=${WASM:-$E2E_ROOT/dist/h2mux.wasm}
template=plain-tcp stats=wasmcustom
if [[ ${E2E_ARTIFACT:-wasm} = native ]]; then
  [[ -f $NATIVE_MODULE ]] || e2e_die "no $NATIVE_MODULE (make native)" || exit 1
  template=h2mux-native stats=dynamicmodulescustom
elif [[ -f $WASM ]]; then
  template=h2mux
fi
if [[ $upstream = demo ]]; then
  UPSTREAM_CMD="exec $(printf %q "$demo") --listen 127.0.0.1:\$UPSTREAM_PORT" e2e_start_upstream
else
  e2e_www
  e2e_start_upstream
fi
e2e_start_envoy "$(e2e_render "$template")" || exit 1

h2c=http://127.0.0.1:$H2C_PORT tls=https://127.0.0.1:$TLS_PORT
cat <<EOF
Envoy ($template.yaml) on h2c $H2C_PORT, TLS $TLS_PORT, admin $ADMIN_PORT; upstream ($upstream) on $UPSTREAM_PORT
Run directory (logs): $RUN_DIR
  curl --http2-prior-knowledge $h2c/
  curl -k --http2 $tls/
EOF
if [[ $upstream = demo ]]; then
  cat <<EOF
  seq 1000000 | curl --http2-prior-knowledge --data-binary @- $h2c/sha256; seq 1000000 | sha256sum
  nghttp -v $h2c/trailers | grep -E 'grpc|x-trailer'   # trailers (curl does not show them)
  curl --http2-prior-knowledge $h2c/bytes/1000000 -o /dev/null -w '%{size_download} bytes\n'
  curl --http2-prior-knowledge $h2c/stats           # the upstream's counters, through h2mux
EOF
fi
cat <<EOF
  curl http://127.0.0.1:$ADMIN_PORT/stats?filter=$stats   # the filter's metrics
Ctrl-C stops both.
EOF
while e2e_running envoy && e2e_running upstream; do sleep 1; done
echo "e2e: a process exited; see $RUN_DIR/*.log" >&2
exit 1
