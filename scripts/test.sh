#!/usr/bin/env bash
# Runs every check Monban has: formatting, clippy with warnings denied, the browser tests in
# real Chromium, OpenAPI validation, and all Rust tests (storage tests on SQLite and on a real
# PostgreSQL). Installs what is missing first (scripts/setup.sh).
#
# Build output goes to a cache directory outside the clone ($MONBAN_CACHE_DIR, by default
# /var/tmp/monban-cache) so that a fresh clone does not start from a cold build.
set -euo pipefail
cd "$(dirname "$0")/.."

export MONBAN_CACHE_DIR="${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MONBAN_CACHE_DIR/target}"
export MONBAN_TEST_PG_URL="${MONBAN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
export MONBAN_ARTIFACTS_DIR="${MONBAN_ARTIFACTS_DIR:-$MONBAN_CACHE_DIR/artifacts}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Tests that need an installed peer fail, rather than skip, when it is missing.
export MONBAN_REQUIRE_OSDP=1
export MONBAN_REQUIRE_FACE_ASSETS=1
mkdir -p "$CARGO_TARGET_DIR" "$MONBAN_ARTIFACTS_DIR"
step() { printf '\n==> [%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

step "準備 / setup"
bash scripts/setup.sh

step "書式 / cargo fmt --check"
cargo fmt --all -- --check

step "静的解析 / cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "ビルド / cargo build"
cargo build --workspace --all-targets --locked
cargo nextest --version >/dev/null 2>&1 || cargo install --locked cargo-nextest

step "OpenAPI 文書の検証 / validating the OpenAPI document"
"$CARGO_TARGET_DIR/debug/monban" openapi > "$MONBAN_ARTIFACTS_DIR/openapi.json"
python3 -m openapi_spec_validator "$MONBAN_ARTIFACTS_DIR/openapi.json"

step "ブラウザテスト（Chromium） / browser tests in Chromium"
(cd tests/web && MONBAN_BIN="$CARGO_TARGET_DIR/debug/monban" node --test)

step "Rust のテスト / Rust tests (SQLite and PostgreSQL)"
cargo nextest run --workspace --locked --no-fail-fast
