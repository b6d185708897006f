"""The audit part of the core, as a plugin: the audit log on organizations and for platform admins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.hookspecs import hookimpl
from schema.audit.types import AuditEvent, AuditQueries, OrganizationAuditFields, visible_audit_events

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver


@hookimpl
def gateway_types() -> list[type]:
    return [AuditEvent]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [OrganizationAuditFields, AuditQueries]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"AuditEvent": visible_audit_events}
