"""RunPod-only I/O, handed to the service as hooks by runpod/handler.py: reference URL download
(with the SDK's SSRF guard), bucket upload of finished files, and progress updates."""

from __future__ import annotations

import asyncio
import functools

from fish_speech.errors import FishError, bad_input
from fish_speech.settings import Settings


def fetch_url(url: str, field: str, settings: Settings) -> bytes:
    """Download reference audio with the SDK's SSRF guard, a size cap and a timeout."""
    from runpod.serverless.utils import rp_ssrf

    if not (url.startswith("https://") or (url.startswith("http://") and settings.allow_http_audio_urls)):
        raise bad_input(field, "a URL must start with https://")
    cap = settings.max_reference_bytes or None
    try:
        with rp_ssrf.safe_get(url, timeout=settings.reference_url_timeout, max_bytes=cap) as resp:
            if resp.status_code != 200:
                raise bad_input(field, f"downloading the URL gave HTTP {resp.status_code}")
            return b"".join(rp_ssrf.iter_content_capped(resp, 65536, cap))
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
