"""The organizations part's domain events (see gateway/events.py), emitted in the transaction of the change."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class OrganizationCreated(DomainEvent):
    """A partner created a customer organization (it becomes its mapped partner and delegated admin)."""

    type = "organization.created"
    organization_id: int
    partner_id: int
    domain: str


@dataclass(frozen=True, kw_only=True)
class PartnerMappingChanged(DomainEvent):
    """The customer tagged a new partner; ``old_partner_id`` is the one it left (None: it had none)."""

    type = "partner_mapping.changed"
    organization_id: int
    partner_id: int
    old_partner_id: int | None


@dataclass(frozen=True, kw_only=True)
class PartnerAccessGranted(DomainEvent):
    """A partner got delegated admin access to an organization."""

    type = "partner_access.granted"
    organization_id: int
    partner_id: int


@dataclass(frozen=True, kw_only=True)
class PartnerAccessRevoked(DomainEvent):
    """A partner's delegated admin access ended (revoked by the super admin, or the customer tagged another
    partner), after the memberships the partner's admins added through it were removed."""

    type = "partner_access.revoked"
    organization_id: int
    partner_id: int
