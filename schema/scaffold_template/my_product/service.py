"""My product's rules: plain async functions inside the caller's transaction, saying no with DomainError.

A ``DomainError(code, message, field)`` raised here becomes the mutation's ``userErrors`` and
rolls the whole mutation back (``run_mutation``), so a refusal never leaves a row behind.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.events import emit
from schema.models import Organization

from .events import MyProductStorageChanged
from .models import MyProductAccount

MAX_STORAGE_GB = 10_000
OPEN_ORGANIZATION = ("TRIAL", "ACTIVE")  # an INACTIVE or SUSPENDED organization books nothing


async def accounts_by_organization(session: AsyncSession,
                                   organization_ids: Iterable[int]) -> dict[int, MyProductAccount]:
    """The accounts of these organizations, by organization (one statement; missing ones are absent)."""
    wanted = sorted(set(organization_ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(MyProductAccount).where(MyProductAccount.organization_id.in_(wanted)))
    return {row.organization_id: row for row in rows}


async def accounts_by_pk(session: AsyncSession, pks: Iterable[int]) -> dict[int, MyProductAccount]:
    """The accounts with these primary keys, by pk (one statement; missing ones are absent)."""
    wanted = sorted(set(pks))
    if not wanted:
        return {}
    rows = await session.scalars(select(MyProductAccount).where(MyProductAccount.id.in_(wanted)))
    return {row.id: row for row in rows}


async def set_storage(ctx: Context, organization_id: int, storage_gb: int) -> MyProductAccount:
    """Set the organization's booked storage, creating its account on first use; emits the change."""
    if not 0 <= storage_gb <= MAX_STORAGE_GB:
        raise DomainError("STORAGE_OUT_OF_RANGE", f"storageGb must be between 0 and {MAX_STORAGE_GB}.", "storageGb")
    organization = await ctx.session.get(Organization, organization_id)
    if organization is None or organization.status not in OPEN_ORGANIZATION:
        raise DomainError("ORGANIZATION_NOT_OPEN", "Only a TRIAL or ACTIVE organization can book My product storage.",
                          "organizationId")
    await _ensure_account(ctx.session, organization_id)
    account: MyProductAccount | None = await ctx.session.scalar(
        select(MyProductAccount).where(MyProductAccount.organization_id == organization_id).with_for_update())
    assert account is not None, "_ensure_account created it"
    previous = account.storage_gb
    account.storage_gb = storage_gb
    account.updated_at = utcnow()
    await ctx.session.flush()
    event = MyProductStorageChanged(
        organization_id=organization_id, storage_gb=storage_gb, previous_storage_gb=previous)
    await emit(ctx, event)  # gateway_event receivers run now, inside this transaction
    return account


async def _ensure_account(session: AsyncSession, organization_id: int) -> None:
    """Create the organization's account if missing; safe when two transactions race to create it."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    await session.execute(
        insert(MyProductAccount)
        .values(organization_id=organization_id, storage_gb=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["organization_id"])
    )
