"""RunPod-only I/O, handed to the service as hooks by runpod/handler.py: reference URL download
(with the SDK's SSRF guard), bucket upload of finished files, and progress updates."""

from __future__ import annotations

import asyncio
import functools
import socket
import threading
import time

from fish_speech.errors import FishError, bad_input
from fish_speech.settings import Settings


def _cut(resp) -> None:
    """End a download from another thread: shut the socket down (closing the file object alone does
    not wake a read blocked in another thread), then close the response."""
    try:
        resp.raw._fp.fp.raw._sock.shutdown(socket.SHUT_RDWR)
    except Exception:  # noqa: BLE001 - another transport: closing is all we can do
        pass
    resp.close()


def fetch_url(url: str, field: str, settings: Settings) -> bytes:
    """Download reference audio with the SDK's SSRF guard, a size cap and a timeout."""
    from runpod.serverless.utils import rp_ssrf

    if not (url.startswith("https://") or (url.startswith("http://") and settings.allow_http_audio_urls)):
        raise bad_input(field, "a URL must start with https://")
    cap = settings.max_reference_bytes or None
    limit = settings.reference_url_timeout or None
    deadline = time.monotonic() + limit if limit else None
    late = FishError(400, field, f"downloading the URL took longer than {limit or 0:g} s (REFERENCE_URL_TIMEOUT)")
    try:
        with rp_ssrf.safe_get(url, timeout=limit or 30, max_bytes=cap) as resp:
            if resp.status_code != 200:
                raise bad_input(field, f"downloading the URL gave HTTP {resp.status_code}")
            # The socket timeout is per read: a server trickling a byte at a time never trips it. A
            # watchdog closes the response when the whole download's time is up, ending a blocked read.
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _cut, (resp,)) if deadline else None
            if watchdog is not None:
                watchdog.daemon = True
                watchdog.start()
            try:
                parts = []
                for part in rp_ssrf.iter_content_capped(resp, 16384, cap):
                    parts.append(part)
                    if deadline is not None and time.monotonic() > deadline:
                        raise late
                return b"".join(parts)
            except FishError:
                raise
            except Exception:
                if deadline is not None and time.monotonic() >= deadline:
                    raise late from None
                raise
            finally:
                if watchdog is not None:
                    watchdog.cancel()
    except rp_ssrf.SSRFError as err:
        code = 413 if "size cap" in str(err) else 400
        raise FishError(code, field, f"URL refused: {err}") from None
    except OSError as err:  # requests' errors are OSErrors: DNS, refused, timeout
        raise bad_input(field, f"could not download the URL: {type(err).__name__}") from None


def quiet_sdk_logs(settings: Settings) -> None:
    """The SDK logs every output chunk (base64 audio) at its default DEBUG level: INFO unless asked."""
    from runpod.serverless.modules.rp_logger import RunPodLogger

    RunPodLogger().set_level(settings.runpod_log_level)


def fetcher(settings: Settings):
    return functools.partial(fetch_url, settings=settings)


def progress_hook(job: dict, settings: Settings):
    """progress_update posts to the platform; outside it there is nobody to tell (None)."""
    if not settings.runpod_post_output:
        return None
    import runpod

    return lambda value: runpod.serverless.progress_update(job, value)


def upload_hook(job: dict, settings: Settings):
    """An uploader of finished files to the job's (or the worker's) bucket, or None without one."""
    creds = job.get("s3Config") if isinstance(job.get("s3Config"), dict) else None
    if not (creds or settings.bucket_endpoint_url):
        return None
    bucket = (creds or {}).get("bucketName") or settings.bucket_name

    def put(data: bytes, fmt: str) -> str:
        from runpod.serverless.utils import rp_upload

        name = f"{job['id']}.{fmt}"
        return rp_upload.upload_in_memory_object(
            name, data, bucket_creds=creds, bucket_name=bucket, prefix=str(job["id"])
        )

    async def upload(data: bytes, fmt: str) -> str:
        return await asyncio.to_thread(put, data, fmt)

    return upload


AGENT_FILES = ("config.json", "model.pth")


def ensure_agent_weights(settings: Settings) -> None:
    """Fetch the fish-agent weights on the first agent job when they are missing (DOWNLOAD_CHECKPOINTS,
    AGENT_HF_REPO; a gated repository reads HF_TOKEN). Only the fish backend has weights of its own."""
    from pathlib import Path

    folder = Path(settings.agent_checkpoint_path)
    if settings.agent_backend != "fish" or all((folder / f).is_file() for f in AGENT_FILES):
        return
    if not settings.download_checkpoints:
        raise FishError(503, "AGENT_CHECKPOINT_PATH", f"no fish-agent checkpoint at {folder} (downloads are off)")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise FishError(503, "AGENT_CHECKPOINT_PATH", "huggingface_hub is not installed to fetch the agent") from None
    try:
        snapshot_download(repo_id=settings.agent_hf_repo, local_dir=str(folder))
    except Exception as err:  # network, auth, disk: one clear reason for every agent job
        raise FishError(503, "AGENT_CHECKPOINT_PATH", f"downloading {settings.agent_hf_repo} failed: {err}") from None


# ---- the local one-shot run (`python runpod/handler.py` outside RunPod)
def read_test_job(test_input: str | None, default_file: str = "test_input.json") -> dict:
    """The job of a local run: --test_input JSON, else ./test_input.json."""
    import json
    from pathlib import Path

    if test_input is None:
        path = Path(default_file)
        if not path.is_file():
            raise bad_input("test_input", f"no job to run: pass --test_input JSON or put {default_file} here")
        test_input, where = path.read_text(encoding="utf-8"), str(path)
    else:
        where = "--test_input"
    try:
        job = json.loads(test_input)
    except ValueError as err:
        raise bad_input("test_input", f"{where} is not valid JSON: {err}") from None
    if not isinstance(job, dict) or not isinstance(job.get("input"), dict):
        raise bad_input("test_input", f'{where} must be a JSON object with an "input" object')
    job.setdefault("id", "local_test")
    return job


def save_local_result(job: dict, chunks: list[dict], output: str | None) -> int:
    """Print the run's summary as JSON and write its audio file (real sizes in a WAV header)."""
    import base64
    import json
    import sys
    from pathlib import Path

    from fish_speech.audio import finalize_wav

    if chunks and chunks[-1].get("error"):
        print(f"error: job {job['id']} failed: {chunks[-1]['error']}", file=sys.stderr)
        return 1
    done = chunks[-1]
    result = {"status": "COMPLETED", "items": len(chunks), "done": {k: v for k, v in done.items() if k != "audio"}}
    parts = [c["audio"] for c in chunks if c.get("type") == "audio"] or [done.get("audio") or ""]
    if any(parts):  # not when the file went to a bucket (done.audio_url)
        path = Path(output or f"test_output.{done['format']}")
        path.write_bytes(finalize_wav(b"".join(base64.b64decode(p) for p in parts)))
        result["audio_file"] = str(path)
    print(json.dumps(result))
    return 0
