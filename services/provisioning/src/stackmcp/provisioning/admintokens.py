"""Named admin tokens: one per operator, so every admin change names the person who made it.

A named token is stored only as its hash (:meth:`RedisKeys.admin_token_record`), indexed by id in
:attr:`RedisKeys.admin_token_ids`, and looked up on every admin request, so revoking it refuses
it at once on every replica. The bootstrap token (``STACKMCP_ADMIN_TOKEN`` or generated) is not
one of them: it stays as it is and names the operator :data:`OPERATOR_BOOTSTRAP`.
"""

from __future__ import annotations

import re
from datetime import datetime

import msgspec

from stackmcp.contracts.audit import OPERATOR_BOOTSTRAP, OPERATOR_EXPIRY
from stackmcp.runtime.errors import InvalidArgument

__all__ = [
    "OPERATOR_NAME_RE",
    "RESERVED_OPERATORS",
    "AdminTokenRecord",
    "check_operator_name",
]

OPERATOR_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
"""An operator name: lower-case letters, digits, ``.``, ``_``, ``-``; 1 to 63 characters."""
RESERVED_OPERATORS = frozenset({OPERATOR_BOOTSTRAP, OPERATOR_EXPIRY})
"""Names no admin token may take: the bootstrap token's operator and the expiry service."""


class AdminTokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A named admin token as stored (the token itself never is)."""

    id: str
    name: str
    token_hash: str
    created_at: datetime
    created_by: str
    """The operator who created it."""


def check_operator_name(value: str) -> str:
    """The operator name ``value``, checked.

    Raises:
        InvalidArgument: a reserved name (400), or not the shape of an operator name (422
            naming ``name``).
    """
    if value in RESERVED_OPERATORS:
        raise InvalidArgument(
            f"the name {value!r} is reserved ({OPERATOR_BOOTSTRAP!r} is the bootstrap admin token, "
            f"{OPERATOR_EXPIRY!r} the expiry service); choose another"
        )
    if not OPERATOR_NAME_RE.fullmatch(value):
        raise InvalidArgument(
            "invalid request: check name",
            fields={
                "name": [
                    "must be 1 to 63 characters of lower-case letters, digits, '.', '_' or '-', "
                    "starting with a letter or a digit (e.g. alice or ops.bob)"
                ]
            },
        )
    return value
