# RunPod serverless worker for Fish Speech (see runpod/README.md and docs/deploy-runpod.md).
#
#   docker build -t fish-speech-worker .                                # weights downloaded at start
#   docker build --build-arg DOWNLOAD_WEIGHTS=true -t fish-speech-worker .   # weights baked in
#   docker build --build-arg MODEL=s2-pro --build-arg DOWNLOAD_WEIGHTS=true \
#       --secret id=hf_token,env=HF_TOKEN -t fish-speech-s2 .              # a gated family, baked in
#
# MODEL (fish-speech-1.5, openaudio-s1-mini, s2-pro) picks the checkpoint; at run time the same
# variable (or LLAMA_CHECKPOINT_PATH) does, and the entrypoint downloads what is missing
# (fish_speech/catalog.py knows each family's repository, files, memory and licence).
#
# torch is the version the test suite runs on (.ci/run pins the same TORCH_VERSION; a test checks
# that they agree). The Linux wheel from PyPI carries its CUDA runtime libraries; the GPU driver comes
# from the RunPod host. The other dependencies are read from pyproject.toml (core + the `worker` and
# `agent` extras) and pinned below to the versions the worker was tested with.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG TORCH_VERSION=2.13.0

ARG DOWNLOAD_WEIGHTS=false
# empty: fish-speech-1.5 (and a LLAMA_CHECKPOINT_PATH set at run time is served as its files say)
ARG MODEL=
# empty: MODEL's repository
ARG HF_REPO=
ARG DOWNLOAD_AGENT_WEIGHTS=false
ARG AGENT_HF_REPO=fishaudio/fish-agent-v0.1-3b

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# ffmpeg decodes reference formats soundfile cannot read (m4a, aac, wma, ...) and encodes mp3/opus.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg libsndfile1 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so code edits do not reinstall them. The code is
# not pip-installed: PYTHONPATH=/app (below) makes it importable.
ARG PINS="runpod==1.12.0 soundfile==0.14.0 tiktoken==0.14.0 tokenizers==0.23.3 redis==8.1.0 huggingface_hub==2.4.0"
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extra = p['optional-dependencies']; print(chr(10).join(p['dependencies'] + extra['worker'] + extra['agent']))" \
      > /tmp/requirements.txt \
 && printf '%s\n' $PINS > /tmp/constraints.txt \
 && pip install "torch==${TORCH_VERSION}" \
 && pip install -r /tmp/requirements.txt -c /tmp/constraints.txt "huggingface_hub>=0.24,<3" \
 && python -c "import torch, runpod, soundfile, tiktoken; print('torch', torch.__version__, 'runpod', runpod.__version__)"
# (add extra['llm'] above, or `pip install transformers`, for AGENT_BACKEND=llm)

# Optionally bake MODEL's weights into the image (1.5: about 1.3 GB, S1-mini 3.6 GB, S2-Pro 11 GB) into
# /app/checkpoints/<MODEL>. Only the catalog is copied first, so code edits do not re-download them.
# A gated repository (S1-mini, S2-Pro) reads the build secret `hf_token`.
COPY fish_speech/catalog.py /tmp/fish_catalog.py
RUN --mount=type=secret,id=hf_token \
    if [ "$DOWNLOAD_WEIGHTS" = "true" ]; then \
      HF_TOKEN="$(cat /run/secrets/hf_token 2>/dev/null || true)" python -c "import os, sys; \
sys.path.insert(0, '/tmp'); import fish_catalog as c; from huggingface_hub import snapshot_download; \
ck = c.by_name(sys.argv[1] or c.DEFAULT_MODEL) or sys.exit('unknown MODEL ' + sys.argv[1]); \
snapshot_download(repo_id=sys.argv[2] or ck.repo, local_dir='/app/checkpoints/' + ck.model, token=os.environ.get('HF_TOKEN') or None)" \
        "$MODEL" "$HF_REPO"; \
    fi
# Optionally bake the fish-agent weights too (agent mode's default backend, about 6 GB).
RUN if [ "$DOWNLOAD_AGENT_WEIGHTS" = "true" ]; then \
      python -c "import sys; from huggingface_hub import snapshot_download; snapshot_download(repo_id=sys.argv[1], local_dir=sys.argv[2])" \
        "$AGENT_HF_REPO" /app/checkpoints/fish-agent-v0.1-3b; \
    fi

COPY . .
RUN chmod +x /app/entrypoint.sh

# LLAMA_CHECKPOINT_PATH / DECODER_CHECKPOINT_PATH stay unset: the entrypoint uses /app/checkpoints/<MODEL>.
ENV MODEL=${MODEL} \
    AGENT_CHECKPOINT_PATH=/app/checkpoints/fish-agent-v0.1-3b \
    AGENT_HF_REPO=${AGENT_HF_REPO} \
    DEVICE=cuda \
    HALF=false \
    COMPILE=false \
    HF_REPO=${HF_REPO} \
    REFERENCES_DIR=/app/references \
    RUNPOD_LOG_LEVEL=INFO \
    PYTHONPATH=/app

CMD ["/app/entrypoint.sh"]
