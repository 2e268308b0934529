"""The embedded server's API errors: Toxiproxy's messages, status codes and body shape."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An API failure answered as ``{"error": message, "status": status}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_body(detail: str) -> ApiError:
    return ApiError(400, f"bad request body: {detail}")


def missing_field(field: str) -> ApiError:
    return ApiError(400, f"missing required field: {field}")


PROXY_NOT_FOUND = ApiError(404, "proxy not found")
PROXY_EXISTS = ApiError(409, "proxy already exists")
INVALID_STREAM = ApiError(400, "stream was invalid, can be either upstream or downstream")
INVALID_TOXIC_TYPE = ApiError(400, "invalid toxic type")
TOXIC_EXISTS = ApiError(409, "toxic already exists")
TOXIC_NOT_FOUND = ApiError(404, "toxic not found")
