#!/usr/bin/env bash
# Start the RunPod worker: pick the mode, make sure the checkpoints are there, exec the handler.
#
#   MODE=tts ./entrypoint.sh                 # production loop on RunPod (or a local one-shot run
#                                            # of ./test_input.json when no RunPod queue is set)
#   ./entrypoint.sh --rp_serve_api           # the SDK's local HTTP test server
#
# Environment: MODE (tts|agent, default tts), AGENT_PRELOAD, MODEL (fish-speech-1.5 | openaudio-s1-mini |
# s2-pro: checkpoints/<MODEL>), LLAMA_CHECKPOINT_PATH, DECODER_CHECKPOINT_PATH, DOWNLOAD_CHECKPOINTS
# (true|false, default true), HF_REPO (default: MODEL's repository), HF_TOKEN (gated repositories),
# AGENT_CHECKPOINT_PATH / AGENT_HF_REPO (agent mode, default fishaudio/fish-agent-v0.1-3b),
# PYTHON (default python). Arguments are passed to the handler unchanged.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"

case "${MODE:-tts}" in  # the worker's settings hold the default (tts); every worker serves both modes
  agent|tts|AGENT|TTS) ;;
  *) echo "entrypoint: MODE must be 'agent' or 'tts', not '$MODE'" >&2; exit 2 ;;
esac

# Which checkpoint (MODEL, or the family LLAMA_CHECKPOINT_PATH holds), where it lives, and its download
# (HF_REPO, HF_TOKEN for gated repositories) are decided in one place: fish_speech/catalog.py. It prints
# the exports of the folders it settled on, or says what is missing and how to get it.
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
exports="$("$PYTHON" -m fish_speech.catalog --root "$HERE/checkpoints" ensure)" || exit 1
eval "$exports"

download() {  # download <hf repo> <folder> (the fish-agent weights); the checks that follow report failures
  case "${DOWNLOAD_CHECKPOINTS:-true}" in
    1|true|yes|on) ;;
    *) return 0 ;;
  esac
  echo "entrypoint: downloading $1 to $2" >&2
  "$PYTHON" - "$1" "$2" <<'PY' || true
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
}

# The fish-agent model loads (and downloads) on the first agent job; only AGENT_PRELOAD fetches it
# here. Without it tts jobs still work and agent jobs fail with a clear 503: a warning, not a stop.
case "${AGENT_PRELOAD:-false}" in 1|true|yes|on) preload=1 ;; *) preload=0 ;; esac
if [ "$preload" = 1 ] && [ "${AGENT_BACKEND:-fish}" = fish ]; then
  export AGENT_CHECKPOINT_PATH="${AGENT_CHECKPOINT_PATH:-$HERE/checkpoints/fish-agent-v0.1-3b}"
  if [ ! -f "$AGENT_CHECKPOINT_PATH/model.pth" ] || [ ! -f "$AGENT_CHECKPOINT_PATH/config.json" ]; then
    download "${AGENT_HF_REPO:-fishaudio/fish-agent-v0.1-3b}" "$AGENT_CHECKPOINT_PATH"
    [ -f "$AGENT_CHECKPOINT_PATH/model.pth" ] || echo "entrypoint: WARNING: no fish-agent checkpoint at \
$AGENT_CHECKPOINT_PATH: agent jobs will fail with 503 (tts jobs work). Set AGENT_CHECKPOINT_PATH, \
or AGENT_BACKEND=llm with AGENT_LLM_PATH, or MODE=tts." >&2
  fi
fi

echo "entrypoint: MODE=${MODE:-tts}, $MODEL_FAMILY model $LLAMA_CHECKPOINT_PATH, codec $DECODER_CHECKPOINT_PATH" >&2
exec "$PYTHON" -u "$HERE/runpod/handler.py" "$@"
