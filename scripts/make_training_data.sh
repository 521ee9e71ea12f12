#!/usr/bin/env bash
# Re-creates the default model's training set under OUT (default data/train) from what this
# kind of machine can reach: two Debian packages, fetched with `apt-get download` and unpacked
# without installing, then `litetrack data offline`. Licences (../shared/docs/offline-data.md):
#   opencv-doc        vtest.avi, pedestrians, Apache-2.0 / BSD-3-Clause. Megamind*.avi (a
#                     commercial film) is never used.
#   mate-backgrounds  nature photographs, GPL-2+ (backgrounds of rendered scenes, warped stills).
# A rerun keeps what is there and completes the rest.
set -euo pipefail
out=${1:-data/train}
raw="$out/raw"
mkdir -p "$raw/unpacked"
(
  cd "$raw"
  for pkg in opencv-doc mate-backgrounds; do
    ls "${pkg}"_*.deb >/dev/null 2>&1 || apt-get download "$pkg"
  done
  for deb in *.deb; do dpkg-deb -x "$deb" unpacked; done
)
.venv/bin/litetrack data offline "$out" \
  --photos "$raw/unpacked/usr/share/backgrounds/mate" \
  --videos "$raw/unpacked/usr/share/doc/opencv-doc/examples/data/vtest.avi" \
  --synthetic "${SYNTHETIC:-1000}" --warps-per-photo 4 --seed 0 --workers 2
