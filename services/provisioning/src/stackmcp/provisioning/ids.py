"""Identifiers of the records provisioning creates."""

from __future__ import annotations

import re
import secrets

__all__ = ["ACCOUNT_ID_RE", "ADMIN_TOKEN_ID_RE", "API_TOKEN_ID_RE", "SERVER_ID_RE", "new_id"]

ACCOUNT_ID_RE = re.compile(r"acc_[0-9a-f]{16}")
SERVER_ID_RE = re.compile(r"srv_[0-9a-f]{16}")
API_TOKEN_ID_RE = re.compile(r"apt_[0-9a-f]{16}")
ADMIN_TOKEN_ID_RE = re.compile(r"adm_[0-9a-f]{16}")


def new_id(kind: str) -> str:
    """A fresh id such as ``acc_1f2e3d4c5b6a7980``: a kind prefix and 64 random bits."""
    return f"{kind}_{secrets.token_hex(8)}"
