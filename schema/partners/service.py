"""The rules of partners and resellers: creation, unique codes, details, disabling and enabling resellers."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy import func, select

from gateway.context import Context
from gateway.errors import DomainError
from schema.common import AddressInput, clean_address, clean_name
from schema.models import Partner

CODE_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,39}$")
KINDS = ("DISTRIBUTOR", "RESELLER", "CONSULTING", "DEVELOPER")


async def _unique_code(ctx: Context, code: str | None, name: str) -> str:
    if code is not None:
        cleaned = code.strip().upper()
        if not CODE_PATTERN.match(cleaned):
            raise DomainError("INVALID_PARTNER_CODE",
                              "A partner code is 3 to 40 letters, digits, '-' or '_' (e.g. ACME-EU).", "code")
        if await ctx.session.scalar(select(func.count()).select_from(Partner).where(func.upper(Partner.code) == cleaned)):
            raise DomainError("PARTNER_CODE_TAKEN", f"The partner code {cleaned} is taken; choose another.", "code")
        return cleaned
    stem = re.sub(r"[^A-Z0-9]", "", name.upper())[:12] or "PARTNER"
    for _ in range(20):
        candidate = f"{stem}{secrets.randbelow(10_000):04d}"
        if not await ctx.session.scalar(select(func.count()).select_from(Partner).where(Partner.code == candidate)):
            return candidate
    raise DomainError("PARTNER_CODE_TAKEN", "Could not generate a free partner code; give one.", "code")


async def create_partner(ctx: Context, *, name: str, code: str | None, kind: str, address: AddressInput | None,
                         parent: Partner | None) -> Partner:
    name = clean_name(name)
    if kind not in KINDS:
        raise DomainError("INVALID_PARTNER_KIND", f"kind must be one of {', '.join(KINDS)}.", "kind")
    if parent is not None and parent.kind != "DISTRIBUTOR":
        raise DomainError("PARENT_NOT_DISTRIBUTOR", f"{parent.name} is not a distributor; only distributors have "
                                                     "resellers.", "parentPartnerId")
    if kind == "RESELLER" and parent is None:
        raise DomainError("RESELLER_NEEDS_DISTRIBUTOR", "A reseller belongs to a distributor: give parentPartnerId.",
                          "parentPartnerId")
    partner = Partner(
        name=name, code=await _unique_code(ctx, code, name), kind=kind, status="ACTIVE",
        parent_id=parent.id if parent is not None else None,
        address=clean_address(address) if address is not None else None,
    )
    ctx.session.add(partner)
    await ctx.session.flush()
    return partner


async def update_partner_details(partner: Partner, *, name: str | None, address: AddressInput | None) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    if name is not None:
        partner.name = clean_name(name)
        changed["name"] = partner.name
    if address is not None:
        partner.address = clean_address(address)
        changed["address"] = partner.address
    if not changed:
        raise DomainError("NOTHING_TO_UPDATE", "Give a name or an address to change.")
    return changed


def set_reseller_status(partner: Partner, status: str) -> None:
    if partner.kind != "RESELLER" or partner.parent_id is None:
        raise DomainError("NOT_A_RESELLER", f"{partner.name} is not a reseller.", "partnerId")
    if partner.status == status:
        word = "disabled" if status == "DISABLED" else "enabled"
        raise DomainError(f"ALREADY_{status}", f"{partner.name} is already {word}.", "partnerId")
    partner.status = status


async def load_partner(ctx: Context, partner_id: int, field: str = "partnerId") -> Partner:
    partner: Partner | None = await ctx.session.scalar(select(Partner).where(Partner.id == partner_id).with_for_update())
    if partner is None:
        raise DomainError("UNKNOWN_PARTNER", "No partner has that ID.", field)
    return partner
