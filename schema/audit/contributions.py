"""What the audit part adds to the core plugin."""

from __future__ import annotations

from schema.audit.types import AuditEvent, AuditQueries, OrganizationAuditFields, visible_audit_events

TYPES = [AuditEvent]
EXTENSIONS = [OrganizationAuditFields, AuditQueries]
NODE_RESOLVERS = {"AuditEvent": visible_audit_events}
