#!/usr/bin/env bash
# Installs the Debian packages a2q needs. Safe to run again: it installs only what is missing.
#   scripts/setup.sh            build, test and run the main job
#   scripts/setup.sh --format   also clang-format (CI's style check)
#   scripts/setup.sh --fuzz     also clang and its libFuzzer runtime (scripts/fuzz.sh)
#   scripts/setup.sh --bench    nothing more today: oneDNN (the int8 peer, and conv2d's backend) and PyTorch
#                               are installed anyway; kept so that scripts calling it keep working
set -euo pipefail

# libonnx-dev and libprotobuf-dev build a2q::onnx (ONNX import, QONNX export); python3-torch and python3-onnx
# are the test clients that check it against PyTorch's exports and ONNX's checker. libdnnl-dev (oneDNN) runs
# conv2d in training (CMake option A2Q_ONEDNN) and is the int8 benchmarks' peer.
# librsvg2-bin (rsvg-convert) and libxml2-utils (xmllint) render and validate the sweep's SVG plots in CTest;
# parallel (GNU parallel) runs the sweep's jobs there.
packages=(g++ cmake make libeigen3-dev nlohmann-json3-dev catch2 libcli11-dev libfmt-dev zlib1g-dev
  dataset-fashion-mnist libonnx-dev libprotobuf-dev python3-onnx python3-torch python3-numpy libdnnl-dev
  librsvg2-bin libxml2-utils parallel)
for arg in "$@"; do
  case "$arg" in
    --format) packages+=(clang-format) ;;
    --bench) ;;
    --fuzz) packages+=(clang libclang-rt-dev) ;;
    *) echo "setup.sh: unknown option '$arg' (expected --format, --fuzz or --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo "$0" "$@"
  fi
  echo "setup.sh: these Debian packages are missing: ${missing[*]}" >&2
  echo "setup.sh: run as root, or install them with: apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
