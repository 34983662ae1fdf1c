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
