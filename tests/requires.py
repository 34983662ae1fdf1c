"""What the tests need from the machine (espeak-ng, ffmpeg, redis-server, Chromium, transformers).

Locally a missing one skips the tests that need it; with `CI=true` it fails them instead, so a CI
run can never go green by silently dropping tests (one espeak-ng skip would drop every worker test).
"""

from __future__ import annotations

import importlib
import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(what: str, hint: str = "") -> None:
    message = f"{what} is not installed" + (f" ({hint})" if hint else "")
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message, allow_module_level=True)


def need_tool(*names: str, hint: str = "") -> str:
    """The path of the first of `names` on PATH; else skip (fail under CI)."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing(" / ".join(names), hint or f"apt-get install {names[0]}")
    raise AssertionError("unreachable")


def need_module(name: str):
    """Import `name`; else skip (fail under CI)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"python package {name}", f"pip install {name}")
        raise AssertionError("unreachable") from None
