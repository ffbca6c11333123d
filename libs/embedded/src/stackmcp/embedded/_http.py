"""Tiny HTTP GET helper for loopback monitoring endpoints (no third-party client needed)."""

from __future__ import annotations

import http.client
import json
from typing import Any


def get_json(host: str, port: int, path: str, timeout: float = 1.0) -> tuple[int, Any]:
    """GET ``http://host:port/path`` and return ``(status, decoded JSON or None)``.

    Raises:
        OSError: The connection failed.
    """
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(body)
    except ValueError:
        return response.status, None
