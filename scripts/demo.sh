#!/usr/bin/env bash
# The demo, from a fresh clone: builds the addon and the tokenizer, then starts
#   - the example Express app using the SDK on http://localhost:3001 (sign up, fill in a profile whose
#     SSN, note and ID document are Secure Frames; see what the app stored at /rows), and
#   - the Dedicated Tokenizer on http://127.0.0.1:37766 with its embedded defaults (records in a
#     local file store, encrypted values in its own blob store; no services, dev secret kept in
#     .demo/tokenizer). It serves the frames.
# localhost and 127.0.0.1 are different sites to a browser, as the app and the tokenizer are in
# production: the frames are cross-site iframes and nothing relies on third-party cookies.
# Ctrl-C stops both. Usage: npm run demo  (or bash scripts/demo.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
need node "Node.js 18+"
need cargo "the Rust toolchain"

APP_PORT="${APP_PORT:-3001}"
TOKENIZER_PORT="${TOKENIZER_PORT:-37766}"
APP_URL="http://localhost:$APP_PORT"
TOKENIZER_URL="http://127.0.0.1:$TOKENIZER_PORT"
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

# Waits until a URL answers 2xx (at most ~30 s), or fails the script.
wait_for() {
  node -e "
    const url = process.argv[1];
    const deadline = Date.now() + 30000;
    (async () => {
      while (Date.now() < deadline) {
        try { if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return; } catch {}
        await new Promise((r) => setTimeout(r, 200));
      }
      console.error('error: ' + url + ' did not come up');
      process.exit(1);
    })();" "$1"
}

step "example app on $APP_URL"
APP_PORT="$APP_PORT" \
TOKENIZER_URL="$TOKENIZER_URL" \
LUNASEC_SIGNING_KEY="$(cat "$DEMO_DIR/signing-key.b64")" \
  node examples/express-app/server.js &
pids+=($!)
wait_for "http://127.0.0.1:$APP_PORT/api/health"

step "tokenizer on $TOKENIZER_URL (embedded storage, dev mode)"
TOKENIZER_HTTP_ADDR="127.0.0.1:$TOKENIZER_PORT" \
TOKENIZER_PUBLIC_URL="$TOKENIZER_URL" \
SESSION_JWKS_URL="$APP_URL/.lunasec/jwks.json" \
AUTH_PROVIDERS="{\"app\":{\"url\":\"$APP_URL\",\"default\":true}}" \
APPLICATION_FRONT_END="$APP_URL" \
TOKENIZER_DATA_DIR="$DEMO_DIR/tokenizer" \
TOKENIZER_ENV=dev \
  "$ROOT/target/$HOST_TRIPLE/release/lunasec-tokenizer" &
pids+=($!)
wait_for "$TOKENIZER_URL/health"

cat >&2 <<MSG

  Open $APP_URL/
  Sign up, fill in your profile (SSN, note, ID document) and save; then open "Stored rows" to see that the app kept tokens only.

  (tokenizer: $TOKENIZER_URL · JWKS: $APP_URL/.lunasec/jwks.json · Ctrl-C stops both)

MSG
wait -n "${pids[@]}"
