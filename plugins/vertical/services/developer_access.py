"""Developer access to a customer's instance: requested by the developer, granted and revoked by the customer.

Every step puts an email in the outbox through ``notify(to=, subject=, template=, body=)``
(``Context.notify`` in the gateway; a list in unit tests).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.models import User
from gateway.relay import encode_id
from gateway.sensitive import random_token
from plugins.vertical.models import DeveloperAccess, Solution, SolutionInstance
from plugins.vertical.services import grant_links
from schema.models import Organization, OrganizationMember, Partner, PartnerMember


class Notify(Protocol):
    """Puts one email in the outbox: ``Context.notify`` in the gateway."""

    def __call__(self, *, to: str, subject: str, template: str, body: str) -> object: ...


# One step of the access life cycle: (session, instance, acting user, notify) -> the access row it changed
AccessStep = Callable[[AsyncSession, SolutionInstance, int, Notify], Awaitable[DeveloperAccess]]

CONSOLE_URL_ENV = "GATEWAY_VERTICAL_CONSOLE_URL"
DEFAULT_CONSOLE_URL = "https://console.partner-gateway.example"
DEVELOPER_ROLES = ("DEVELOPER", "PARTNER_ADMIN")  # who receives the developer's emails
DEFAULT_LINK_BASE = "http://127.0.0.1:8000"  # GATEWAY_PUBLIC_URL's default


def access_url(instance_id: int, code: str) -> str:
    base = os.environ.get(CONSOLE_URL_ENV, DEFAULT_CONSOLE_URL).rstrip("/")
    return f"{base}/vertical/instances/{encode_id('SolutionInstance', instance_id)}/developer-access?code={code}"


async def access_by_instance(session: AsyncSession, instance_ids: list[int]) -> dict[int, DeveloperAccess]:
    if not instance_ids:
        return {}
    rows = (await session.scalars(
        select(DeveloperAccess).where(DeveloperAccess.instance_id.in_(list(dict.fromkeys(instance_ids)))))).all()
    return {row.instance_id: row for row in rows}


async def current_access(session: AsyncSession, instance_id: int) -> DeveloperAccess | None:
    """The instance's access row, locked for this transaction (FOR UPDATE on PostgreSQL)."""
    return await session.scalar(select(DeveloperAccess).where(DeveloperAccess.instance_id == instance_id)
                                .with_for_update().execution_options(populate_existing=True))


async def _names(session: AsyncSession, instance: SolutionInstance) -> tuple[Solution, Organization, Partner]:
    solution = await session.get(Solution, instance.solution_id)
    organization = await session.get(Organization, instance.organization_id)
    assert solution is not None and organization is not None
    developer = await session.get(Partner, solution.developer_partner_id)
    assert developer is not None
    return solution, organization, developer


async def super_admins(session: AsyncSession, organization_id: int) -> list[tuple[int, str]]:
    """(user id, email) of the organization's super admins."""
    rows = (await session.execute(
        select(User.id, User.email).join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(OrganizationMember.organization_id == organization_id, OrganizationMember.role == "SUPER_ADMIN")
        .order_by(User.email))).all()
    return [(user_id, email) for user_id, email in rows]


async def super_admin_emails(session: AsyncSession, organization_id: int) -> list[str]:
    return [email for _, email in await super_admins(session, organization_id)]


async def developer_emails(session: AsyncSession, access: DeveloperAccess, developer_partner_id: int) -> list[str]:
    """The requester when there was a request, else the developer partner's developers and admins."""
    if access.requested_by_user_id is not None:
        email = await session.scalar(select(User.email).where(User.id == access.requested_by_user_id))
        if email:
            return [email]
    return list((await session.scalars(
        select(User.email).join(PartnerMember, PartnerMember.user_id == User.id)
        .where(PartnerMember.partner_id == developer_partner_id, PartnerMember.role.in_(DEVELOPER_ROLES))
        .order_by(User.email))).all())


async def request_access(session: AsyncSession, instance: SolutionInstance, user_id: int,
                         notify: Notify, *, link_base: str = DEFAULT_LINK_BASE) -> DeveloperAccess:
    """The developer asks the organization's super admin for access to this instance.

    Each super admin's mail carries a "Grant access" link of their own (``grant_links``): a page of
    the gateway at ``link_base`` (``GATEWAY_PUBLIC_URL``) that grants it as them after a confirmation.
    """
    if instance.account_status == "INACTIVE":
        raise DomainError("INSTANCE_INACTIVE",
                          "This customer's account is inactive; developer access cannot be requested for it.",
                          "instanceId")
    access = await current_access(session, instance.id)
    if access is not None and access.status in ("REQUESTED", "GRANTED"):
        state = "granted" if access.status == "GRANTED" else "requested and waiting for the customer"
        raise DomainError("DEVELOPER_ACCESS_EXISTS",
                          f"Developer access to this instance already exists ({state}).", "instanceId")
    now = utcnow()
    if access is None:
        access = DeveloperAccess(instance_id=instance.id, status="REQUESTED")
        session.add(access)
    access.status, access.requested_at, access.requested_by_user_id = "REQUESTED", now, user_id
    access.granted_at = access.granted_by_user_id = access.revoked_at = access.revoked_by_user_id = None
    access.access_code = random_token(24)  # while REQUESTED: the key of this request's grant links
    await session.flush()
    solution, organization, developer = await _names(session, instance)
    requester = await session.get(User, user_id)
    for admin_id, email in await super_admins(session, organization.id):
        url = grant_links.link(link_base, grant_links.make_token(access, admin_id, now))
        notify(to=email, subject=f"{developer.name} asks for access to {solution.name}",
               template="vertical.developer_access_requested",
               body=(f"{requester.name if requester else 'A developer'} of {developer.name} asks for admin access "
                     f"to {solution.name} of {organization.domain}.\n\n"
                     f"Grant access: {url}\n\n"
                     f"The link is yours alone and works once, for {grant_links.LINK_TTL.days} days; it asks you to "
                     f"confirm first. You can also grant it with grantDeveloperAccess (instance "
                     f"{encode_id('SolutionInstance', instance.id)}), refuse it with revokeDeveloperAccess, "
                     f"or ignore this request."))
    return access


async def grant_access(session: AsyncSession, instance: SolutionInstance, user_id: int,
                       notify: Notify) -> DeveloperAccess:
    """The organization's super admin grants access (with or without a prior request)."""
    access = await current_access(session, instance.id)
    if access is not None and access.status == "GRANTED":
        raise DomainError("DEVELOPER_ACCESS_EXISTS", "Developer access to this instance is already granted.",
                          "instanceId")
    if access is None:
        access = DeveloperAccess(instance_id=instance.id, status="GRANTED")
        session.add(access)
    if access.status == "REVOKED":
        access.requested_at = access.requested_by_user_id = None  # a grant after a revocation is a new grant
    access.status, access.granted_at, access.granted_by_user_id = "GRANTED", utcnow(), user_id
    access.revoked_at = access.revoked_by_user_id = None
    access.access_code = random_token(24)
    await session.flush()
    solution, organization, developer = await _names(session, instance)
    url = access_url(instance.id, access.access_code)
    for email in await developer_emails(session, access, developer.id):
        notify(to=email, subject=f"{organization.domain} granted you access to {solution.name}",
               template="vertical.developer_access_granted",
               body=(f"The super admin of {organization.domain} granted {developer.name} admin access to "
                     f"{solution.name}. Open it here: {url}"))
    return access


async def revoke_access(session: AsyncSession, instance: SolutionInstance, user_id: int,
                        notify: Notify) -> DeveloperAccess:
    """The organization's super admin ends access (or refuses a pending request) at any time."""
    access = await current_access(session, instance.id)
    if access is None or access.status == "REVOKED":
        raise DomainError("NO_DEVELOPER_ACCESS", "The developer has no access to this instance to revoke.",
                          "instanceId")
    access.status, access.revoked_at, access.revoked_by_user_id = "REVOKED", utcnow(), user_id
    access.access_code = None
    await session.flush()
    solution, organization, developer = await _names(session, instance)
    for email in await developer_emails(session, access, developer.id):
        notify(to=email, subject=f"{organization.domain} revoked your access to {solution.name}",
               template="vertical.developer_access_revoked",
               body=(f"The super admin of {organization.domain} revoked {developer.name}'s access to "
                     f"{solution.name}. Ask for access again if you still need it."))
    return access
