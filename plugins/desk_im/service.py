"""Instant-messaging credit rules: buying credits, consuming them per message, post-paid add-on usage.

Every function runs inside the caller's transaction (``run_mutation``) and says no with a
``DomainError`` carrying a stable code; the transaction is then rolled back, so a refusal
never leaves a charge, a credit or a consumed idempotency key behind.

The ledger is the truth and the account balance its running total (see ``models``):
every change goes through :func:`_move_credits`, which updates the balance with one
atomic statement and writes the ledger row beside it. Consumption is the conditional
``UPDATE ... SET balance = balance - n WHERE balance >= n``: on PostgreSQL concurrent
consumers queue on the row and each re-checks the condition against the committed
balance, so the balance never goes negative and no update is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from plugins.desk_im.models import ADJUSTMENT, PURCHASE, USAGE, ImCreditAccount, ImCreditTransaction
from plugins.desk_im.settings import CHANNELS, DeskImSettings
from schema.billing.service import charge_organization
from schema.common import round_money
from schema.models import AddOn, Payment, Product, Subscription

DESK_PRODUCT = "DESK"
LIVE_SUBSCRIPTION = ("TRIAL", "ACTIVE", "SUSPENDED")
MAX_MESSAGES_PER_CALL = 1_000_000
MAX_ADD_ON_QUANTITY = 10_000_000
HALF_CENT = Decimal("0.005")  # the smallest amount that rounds (half-up) to a cent


@dataclass(frozen=True)
class LedgerEntry:
    """The outcome of a credit mutation: the ledger row and the balance right after it."""

    transaction: ImCreditTransaction
    balance: int
    replayed: bool = False


# ---------------------------------------------------------------- the ledger
async def ensure_account(session: AsyncSession, organization_id: int) -> None:
    """Create the organization's account if missing; safe when two transactions race to create it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    now = utcnow()
    await session.execute(
        insert(ImCreditAccount)
        .values(organization_id=organization_id, balance=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["organization_id"])
    )


async def _move_credits(session: AsyncSession, organization_id: int, credits: int, row: ImCreditTransaction) -> int:
    """Add ``credits`` (negative: consume) to the balance atomically and write ``row``; the new balance.

    A consumption the balance cannot cover changes nothing and raises INSUFFICIENT_CREDITS.
    """
    await ensure_account(session, organization_id)
    statement = (
        update(ImCreditAccount)
        .where(ImCreditAccount.organization_id == organization_id)
        .values(balance=ImCreditAccount.balance + credits, updated_at=utcnow())
        .returning(ImCreditAccount.balance)
        .execution_options(synchronize_session=False)
    )
    if credits < 0:
        statement = statement.where(ImCreditAccount.balance >= -credits)
    balance = (await session.execute(statement)).scalar_one_or_none()
    if balance is None:
        current = await balance_of(session, organization_id)
        raise DomainError(
            "INSUFFICIENT_CREDITS",
            f"Not enough instant-messaging credits: {-credits} needed, {current} left. "
            "Ask the organization's partner (or its super admin, for a direct customer) to buy more credits.",
            "count",
        )
    row.organization_id = organization_id
    row.credits = credits
    session.add(row)
    await session.flush()
    return int(balance)


async def balance_of(session: AsyncSession, organization_id: int) -> int:
    balance = await session.scalar(
        select(ImCreditAccount.balance).where(ImCreditAccount.organization_id == organization_id)
    )
    return int(balance or 0)


async def assert_ledger_consistent(session: AsyncSession, organization_id: int | None = None) -> None:
    """Prove that every account's balance equals the sum of its ledger and is not negative.

    ``organization_id`` checks one organization; None checks every organization that has an
    account or a ledger row. Raises AssertionError naming each organization that disagrees.
    """
    ledger = select(ImCreditTransaction.organization_id, func.coalesce(func.sum(ImCreditTransaction.credits), 0))
    accounts = select(ImCreditAccount.organization_id, ImCreditAccount.balance)
    if organization_id is not None:
        ledger = ledger.where(ImCreditTransaction.organization_id == organization_id)
        accounts = accounts.where(ImCreditAccount.organization_id == organization_id)
    sums = {org: int(total) for org, total in (await session.execute(
        ledger.group_by(ImCreditTransaction.organization_id))).all()}
    balances = {org: int(balance) for org, balance in (await session.execute(accounts)).all()}
    problems = [
        f"organization {org}: balance {balances.get(org)} but ledger sums to {sums.get(org, 0)}"
        for org in sorted(set(sums) | set(balances))
        if balances.get(org, 0) != sums.get(org, 0) or balances.get(org, 0) < 0
        or (org in sums and org not in balances)
    ]
    if problems:
        raise AssertionError("instant-messaging ledger disagrees with the balance: " + "; ".join(problems))


async def adjust_credits(session: AsyncSession, organization_id: int, credits: int, note: str,
                         *, actor_user_id: int | None = None) -> LedgerEntry:
    """A manual correction (support goodwill, demo data): an ADJUSTMENT row; a negative one needs the balance."""
    if credits == 0:
        raise DomainError("INVALID_CREDITS", "An adjustment must add or remove at least one credit.", "credits")
    row = ImCreditTransaction(kind=ADJUSTMENT, note=note[:500], actor_user_id=actor_user_id)
    balance = await _move_credits(session, organization_id, credits, row)
    return LedgerEntry(row, balance)


async def _replay(session: AsyncSession, organization_id: int, stored: dict[str, object]) -> LedgerEntry:
    row = await session.get(ImCreditTransaction, stored["transaction_id"])
    if row is None:  # the ledger row was deleted with its organization: nothing to replay
        raise DomainError("IDEMPOTENCY_KEY_REUSED", "This idempotencyKey was already used; use a new key.",
                          "idempotencyKey")
    return LedgerEntry(row, await balance_of(session, organization_id), replayed=True)


# ---------------------------------------------------------------- buying credits
async def has_live_desk_subscription(session: AsyncSession, organization_id: int) -> bool:
    found = await session.scalar(
        select(Subscription.id).join(Product, Product.id == Subscription.product_id)
        .where(Subscription.organization_id == organization_id, Product.code == DESK_PRODUCT,
               Subscription.status.in_(LIVE_SUBSCRIPTION))
        .limit(1)
    )
    return found is not None


def credit_price(settings: DeskImSettings, credits: int) -> Decimal:
    """What ``credits`` cost: credits × the configured price, rounded to the cent half-up."""
    return round_money(settings.credit_price * credits)


def validate_purchase(settings: DeskImSettings, credits: int) -> Decimal:
    if credits <= 0:
        raise DomainError("INVALID_CREDITS", "Buy at least one credit.", "credits")
    if credits > settings.max_purchase:
        raise DomainError("PURCHASE_ABOVE_MAXIMUM",
                          f"One purchase can buy at most {settings.max_purchase} credits; split it into several.",
                          "credits")
    amount = credit_price(settings, credits)
    if amount <= 0:
        minimum = (HALF_CENT / settings.credit_price).to_integral_value(rounding=ROUND_CEILING)
        raise DomainError("PURCHASE_TOO_SMALL", f"The purchase costs less than one cent; buy at least {minimum} "
                          "credits.", "credits")
    return amount


async def purchase_credits(ctx: Context, organization_id: int, credits: int, *, settings: DeskImSettings,
                           idempotency_key: str) -> LedgerEntry:
    """Charge the organization's card for ``credits`` and add them, once per idempotency key.

    The caller has authorized the viewer (and applied the subscription-authority rule).
    Refusals: INVALID_CREDITS, PURCHASE_ABOVE_MAXIMUM, PURCHASE_TOO_SMALL, NO_DESK_SUBSCRIPTION,
    IDEMPOTENCY_KEY_REUSED, and the core's NO_PAYMENT_METHOD, CARD_EXPIRED, PAYMENT_DECLINED.
    """
    amount = validate_purchase(settings, credits)
    claim = await ctx.claim_idempotency_key(f"desk_im.purchase:{organization_id}", idempotency_key,
                                            {"credits": credits})
    if isinstance(claim, dict):
        return await _replay(ctx.session, organization_id, claim)
    if not await has_live_desk_subscription(ctx.session, organization_id):
        raise DomainError("NO_DESK_SUBSCRIPTION", "Instant-messaging credits are for Desk: add a Desk subscription "
                          "to this organization first.", "organizationId")
    payment = await charge_organization(
        ctx, organization_id, amount, settings.currency, f"{credits} instant-messaging credits (Desk)",
        idempotency_key=f"desk_im.purchase:{idempotency_key}",
    )
    entry = await add_purchased_credits(ctx.session, organization_id, credits, payment,
                                        actor_user_id=ctx.viewer.user_id)
    claim.result = {"transaction_id": entry.transaction.id}
    return entry


async def add_purchased_credits(session: AsyncSession, organization_id: int, credits: int, payment: Payment,
                                *, actor_user_id: int | None) -> LedgerEntry:
    """Add credits paid by ``payment``: a PURCHASE row carrying the amount and whose card paid."""
    row = ImCreditTransaction(kind=PURCHASE, amount=payment.amount, currency=payment.currency,
                              card_owner=payment.card_owner, payment_id=payment.id, actor_user_id=actor_user_id)
    balance = await _move_credits(session, organization_id, credits, row)
    return LedgerEntry(row, balance)


# ---------------------------------------------------------------- consuming credits
def charges_credits(settings: DeskImSettings, channel: str) -> bool:
    return channel in settings.charged_channels


async def record_messages(ctx: Context, organization_id: int, channel: str, count: int, *,
                          settings: DeskImSettings, idempotency_key: str) -> LedgerEntry:
    """Record ``count`` messages sent on ``channel``: a charged channel consumes one credit per message.

    A free channel writes a zero-credit usage row (the message count is kept). Refusals:
    INVALID_COUNT, UNKNOWN_CHANNEL, INSUFFICIENT_CREDITS (nothing consumed), IDEMPOTENCY_KEY_REUSED.
    The same idempotency key replays the first result and never consumes twice.
    """
    if channel not in CHANNELS:
        raise DomainError("UNKNOWN_CHANNEL", f"{channel!r} is not a channel; use one of {', '.join(CHANNELS)}.",
                          "channel")
    if not 1 <= count <= MAX_MESSAGES_PER_CALL:
        raise DomainError("INVALID_COUNT", f"count must be between 1 and {MAX_MESSAGES_PER_CALL}.", "count")
    claim = await ctx.claim_idempotency_key(f"desk_im.messages:{organization_id}", idempotency_key,
                                            {"channel": channel, "count": count})
    if isinstance(claim, dict):
        return await _replay(ctx.session, organization_id, claim)
    entry = await consume_credits(ctx.session, organization_id, channel, count, settings=settings,
                                  actor_user_id=ctx.viewer.user_id)
    claim.result = {"transaction_id": entry.transaction.id}
    return entry


async def consume_credits(session: AsyncSession, organization_id: int, channel: str, count: int, *,
                          settings: DeskImSettings, actor_user_id: int | None) -> LedgerEntry:
    """A USAGE row for ``count`` messages: -count credits on a charged channel (atomically), 0 on a free one."""
    credits = -count if charges_credits(settings, channel) else 0
    row = ImCreditTransaction(kind=USAGE, channel=channel, message_count=count, actor_user_id=actor_user_id)
    balance = await _move_credits(session, organization_id, credits, row)
    return LedgerEntry(row, balance)


# ---------------------------------------------------------------- post-paid add-on usage
@dataclass(frozen=True)
class AddOnUsageCharge:
    payment: Payment
    add_on: AddOn | None
    replayed: bool = False


async def record_add_on_usage(ctx: Context, subscription: Subscription, add_on_code: str, quantity: int, *,
                              idempotency_key: str | None = None) -> AddOnUsageCharge:
    """Charge the card for ``quantity`` units of a POSTPAID add-on of the subscription's product.

    One Payment per call, for quantity × the add-on's unit price (rounded to the cent half-up).
    Refusals: INVALID_QUANTITY, UNKNOWN_ADD_ON (no such code, or an add-on of another product),
    ADD_ON_NOT_POSTPAID (prepaid add-ons are bought through changeSubscription),
    SUBSCRIPTION_NOT_ACTIVE (cancelled or expired), and the core's payment refusals.
    """
    if not 1 <= quantity <= MAX_ADD_ON_QUANTITY:
        raise DomainError("INVALID_QUANTITY", f"quantity must be between 1 and {MAX_ADD_ON_QUANTITY}.", "quantity")
    code = add_on_code.strip().upper()
    claim = None
    if idempotency_key is not None:
        claim = await ctx.claim_idempotency_key(f"desk_im.add_on_usage:{subscription.id}", idempotency_key,
                                                {"add_on": code, "quantity": quantity})
        if isinstance(claim, dict):
            payment = await ctx.session.get(Payment, claim["payment_id"])
            if payment is None:
                raise DomainError("IDEMPOTENCY_KEY_REUSED", "This idempotencyKey was already used; use a new key.",
                                  "idempotencyKey")
            return AddOnUsageCharge(payment, None, replayed=True)
    add_on = await ctx.session.scalar(select(AddOn).where(AddOn.code == code))
    if add_on is None or add_on.product_id != subscription.product_id:
        known = (await ctx.session.scalars(
            select(AddOn.code).where(AddOn.product_id == subscription.product_id, AddOn.billing == "POSTPAID")
            .order_by(AddOn.code))).all()
        hint = f"post-paid add-ons of this product: {', '.join(known)}" if known else "this product has no post-paid add-ons"
        raise DomainError("UNKNOWN_ADD_ON", f"{add_on_code!r} is not an add-on of this subscription's product; {hint}.",
                          "addOnCode")
    if add_on.billing != "POSTPAID":
        raise DomainError("ADD_ON_NOT_POSTPAID", f"{add_on.name} is prepaid: its quantity is bought with "
                          "changeSubscription, not charged per use.", "addOnCode")
    if subscription.status not in LIVE_SUBSCRIPTION:
        raise DomainError("SUBSCRIPTION_NOT_ACTIVE",
                          f"The subscription is {subscription.status.lower()}; usage can no longer be charged to it.",
                          "subscriptionId")
    amount = round_money(add_on.unit_price * quantity)
    if amount <= 0:
        raise DomainError("USAGE_TOO_SMALL", "This usage costs less than one cent; report it together with more "
                          "usage.", "quantity")
    payment = await charge_organization(
        ctx, subscription.organization_id, amount, add_on.currency,
        f"{add_on.name}: {quantity} × {add_on.unit} (subscription {subscription.id})",
        idempotency_key=f"desk_im.add_on_usage:{subscription.id}:{idempotency_key}" if idempotency_key else None,
    )
    if claim is not None and not isinstance(claim, dict):
        claim.result = {"payment_id": payment.id}
    return AddOnUsageCharge(payment, add_on)
