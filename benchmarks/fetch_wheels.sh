#!/usr/bin/env bash
# Download, on a machine with network, the few wheels the GPU machine lacks (it has no network).
# Python 3.12, manylinux x86_64. benchmarks/gpu_check.sh installs them there with --no-index.
#
#   bash benchmarks/fetch_wheels.sh            # -> benchmarks/wheels/ (git-ignored; pass it in `carry`)
#
# What the H200 image already has (KINDS.md): torch 2.11, numpy, tiktoken, tokenizers, safetensors,
# pytest, anyio, typing-extensions. What our code needs beyond that: soundfile (the codec CLI and the
# audio package read/write wav) with its cffi + pycparser. The worker/server stacks (runpod, fastapi)
# are not needed by the GPU check and stay behind (runpod alone pulls ~40 MB of dependencies).
set -euo pipefail
cd "$(dirname "$0")"
DEST=wheels
rm -rf "$DEST" && mkdir -p "$DEST"
# One pinned version each: two versions of one package stop the whole --no-index install.
PKGS=(soundfile==0.13.1 cffi==1.17.1 pycparser==2.22)
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any -d "$DEST" "${PKGS[@]}"
ls -l "$DEST"
du -sh "$DEST"
