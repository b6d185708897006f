"""Partners and resellers as the graph shows them."""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.context import Context
from gateway.policy import Grant
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate_grouped
from gateway.request_cache import ByPrimaryKey
from schema.access import allowed_partners, partner_grants
from schema.common import Address
from schema.models import Partner as PartnerRow


@strawberry.enum
class PartnerKind(enum.Enum):
    DISTRIBUTOR = "DISTRIBUTOR"
    RESELLER = "RESELLER"
    CONSULTING = "CONSULTING"
    DEVELOPER = "DEVELOPER"


@strawberry.enum
class PartnerStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


def address_from_json(data: dict[str, Any] | None) -> Address | None:
    if not data:
        return None
    return Address(**{key: data.get(key) for key in ("line1", "line2", "line3", "city", "postal_code", "state", "country")})


@strawberry.type(description="A distributor, reseller, consulting or developer partner.")
class Partner(Node):
    id: strawberry.ID
    name: str
    code: str = strawberry.field(description="The partner code customers tag.")
    kind: PartnerKind
    status: PartnerStatus
    address: Address | None
    pk: strawberry.Private[int]
    parent_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: PartnerRow) -> Partner:
        return cls(
            id=strawberry.ID(encode_id("Partner", row.id)), name=row.name, code=row.code,
            kind=PartnerKind(row.kind), status=PartnerStatus(row.status), address=address_from_json(row.address),
            pk=row.id, parent_pk=row.parent_id,
        )

    @batch_field(description="The distributor this reseller belongs to.")
    @staticmethod
    async def parent(parents: list[Partner], ctx: Context) -> list[Partner | None]:
        found = await partners_by_pk(ctx, [p.parent_pk for p in parents])
        return found

    @batch_field(description="The resellers under this partner.")
    @staticmethod
    async def resellers(parents: list[Partner], ctx: Context, first: int | None = None,
                        after: str | None = None) -> list[Connection[Partner] | Exception]:
        allowed = await allowed_partners(ctx, "partner.read_resellers", [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        pages = await paginate_grouped(
            ctx, select(PartnerRow).where(PartnerRow.parent_id.in_(keys)), entity=PartnerRow,
            sort=[SortKey(PartnerRow.name), SortKey(PartnerRow.id)], page=PageArgs(first=first, after=after),
            to_node=Partner.from_row, group_by=PartnerRow.parent_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or ctx.refusal("partner.read_resellers") for p in parents]


# Partner objects by primary key through one per-request cache (no access check: callers decide).
partners_by_pk = ByPrimaryKey("partners", PartnerRow, Partner.from_row)


async def visible_partners(ctx: Context, pks: list[int]) -> list[Partner | None]:
    """``node``/``partner(id)``: a partner the viewer belongs to, supervises, or is a platform user.

    A disabled partner's staff still read their own partner (to see why they can do nothing), but
    supervise nothing through it: a grant that comes through a disabled partner counts only on itself.
    """
    grants = await partner_grants(ctx, pks)
    found = await partners_by_pk(ctx, list(pks))
    return [p if p is not None and any(_counts_on(grant, p.pk) for grant in grants.get(p.pk, ())) else None
            for p in found]


def _counts_on(grant: Grant, partner_pk: int) -> bool:
    return not grant.suspended or grant.through == partner_pk
