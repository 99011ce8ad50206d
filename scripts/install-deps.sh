#!/usr/bin/env bash
# Installs the Debian packages selsa needs to build, test and benchmark. Idempotent: packages
# already present are not reinstalled, and nothing is fetched when all are there.
set -euo pipefail

PKGS=(
  build-essential pkg-config
  libopenblas-openmp-dev libopenblas0-openmp   # BLAS: the OpenMP build, linked by path
  libjpeg62-turbo-dev libpng-dev zlib1g-dev libexpat1-dev libyaml-dev
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev ffmpeg
  python3 python3-numpy python3-torch python3-torchvision python3-opencv  # test references only
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: need root to install: ${missing[*]}" >&2
    echo "  run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
else SUDO=""; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
