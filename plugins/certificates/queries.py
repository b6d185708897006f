"""Query.certificateTypes: the certificate catalog."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from gateway.composition import Query, extends
from gateway.context import Context
from plugins.certificates.models import CertificateType as CertificateTypeRow
from plugins.certificates.types import CertificateType, certificate_types_by_pk


@extends(Query)
class CertificateQueries:
    @strawberry.field(description="Every certificate type with its yearly unit price, by code.")
    async def certificate_types(self, info: strawberry.Info[Context, None]) -> list[CertificateType]:
        ctx: Context = info.context
        ctx.require_user()
        rows = (await ctx.session.scalars(select(CertificateTypeRow).order_by(CertificateTypeRow.code))).all()
        types = [CertificateType.from_row(row) for row in rows]
        certificate_types_by_pk.remember(ctx, ((t.pk, t) for t in types))
        return types
