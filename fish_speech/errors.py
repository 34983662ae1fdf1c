"""One error type for everything below the surfaces.

Each surface renders it its own way: a FAILED RunPod job whose `error` is the JSON text of
`to_dict()`, an HTTP status with that JSON body, or one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import json


class FishError(Exception):
    """An error a caller can act on: `code` follows HTTP (400, 404, 413, 422, 500, 503)."""

    def __init__(self, code: int, field: str | None, message: str):
        super().__init__(message)
        self.code = int(code)
        self.field = field
        self.message = message

    def to_dict(self) -> dict:
        return {"code": self.code, "field": self.field, "message": self.message}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.message}"


def bad_input(field: str | None, message: str) -> FishError:
    return FishError(400, field, message)
