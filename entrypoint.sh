#!/usr/bin/env bash
# Start the RunPod worker: pick the mode, make sure the checkpoints are there, exec the handler.
#
#   MODE=tts ./entrypoint.sh                 # production loop on RunPod (or a local one-shot run
#                                            # of ./test_input.json when no RunPod queue is set)
#   ./entrypoint.sh --rp_serve_api           # the SDK's local HTTP test server
#
# Environment: MODE (agent|tts, default agent), LLAMA_CHECKPOINT_PATH, DECODER_CHECKPOINT_PATH,
# DOWNLOAD_CHECKPOINTS (true|false, default true), HF_REPO (default fishaudio/fish-speech-1.5),
# PYTHON (default python). Arguments are passed to the handler unchanged.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"

export MODE="${MODE:-agent}"
case "$MODE" in
  agent|tts) ;;
  *) echo "entrypoint: MODE must be 'agent' or 'tts', not '$MODE'" >&2; exit 2 ;;
esac

export LLAMA_CHECKPOINT_PATH="${LLAMA_CHECKPOINT_PATH:-$HERE/checkpoints/fish-speech-1.5}"
export DECODER_CHECKPOINT_PATH="${DECODER_CHECKPOINT_PATH:-$LLAMA_CHECKPOINT_PATH/firefly-gan-vq-fsq-8x1024-21hz-generator.pth}"

missing() {
  local out=()
  for f in model.pth config.json tokenizer.tiktoken; do
    [ -f "$LLAMA_CHECKPOINT_PATH/$f" ] || out+=("$LLAMA_CHECKPOINT_PATH/$f")
  done
  [ -f "$DECODER_CHECKPOINT_PATH" ] || out+=("$DECODER_CHECKPOINT_PATH")
  printf '%s\n' "${out[@]+"${out[@]}"}"
}

if [ -n "$(missing)" ]; then
  case "${DOWNLOAD_CHECKPOINTS:-true}" in
    1|true|yes|on)
      repo="${HF_REPO:-fishaudio/fish-speech-1.5}"
      echo "entrypoint: checkpoints missing; downloading $repo to $LLAMA_CHECKPOINT_PATH" >&2
      "$PYTHON" - "$repo" "$LLAMA_CHECKPOINT_PATH" <<'PY' || true
import sys
try:
    from huggingface_hub import snapshot_download
except ImportError:
    sys.exit("entrypoint: huggingface_hub is not installed (pip install huggingface_hub)")
try:
    snapshot_download(repo_id=sys.argv[1], local_dir=sys.argv[2])
except Exception as err:  # network, auth, disk: the check below reports what is still missing
    sys.exit(f"entrypoint: download failed: {type(err).__name__}: {err}")
PY
      ;;
  esac
  still="$(missing)"
  if [ -n "$still" ]; then
    {
      echo "entrypoint: ERROR: Fish Speech checkpoints not found:"
      printf '  %s\n' $still
      echo "Set LLAMA_CHECKPOINT_PATH (model folder) and DECODER_CHECKPOINT_PATH (codec file),"
      echo "bake them into the image (docker build --build-arg DOWNLOAD_WEIGHTS=true), or allow the"
      echo "download (DOWNLOAD_CHECKPOINTS=true with network access to the Hugging Face Hub)."
    } >&2
    exit 1
  fi
fi

echo "entrypoint: MODE=$MODE, model $LLAMA_CHECKPOINT_PATH, codec $DECODER_CHECKPOINT_PATH" >&2
exec "$PYTHON" -u "$HERE/runpod/handler.py" "$@"
