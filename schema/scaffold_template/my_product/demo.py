"""Demo rows of My product: an account for a few demo organizations.

Idempotent: an organization that already has an account is left alone; organizations the
demo does not have are skipped.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.demo import DemoData
from schema.common import seeded_organizations

from .models import MyProductAccount

# domain -> booked storage (GB)
DEMO_ACCOUNTS = {"acme.example": 50, "globex.example": 200}


async def seed_demo(session: AsyncSession, demo: DemoData) -> None:
    organizations = seeded_organizations(demo)
    wanted = {organizations[domain]: storage for domain, storage in DEMO_ACCOUNTS.items() if domain in organizations}
    existing = set((await session.scalars(select(MyProductAccount.organization_id).where(
        MyProductAccount.organization_id.in_(wanted)))).all())
    for organization_id, storage_gb in wanted.items():
        if organization_id not in existing:
            session.add(MyProductAccount(organization_id=organization_id, storage_gb=storage_gb))
    await session.flush()
