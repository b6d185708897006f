"""The vertical plugin's domain events (see gateway/events.py), emitted in the transaction of the change.

Their type names are the API's (``developer_access.granted``, ``solution.upgraded``...): the
nouns are this product's own, so they need no further prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.events import DomainEvent
from plugins.vertical.models import DeveloperAccess, Solution, SolutionInstance, SolutionUpgrade


@dataclass(frozen=True, kw_only=True)
class DeveloperAccessEvent(DomainEvent):
    """What every developer-access event carries; ``partner_id`` is the developer partner."""

    access_id: int
    instance_id: int
    solution_id: int
    organization_id: int
    partner_id: int


@dataclass(frozen=True, kw_only=True)
class DeveloperAccessGranted(DeveloperAccessEvent):
    type = "developer_access.granted"


@dataclass(frozen=True, kw_only=True)
class DeveloperAccessRevoked(DeveloperAccessEvent):
    """The organization's super admin ended the developer's access or refused its request."""

    type = "developer_access.revoked"


@dataclass(frozen=True, kw_only=True)
class SolutionUpgraded(DomainEvent):
    """An instance now runs a newer version of its solution (failed attempts emit nothing)."""

    type = "solution.upgraded"
    upgrade_id: int
    instance_id: int
    solution_id: int
    organization_id: int
    from_version_id: int
    to_version_id: int


async def developer_access_event(session: AsyncSession, access: DeveloperAccess,
                                 instance: SolutionInstance) -> DeveloperAccessEvent | None:
    """The event of ``access``'s new state: granted or revoked; None for a request (nothing changed hands)."""
    event_class = {"GRANTED": DeveloperAccessGranted, "REVOKED": DeveloperAccessRevoked}.get(access.status)
    if event_class is None:
        return None
    solution = await session.get(Solution, instance.solution_id)
    assert solution is not None
    return event_class(access_id=access.id, instance_id=instance.id, solution_id=instance.solution_id,
                       organization_id=instance.organization_id, partner_id=solution.developer_partner_id)


def solution_upgraded(upgrade: SolutionUpgrade, instance: SolutionInstance) -> SolutionUpgraded | None:
    if upgrade.status != "COMPLETED":
        return None
    return SolutionUpgraded(upgrade_id=upgrade.id, instance_id=instance.id, solution_id=instance.solution_id,
                            organization_id=instance.organization_id, from_version_id=upgrade.from_version_id,
                            to_version_id=upgrade.to_version_id)
