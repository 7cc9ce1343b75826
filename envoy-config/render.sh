#!/usr/bin/env bash
# Renders an Envoy config template: render.sh TEMPLATE OUT (OUT: a directory or a file).
# Values come from the environment; unset ones take the defaults below.
set -euo pipefail

die() { echo "render.sh: $*" >&2; exit 1; }
[[ $# -eq 2 ]] || die "usage: render.sh TEMPLATE OUT_DIR_OR_FILE"
template=$1 out=$2
[[ -f $template ]] || die "no template $template"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -d $out ]]; then
  name=$(basename "$template"); out=$out/${name%.in}
fi

: "${ADMIN_PORT:=9901}" "${H2C_PORT:=10000}" "${TLS_PORT:=10443}" "${HCM_PORT:=10002}"
: "${UPSTREAM_PORT:=8080}" "${UPSTREAM_B_PORT:=8081}" "${WASM_PORT:=8000}" "${BUFFER_LIMIT:=1048576}"
: "${WASM:=$root/dist/h2mux.wasm}" "${CERT_DIR:=$(dirname "$out")/certs}" "${CONFIG_JSON:={\}}"
: "${TCP_ACCESS_LOG:=$(dirname "$out")/tcp-access.log}"
# Envoy resolves relative file names against its own working directory: make them absolute.
[[ $WASM = /* ]] || WASM=$PWD/$WASM
[[ $CERT_DIR = /* ]] || CERT_DIR=$PWD/$CERT_DIR
[[ $TCP_ACCESS_LOG = /* ]] || TCP_ACCESS_LOG=$PWD/$TCP_ACCESS_LOG
if [[ -z ${WASM_SHA256:-} ]] && grep -q '@WASM_SHA256@' "$template"; then
  [[ -f $WASM ]] || die "WASM_SHA256 unset and $WASM missing"
  WASM_SHA256=$(sha256sum "$WASM" | cut -d' ' -f1)
fi

# CONFIG_JSON sits in a single-quoted YAML scalar: one line, quotes doubled.
json=$(printf '%s' "$CONFIG_JSON" | tr '\n' ' ')
json=${json//\'/\'\'}

# Escapes a value for the right-hand side of a sed s|||.
sed_rhs() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

args=()
for var in ADMIN_PORT H2C_PORT TLS_PORT HCM_PORT UPSTREAM_PORT UPSTREAM_B_PORT WASM_PORT BUFFER_LIMIT \
           WASM CERT_DIR WASM_SHA256 TCP_ACCESS_LOG; do
  args+=(-e "s|@${var}@|$(sed_rhs "${!var:-}")|g")
done
args+=(-e "s|@CONFIG_JSON@|$(sed_rhs "$json")|g")

tmp=$out.tmp.$$
sed "${args[@]}" "$template" >"$tmp"
if left=$(grep -o '@[A-Z0-9_]*@' "$tmp" | sort -u | tr '\n' ' ') && [[ -n $left ]]; then
  rm -f "$tmp"; die "$template: no value for $left"
fi
mv "$tmp" "$out"
echo "$out"
