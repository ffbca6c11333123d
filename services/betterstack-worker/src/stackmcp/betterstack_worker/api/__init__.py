"""The Better Stack REST API described as data: one :class:`Operation` per exposed endpoint.

The order of :data:`OPERATIONS` is the order of the tool catalogue.
"""

from stackmcp.betterstack_worker.api import (
    incidents,
    integrations,
    maintenance,
    monitoring,
    oncall,
    policies,
    status_pages,
    status_reports,
    team,
)
from stackmcp.betterstack_worker.api.excluded import EXCLUDED
from stackmcp.betterstack_worker.api.model import (
    CUSTOM,
    STANDARD_METHODS,
    Envelope,
    Excluded,
    HostKind,
    IdKind,
    Operation,
    Page,
    Param,
    Resource,
)

__all__ = [
    "CUSTOM",
    "EXCLUDED",
    "OPERATIONS",
    "STANDARD_METHODS",
    "Envelope",
    "Excluded",
    "HostKind",
    "IdKind",
    "Operation",
    "Page",
    "Param",
    "Resource",
]

OPERATIONS: tuple[Operation, ...] = (
    *incidents.OPERATIONS,
    *oncall.OPERATIONS,
    *policies.OPERATIONS,
    *monitoring.OPERATIONS,
    *maintenance.OPERATIONS,
    *status_pages.OPERATIONS,
    *status_reports.OPERATIONS,
    *team.OPERATIONS,
    *integrations.OPERATIONS,
)
"""Every exposed operation, grouped by domain, incidents first."""
