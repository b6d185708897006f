"""Certificate subscriptions: inventory, pro-rating and renewals. Domain rules only, no GraphQL.

Every function takes the moment it acts at (``now`` / ``as_of``) so tests can fix the date.
Refusals are ``DomainError`` with a stable code (listed in this folder's README.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, ScalarSelect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import DomainError, NotFound
from plugins.certificates.models import CertificateInventory, CertificateType
from schema.billing.proration import prorate
from schema.billing.service import add_invoice_line
from schema.catalog.pricing import Charge
from schema.catalog.service import CATALOG_STEP, refuse_if_catalog_empty
from schema.models import InvoiceLine, Plan, Product, Subscription, SubscriptionChange

CERTIFICATES_PRODUCT = "CERTIFICATES"
CERTIFICATE_PLAN = "CERT_STANDARD"
INVOICE_SOURCE = "certificates"
CURRENT = "CURRENT"
RENEWAL = "RENEWAL"


@dataclass(frozen=True)
class Item:
    """A quantity of one certificate type (negative: a reduction, for inventory changes only)."""

    code: str
    quantity: int


@dataclass(frozen=True)
class SubscriptionSpec:
    items: Sequence[Item]
    auto_renew: bool = True


# The callback through which the caller emits the core's subscription events.
OnChange = Callable[[Subscription, SubscriptionChange], Awaitable[None]]


# ---------------------------------------------------------------- periods and prices
def add_years(moment: dt.datetime, years: int = 1) -> dt.datetime:
    """The same day and time ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, day=28)


def prorated_amount(unit_price: Decimal, quantity: int, period_start: dt.datetime, period_end: dt.datetime,
                    at: dt.datetime) -> Decimal:
    """unit price × quantity × days left ÷ days in the period, to the cent (the core's ``prorate`` rule)."""
    return prorate(unit_price * quantity, period_start, period_end, at)


# ---------------------------------------------------------------- catalog look-ups
async def certificate_plan(session: AsyncSession) -> Plan:
    plan = await session.scalar(
        select(Plan).join(Product, Plan.product_id == Product.id)
        .where(Plan.code == CERTIFICATE_PLAN, Product.code == CERTIFICATES_PRODUCT)
    )
    if plan is None:
        await refuse_if_catalog_empty(session)
        raise DomainError("CERTIFICATE_PLAN_MISSING",
                          f"The catalog has no {CERTIFICATE_PLAN} plan of product {CERTIFICATES_PRODUCT}; "
                          f"ask a platform admin to load the catalog (`{CATALOG_STEP}`).")
    return plan


def _certificates_product_id() -> ScalarSelect[int]:
    return select(Product.id).where(Product.code == CERTIFICATES_PRODUCT).scalar_subquery()


async def types_by_code(session: AsyncSession, codes: Iterable[str]) -> dict[str, CertificateType]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = (await session.scalars(select(CertificateType).where(CertificateType.code.in_(wanted)))).all()
    return {row.code: row for row in rows}


async def _resolve_items(session: AsyncSession, items: Sequence[Item], path: list[str], *,
                         allow_negative: bool) -> list[tuple[CertificateType, int]]:
    """Validate items (known codes, no duplicates, sensible quantities) and pair them with their types."""
    if not items:
        raise DomainError("NO_ITEMS", "Give at least one certificate type and quantity.", [*path])
    known = await types_by_code(session, (item.code.strip().upper() for item in items))
    if not known and await session.scalar(select(CertificateType.id).limit(1)) is None:
        raise DomainError("CATALOG_EMPTY", "No certificate types are defined yet: a platform admin must load the "
                          f"catalog (`{CATALOG_STEP}` on the server), then try again.")
    seen: set[str] = set()
    resolved = []
    for index, item in enumerate(items):
        code = item.code.strip().upper()
        where = [*path, str(index)]
        certificate_type = known.get(code)
        if certificate_type is None:
            raise DomainError("UNKNOWN_CERTIFICATE_TYPE",
                              f"{item.code!r} is not a certificate type; use one of the codes of certificateTypes.",
                              [*where, "certificateTypeCode"])
        if code in seen:
            raise DomainError("DUPLICATE_CERTIFICATE_TYPE",
                              f"{code} appears twice; give each certificate type once.", [*where, "certificateTypeCode"])
        seen.add(code)
        if allow_negative and item.quantity == 0:
            raise DomainError("INVALID_QUANTITY", "The quantity must not be 0 (negative reduces).", [*where, "quantity"])
        if not allow_negative and item.quantity < 1:
            raise DomainError("INVALID_QUANTITY", "The quantity must be at least 1.", [*where, "quantity"])
        if abs(item.quantity) > 100_000:
            raise DomainError("INVALID_QUANTITY", "The quantity must be at most 100000.", [*where, "quantity"])
        resolved.append((certificate_type, item.quantity))
    return resolved


async def inventory_rows(session: AsyncSession, subscription_ids: Sequence[int], *,
                         lock: bool = False) -> dict[int, list[CertificateInventory]]:
    """Inventory rows per subscription (one statement), ordered by certificate type.

    ``lock``: re-read and lock them (FOR UPDATE on PostgreSQL) before changing them, so a
    concurrent use waits and then re-checks ``used < current`` against the new numbers.
    """
    result: dict[int, list[CertificateInventory]] = {pk: [] for pk in subscription_ids}
    if subscription_ids:
        statement = (
            select(CertificateInventory).where(CertificateInventory.subscription_id.in_(list(subscription_ids)))
            .order_by(CertificateInventory.subscription_id, CertificateInventory.certificate_type_id)
        )
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        rows = (await session.scalars(statement)).all()
        for row in rows:
            result[row.subscription_id].append(row)
    return result


def _period(start: dt.datetime, end: dt.datetime) -> str:
    return f"{start:%Y-%m-%d} to {end:%Y-%m-%d}"


async def _record_change(session: AsyncSession, subscription: Subscription, change: SubscriptionChange,
                         on_change: OnChange | None) -> None:
    session.add(change)
    await session.flush()
    if on_change is not None:
        await on_change(subscription, change)


async def _line(session: AsyncSession, subscription: Subscription, description: str, amount: Decimal, currency: str,
                *, prorated: bool) -> InvoiceLine:
    return await add_invoice_line(session, organization_id=subscription.organization_id, subscription_id=subscription.id,
                                  description=description, amount=amount, currency=currency, prorated=prorated,
                                  source=INVOICE_SOURCE)


# ---------------------------------------------------------------- subscriptions
async def create_subscriptions(session: AsyncSession, *, organization_id: int, specs: Sequence[SubscriptionSpec],
                               now: dt.datetime, actor_user_id: int | None = None, via: str | None = None,
                               on_change: OnChange | None = None) -> list[Subscription]:
    """Certificate subscriptions with a yearly period from ``now``; current = renewal = the quantities.

    Each subscription's first year is a line on the next invoice (quantity × unit price).
    """
    if not specs:
        raise DomainError("NO_SUBSCRIPTIONS", "Give at least one subscription.", ["subscriptions"])
    if len(specs) > 50:
        raise DomainError("TOO_MANY_SUBSCRIPTIONS", "Add at most 50 subscriptions in one call.", ["subscriptions"])
    plan = await certificate_plan(session)
    resolved = [await _resolve_items(session, spec.items, ["subscriptions", str(i), "items"], allow_negative=False)
                for i, spec in enumerate(specs)]
    end = add_years(now)
    created = []
    for spec, items in zip(specs, resolved, strict=True):
        subscription = Subscription(
            organization_id=organization_id, product_id=plan.product_id, plan_id=plan.id, status="ACTIVE",
            license_count=0, storage_gb=0, auto_renew=spec.auto_renew, current_period_start=now,
            current_period_end=end, created_at=now,
        )
        session.add(subscription)
        await session.flush()
        for certificate_type, quantity in items:
            session.add(CertificateInventory(subscription_id=subscription.id, certificate_type_id=certificate_type.id,
                                             current=quantity, renewal=quantity, used=0, updated_at=now))
            await _line(session, subscription, f"{quantity} × {certificate_type.name}, {_period(now, end)}",
                        certificate_type.unit_price * quantity, certificate_type.currency, prorated=False)
        await _record_change(session, subscription, SubscriptionChange(
            subscription_id=subscription.id, kind="ADDED", to_plan_id=plan.id, actor_user_id=actor_user_id, via=via,
            at=now, details={"certificates": {t.code: q for t, q in items}, "autoRenew": spec.auto_renew},
        ), on_change)
        created.append(subscription)
    await session.flush()
    return created


def _ensure_certificate_subscription(subscription: Subscription, product_id: int | None) -> None:
    if subscription.product_id != product_id:
        raise DomainError("NOT_A_CERTIFICATE_SUBSCRIPTION",
                          "This subscription is not a Certificate Manager subscription.", ["subscriptionId"])


def _ensure_usable(subscription: Subscription, now: dt.datetime) -> None:
    if subscription.status == "SUSPENDED":
        raise DomainError("SUBSCRIPTION_SUSPENDED",
                          "This subscription is suspended; enable it before using or changing its inventory.",
                          ["subscriptionId"])
    if subscription.status != "ACTIVE":
        raise DomainError("SUBSCRIPTION_NOT_ACTIVE",
                          f"This subscription is {subscription.status.lower()}; add a new certificate subscription.",
                          ["subscriptionId"])
    if now >= subscription.current_period_end:
        raise DomainError("SUBSCRIPTION_PERIOD_ENDED",
                          f"This subscription's period ended on {subscription.current_period_end:%Y-%m-%d}; "
                          "it is renewed or expires at the next renewal run.", ["subscriptionId"])


async def _product_id(session: AsyncSession) -> int | None:
    return await session.scalar(select(Product.id).where(Product.code == CERTIFICATES_PRODUCT))


async def add_inventory(session: AsyncSession, *, subscription: Subscription, kind: str, items: Sequence[Item],
                        now: dt.datetime, actor_user_id: int | None = None, via: str | None = None,
                        on_change: OnChange | None = None) -> list[InvoiceLine]:
    """Change the CURRENT or RENEWAL inventory of ``subscription`` (locked by the caller).

    CURRENT is usable at once and adds one pro-rated line per type (negative: a credit);
    it may not fall below what is used. RENEWAL applies at the next renewal, costs nothing
    now and may not fall below zero.
    """
    if kind not in (CURRENT, RENEWAL):
        raise DomainError("INVALID_INVENTORY_KIND", "kind is CURRENT or RENEWAL.", ["kind"])
    _ensure_certificate_subscription(subscription, await _product_id(session))
    _ensure_usable(subscription, now)
    resolved = await _resolve_items(session, items, ["items"], allow_negative=True)
    locked = await inventory_rows(session, [subscription.id], lock=True)
    existing = {row.certificate_type_id: row for row in locked[subscription.id]}
    lines = []
    for index, (certificate_type, quantity) in enumerate(resolved):
        row = existing.get(certificate_type.id)
        if row is None:
            row = CertificateInventory(subscription_id=subscription.id, certificate_type_id=certificate_type.id,
                                       current=0, renewal=0, used=0)
            session.add(row)
        if kind == CURRENT:
            if row.current + quantity < row.used:
                raise DomainError(
                    "CURRENT_BELOW_USED",
                    f"{row.used} {certificate_type.name} certificates are already used and {row.current} are in the "
                    f"current inventory; you can remove at most {row.current - row.used}.",
                    ["items", str(index), "quantity"])
            row.current += quantity
            amount = prorated_amount(certificate_type.unit_price, quantity, subscription.current_period_start,
                                     subscription.current_period_end, now)
            if amount != 0:
                days_left = (subscription.current_period_end.date() - now.date()).days
                days = (subscription.current_period_end.date() - subscription.current_period_start.date()).days
                lines.append(await _line(
                    session, subscription,
                    f"{quantity:+d} × {certificate_type.name}, pro-rated {days_left}/{days} days "
                    f"({_period(subscription.current_period_start, subscription.current_period_end)})",
                    amount, certificate_type.currency, prorated=True))
        else:
            if row.renewal + quantity < 0:
                raise DomainError(
                    "RENEWAL_BELOW_ZERO",
                    f"The renewal inventory has {row.renewal} {certificate_type.name} certificates; "
                    f"you can remove at most {row.renewal}.", ["items", str(index), "quantity"])
            row.renewal += quantity
        row.updated_at = now
    subscription.version += 1
    await _record_change(session, subscription, SubscriptionChange(
        subscription_id=subscription.id, kind="CHANGED", from_plan_id=subscription.plan_id,
        to_plan_id=subscription.plan_id, actor_user_id=actor_user_id, via=via, at=now,
        details={"certificateInventory": kind, "certificates": {t.code: q for t, q in resolved}},
    ), on_change)
    return lines


async def use_inventory(session: AsyncSession, *, subscription_id: int, certificate_type_code: str,
                        now: dt.datetime) -> CertificateInventory:
    """Consume one current unit (issuing one certificate); never oversells under concurrency.

    The consumption is one conditional UPDATE (``used < current``): concurrent callers on
    PostgreSQL queue on the row and re-check the condition, so at most ``current`` succeed.
    """
    subscription = await session.scalar(
        select(Subscription).where(Subscription.id == subscription_id).execution_options(populate_existing=True))
    if subscription is None:
        raise NotFound("No subscription has that ID.")
    _ensure_certificate_subscription(subscription, await _product_id(session))
    _ensure_usable(subscription, now)
    code = certificate_type_code.strip().upper()
    certificate_type = (await types_by_code(session, [code])).get(code)
    if certificate_type is None:
        raise DomainError("UNKNOWN_CERTIFICATE_TYPE",
                          f"{certificate_type_code!r} is not a certificate type; use one of the codes of certificateTypes.",
                          ["certificateTypeCode"])
    where = (CertificateInventory.subscription_id == subscription_id,
             CertificateInventory.certificate_type_id == certificate_type.id)
    result = await session.execute(
        update(CertificateInventory).where(*where, CertificateInventory.used < CertificateInventory.current)
        .values(used=CertificateInventory.used + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    # DML through the ORM session returns a CursorResult (it has rowcount); execute()'s overloads only say Result
    if cast("CursorResult[Any]", result).rowcount != 1:
        raise DomainError("NO_INVENTORY_LEFT",
                          f"No {certificate_type.name} certificates are left in this subscription's current inventory; "
                          "add current inventory first.", ["certificateTypeCode"])
    row = await session.scalar(select(CertificateInventory).where(*where).execution_options(populate_existing=True))
    assert row is not None
    return row


# ---------------------------------------------------------------- renewals
async def roll_renewal_inventory(session: AsyncSession, subscription: Subscription, period_start: dt.datetime,
                                 period_end: dt.datetime) -> list[Charge]:
    """At the core's renewal of a certificate subscription (row locked): the new period starts with
    current = renewal inventory and used = 0; its charges are renewal quantity × unit price per type.

    Answered from ``gateway_subscription_renewal``; any other product's subscription gets ``[]``."""
    if subscription.product_id != await _product_id(session):
        return []
    rows = (await inventory_rows(session, [subscription.id], lock=True))[subscription.id]
    type_ids = {row.certificate_type_id for row in rows}
    types = {t.id: t for t in (await session.scalars(
        select(CertificateType).where(CertificateType.id.in_(type_ids)))).all()} if type_ids else {}
    charges = []
    for row in rows:
        row.current, row.used, row.updated_at = row.renewal, 0, period_start
        certificate_type = types[row.certificate_type_id]
        if row.renewal > 0:
            charges.append(Charge(f"certificate:{certificate_type.code}",
                                  f"{row.renewal} × {certificate_type.name}, {_period(period_start, period_end)}",
                                  certificate_type.unit_price * row.renewal, certificate_type.currency))
    await session.flush()
    return charges
