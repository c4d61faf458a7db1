#!/usr/bin/env bash
# The demo, from a fresh clone: builds the addon and the tokenizer, then starts
#   - the Dedicated Tokenizer on http://localhost:37766 with its embedded defaults (records in a
#     local file store, encrypted values in its own blob store; no services, dev secret kept in
#     .demo/tokenizer), and
#   - the example Express app using the SDK on http://localhost:3001.
# Ctrl-C stops both. Usage: npm run demo  (or bash scripts/demo.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
need node "Node.js 18+"
need cargo "the Rust toolchain"

APP_PORT="${APP_PORT:-3001}"
TOKENIZER_PORT="${TOKENIZER_PORT:-37766}"
DEMO_DIR="$ROOT/.demo"
mkdir -p "$DEMO_DIR"

ensure_node_modules
build_addon
step "build the tokenizer (release)"
cargo build --release --target "$HOST_TRIPLE" -p lunasec-tokenizer

# One signing key for the demo app, kept across restarts so the tokenizer's sessions stay valid.
if [ ! -f "$DEMO_DIR/signing-key.b64" ]; then
  (umask 077 && node -e "const {generateKeyPairSync}=require('crypto');const {privateKey}=generateKeyPairSync('rsa',{modulusLength:2048});process.stdout.write(Buffer.from(privateKey.export({type:'pkcs8',format:'pem'})).toString('base64'))" > "$DEMO_DIR/signing-key.b64")
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

step "tokenizer on http://localhost:$TOKENIZER_PORT (embedded storage, dev mode)"
TOKENIZER_HTTP_ADDR="127.0.0.1:$TOKENIZER_PORT" \
TOKENIZER_PUBLIC_URL="http://localhost:$TOKENIZER_PORT" \
SESSION_JWKS_URL="http://localhost:$APP_PORT/.lunasec/jwks.json" \
AUTH_PROVIDERS="{\"app\":{\"url\":\"http://localhost:$APP_PORT\",\"default\":true}}" \
APPLICATION_FRONT_END="http://localhost:$APP_PORT" \
TOKENIZER_DATA_DIR="$DEMO_DIR/tokenizer" \
TOKENIZER_ENV=dev \
  "$ROOT/target/$HOST_TRIPLE/release/lunasec-tokenizer" &
pids+=($!)

step "example app on http://localhost:$APP_PORT"
APP_PORT="$APP_PORT" TOKENIZER_URL="http://localhost:$TOKENIZER_PORT" LUNASEC_SIGNING_KEY="$(cat "$DEMO_DIR/signing-key.b64")" \
  node examples/express-app/server.js &
pids+=($!)

cat >&2 <<MSG

  Demo running:
    app        http://localhost:$APP_PORT        (log in, then see /api/ssn)
    tokenizer  http://localhost:$TOKENIZER_PORT  (GET /health)
    JWKS       http://localhost:$APP_PORT/.lunasec/jwks.json
  Ctrl-C stops both.

MSG
wait -n "${pids[@]}"
