"""What the audit part adds to the core plugin."""

from __future__ import annotations

from schema.audit.types import AuditEvent, AuditQueries, OrganizationAuditFields

TYPES = [AuditEvent]
EXTENSIONS = [OrganizationAuditFields, AuditQueries]
