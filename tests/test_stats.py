"""subscriptionStats against hand-computed expectations: counts, licenses, MRR per currency, scoping, one GROUP BY."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest

from gateway.db import utcnow
from gateway.testing import count_statements, run_query
from schema import models
from schema.common import round_money
from schema.testing import World, build_world

FIELDS = """product { code } plan { code } partner { code } country status
            subscriptions organizations licenses monthlyRecurringRevenue { amount currency }"""
QUERY = "query($groupBy: [SubscriptionGroupBy!]!, $filter: SubscriptionFilter) {" \
        " subscriptionStats(groupBy: $groupBy, filter: $filter) { " + FIELDS + " } }"


async def build_stats_world(runtime: Any) -> World:
    """The standard world plus (monthly figures worked out by hand in the tests):

    acme (reseller, US)      acme_mail    MAIL_STANDARD 4.00 × 10 ACTIVE  + 3 × extra storage 2.50 (prepaid)
                                          + 100 × usage 0.10 (postpaid, not recurring)          = 47.50 USD
                             acme_yearly  MAIL_STANDARD_YEARLY 45.00 × 7 TRIAL + 2 × storage 2.50, ÷ 12
                                          = 320 / 12                                            = 26.666… USD
    direct (no partner, DE)  direct_mail  MAIL_STANDARD 4.00 × 10 ACTIVE                        = 40.00 USD
                             direct_gone  MAIL_PREMIUM 8.00 × 2 CANCELLED                       = 16.00 USD
    unverified (reseller, IN) unv_susp    MAIL_PREMIUM 8.00 × 3 SUSPENDED                       = 24.00 USD
                             unv_expired  MAIL_STANDARD 4.00 × 1 EXPIRED                        =  4.00 USD
    beta (other, FR)         beta_mail    MAIL_PREMIUM 8.00 × 5 ACTIVE                          = 40.00 USD
                             beta_cert    CERT_STANDARD 100.00 EUR × 1 yearly ACTIVE, ÷ 12       =  8.333… EUR
    """
    world = await build_world(runtime)
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        mail = world.products["MAIL"]
        cert = models.Product(code="CERTIFICATES", name="Certificate Manager")
        session.add(cert)
        await session.flush()
        world.products["CERTIFICATES"] = cert.id
        for code, product, price, currency, period in [
            ("MAIL_STANDARD_YEARLY", mail, "45.00", "USD", "YEARLY"),
            ("CERT_STANDARD", cert.id, "100.00", "EUR", "YEARLY"),
        ]:
            plan = models.Plan(product_id=product, code=code, name=code.title(), price_per_license=Decimal(price),
                               currency=currency, billing_period=period)
            session.add(plan)
            await session.flush()
            world.plans[code] = plan.id
        storage = models.AddOn(product_id=mail, code="MAIL_EXTRA_STORAGE", name="Extra storage",
                               unit_price=Decimal("2.50"), currency="USD", billing="PREPAID", unit="10 GB")
        usage = models.AddOn(product_id=mail, code="MAIL_USAGE", name="Usage", unit_price=Decimal("0.10"),
                             currency="USD", billing="POSTPAID", unit="message")
        session.add_all([storage, usage])
        beta = models.Organization(name="Beta Inc", domain="beta.example", domain_verified=True,
                                   domain_verification_code="b", status="ACTIVE", country="FR",
                                   partner_id=world.partners["other"], created_at=now)
        session.add(beta)
        await session.flush()
        world.organizations["beta"] = beta.id

        def subscription(key: str, org: str, plan: str, status: str, licenses: int) -> None:
            row = models.Subscription(
                organization_id=world.organizations[org], product_id=world.products["CERTIFICATES" if plan.startswith("CERT") else "MAIL"],
                plan_id=world.plans[plan], status=status, license_count=licenses,
                current_period_start=now, current_period_end=now + dt.timedelta(days=30))
            session.add(row)
            rows[key] = row

        rows: dict[str, models.Subscription] = {}
        subscription("acme_yearly", "acme", "MAIL_STANDARD_YEARLY", "TRIAL", 7)
        subscription("direct_gone", "direct", "MAIL_PREMIUM", "CANCELLED", 2)
        subscription("unv_susp", "unverified", "MAIL_PREMIUM", "SUSPENDED", 3)
        subscription("unv_expired", "unverified", "MAIL_STANDARD", "EXPIRED", 1)
        subscription("beta_mail", "beta", "MAIL_PREMIUM", "ACTIVE", 5)
        subscription("beta_cert", "beta", "CERT_STANDARD", "ACTIVE", 1)
        await session.flush()
        world.subscriptions.update({key: row.id for key, row in rows.items()})
        session.add_all([
            models.SubscriptionAddOn(subscription_id=world.subscriptions["acme_mail"], add_on_id=storage.id, quantity=3),
            models.SubscriptionAddOn(subscription_id=world.subscriptions["acme_mail"], add_on_id=usage.id, quantity=100),
            models.SubscriptionAddOn(subscription_id=world.subscriptions["acme_yearly"], add_on_id=storage.id, quantity=2),
        ])
    return world


def row(subscriptions: int, organizations: int, licenses: int, amount: str, currency: str = "USD",
        **grouped: Any) -> dict[str, Any]:
    base = {"product": None, "plan": None, "partner": None, "country": None, "status": None}
    for key, value in grouped.items():
        base[key] = {"code": value} if key in ("product", "plan", "partner") and value is not None else value
    return {**base, "subscriptions": subscriptions, "organizations": organizations, "licenses": licenses,
            "monthlyRecurringRevenue": {"amount": amount, "currency": currency}}


async def stats(runtime: Any, world: World, role: str, group_by: list[str], filter: dict[str, Any] | None = None) -> Any:
    result = await run_query(runtime, QUERY, {"groupBy": group_by, "filter": filter}, token=world.tokens[role])
    return result.ok()["subscriptionStats"]


@pytest.fixture
async def world(runtime: Any) -> World:
    return await build_stats_world(runtime)


# ---------------------------------------------------------------- the figures
async def test_totals_per_currency(runtime, world):
    # USD: acme_mail 47.50 + acme_yearly 26.666… + direct_mail 40 + unv_expired 4 + beta_mail 40 = 158.1666…
    assert await stats(runtime, world, "platform_analyst", []) == [
        row(1, 1, 1, "8.33", "EUR"),
        row(5, 4, 33, "158.17", "USD"),
    ]


async def test_by_partner(runtime, world):
    assert await stats(runtime, world, "platform_admin", ["PARTNER"]) == [
        row(1, 1, 1, "8.33", "EUR", partner="OTHER1"),
        row(1, 1, 5, "40.00", "USD", partner="OTHER1"),
        row(3, 2, 18, "78.17", "USD", partner="RESEL1"),   # 47.50 + 26.666… + 4.00
        row(1, 1, 10, "40.00", "USD", partner=None),        # direct customers last
    ]


async def test_by_product_and_plan(runtime, world):
    assert await stats(runtime, world, "platform_analyst", ["PRODUCT", "PLAN"]) == [
        row(3, 3, 21, "91.50", product="MAIL", plan="MAIL_STANDARD"),          # 47.50 + 40 + 4
        row(1, 1, 5, "40.00", product="MAIL", plan="MAIL_PREMIUM"),
        row(1, 1, 7, "26.67", product="MAIL", plan="MAIL_STANDARD_YEARLY"),   # (315 + 5) / 12
        row(1, 1, 1, "8.33", "EUR", product="CERTIFICATES", plan="CERT_STANDARD"),
    ]


async def test_by_country_and_status(runtime, world):
    by_country = await stats(runtime, world, "platform_analyst", ["COUNTRY"])
    assert by_country == [
        row(1, 1, 10, "40.00", country="DE"),
        row(1, 1, 1, "8.33", "EUR", country="FR"),
        row(1, 1, 5, "40.00", country="FR"),
        row(1, 1, 1, "4.00", country="IN"),
        row(2, 1, 17, "74.17", country="US"),
    ]
    by_status = await stats(runtime, world, "platform_analyst", ["STATUS"])
    assert by_status == [
        row(1, 1, 1, "8.33", "EUR", status="ACTIVE"),
        row(3, 3, 25, "127.50", status="ACTIVE"),    # 47.50 + 40 + 40 (the EUR row holds beta_cert)
        row(1, 1, 1, "4.00", status="EXPIRED"),
        row(1, 1, 7, "26.67", status="TRIAL"),
    ]


async def test_suspended_and_cancelled_only_when_asked_for(runtime, world):
    asked = await stats(runtime, world, "platform_analyst", ["STATUS"], {"status": ["SUSPENDED", "CANCELLED"]})
    assert asked == [
        row(1, 1, 2, "16.00", status="CANCELLED"),
        row(1, 1, 3, "24.00", status="SUSPENDED"),
    ]
    active_only = await stats(runtime, world, "platform_analyst", [], {"status": ["ACTIVE"]})
    assert active_only == [row(1, 1, 1, "8.33", "EUR"), row(3, 3, 25, "127.50")]


@pytest.mark.parametrize("filter, expected", [
    ({"productCode": "CERTIFICATES"}, [row(1, 1, 1, "8.33", "EUR")]),
    ({"planCode": "MAIL_STANDARD_YEARLY"}, [row(1, 1, 7, "26.67")]),
    ({"country": ["US", "IN"]}, [row(3, 2, 18, "78.17")]),
    ({"createdAfter": "2999-01-01T00:00:00Z"}, []),
])
async def test_filters(runtime, world, filter, expected):
    assert await stats(runtime, world, "platform_analyst", [], filter) == expected


async def test_partner_filter(runtime, world):
    assert await stats(runtime, world, "platform_analyst", [], {"partnerId": world.partner_id("reseller")}) == [
        row(3, 2, 18, "78.17")]


async def test_bad_country_is_bad_user_input(runtime, world):
    result = await run_query(runtime, QUERY, {"groupBy": [], "filter": {"country": ["ZZ"]}},
                             token=world.tokens["platform_analyst"])
    assert result.error_codes == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------- scoping
@pytest.mark.parametrize("role, expected", [
    ("platform_admin", [row(1, 1, 1, "8.33", "EUR"), row(5, 4, 33, "158.17")]),
    ("reseller_admin", [row(3, 2, 18, "78.17")]),
    ("reseller_analyst", [row(3, 2, 18, "78.17")]),
    ("distributor_admin", [row(3, 2, 18, "78.17")]),      # its reseller's customers
    ("distributor_analyst", [row(3, 2, 18, "78.17")]),
    ("other_partner_admin", [row(1, 1, 1, "8.33", "EUR"), row(1, 1, 5, "40.00")]),
    ("org_super_admin", [row(2, 1, 17, "74.17")]),
    ("org_member", [row(2, 1, 17, "74.17")]),
    ("direct_super_admin", [row(1, 1, 10, "40.00")]),
    ("developer", []),
    ("messaging_service", []),
    ("no_role", []),
])
async def test_scoped_by_role(runtime, world, role, expected):
    assert await stats(runtime, world, role, []) == expected


async def test_anonymous_is_unauthenticated(runtime, world):
    result = await run_query(runtime, QUERY, {"groupBy": []})
    assert result.error_codes == ["UNAUTHENTICATED"]


# ---------------------------------------------------------------- SQL shape
async def test_one_group_by_and_batched_relations_whatever_the_rows(runtime, world):
    query_args = {"groupBy": ["PRODUCT", "PLAN", "PARTNER", "COUNTRY", "STATUS"]}
    with count_statements(runtime) as small:
        before = (await run_query(runtime, QUERY, query_args, token=world.tokens["platform_admin"])).ok()
    await _random_subscriptions(runtime, world, 60, seed=3)
    with count_statements(runtime) as large:
        after = (await run_query(runtime, QUERY, query_args, token=world.tokens["platform_admin"])).ok()
    assert len(after["subscriptionStats"]) > len(before["subscriptionStats"])
    assert small.count == large.count
    grouped = [s for s in large.statements if "GROUP BY" in s.upper()]
    assert len(grouped) == 1
    assert not any("FROM subscriptions" in s and "GROUP BY" not in s.upper() for s in large.statements)


# ---------------------------------------------------------------- an independent oracle
async def _random_subscriptions(runtime: Any, world: World, count: int, seed: int) -> None:
    rng = random.Random(seed)
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        add_ons = (await session.scalars(models.AddOn.__table__.select())).all()
        plans = list(world.plans.items())
        for _ in range(count):
            code, plan_id = rng.choice(plans)
            sub = models.Subscription(
                organization_id=rng.choice(list(world.organizations.values())),
                product_id=world.products["CERTIFICATES" if code.startswith("CERT") else "MAIL"], plan_id=plan_id,
                status=rng.choice(["TRIAL", "ACTIVE", "SUSPENDED", "CANCELLED", "EXPIRED"]),
                license_count=rng.randint(1, 40), current_period_start=now,
                current_period_end=now + dt.timedelta(days=30))
            session.add(sub)
            await session.flush()
            if not code.startswith("CERT"):
                for add_on_id in {rng.choice(add_ons) for _ in range(rng.randint(0, 2))}:
                    session.add(models.SubscriptionAddOn(subscription_id=sub.id, add_on_id=add_on_id,
                                                         quantity=rng.randint(1, 9)))


async def _expected_in_python(runtime: Any, group_by: list[str]) -> list[tuple[Any, ...]]:  # noqa: C901
    """The same figures computed row by row in Python, from the definition."""
    async with runtime.sessions() as session:
        subs = (await session.execute(models.Subscription.__table__.select())).all()
        plans = {p.id: p for p in (await session.execute(models.Plan.__table__.select())).all()}
        add_ons = {a.id: a for a in (await session.execute(models.AddOn.__table__.select())).all()}
        orgs = {o.id: o for o in (await session.execute(models.Organization.__table__.select())).all()}
        lines = (await session.execute(models.SubscriptionAddOn.__table__.select())).all()
    groups: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {"subs": set(), "orgs": set(), "licenses": 0, "amount": Decimal(0)})

    def key(sub: Any, currency: str) -> tuple[Any, ...]:
        org = orgs[sub.organization_id]
        values = {"PRODUCT": sub.product_id, "PLAN": sub.plan_id, "PARTNER": org.partner_id,
                  "COUNTRY": org.country, "STATUS": sub.status}
        return (*[values[g] for g in group_by], currency)

    counted = {s.id: s for s in subs if s.status not in ("SUSPENDED", "CANCELLED")}
    for sub in counted.values():
        plan = plans[sub.plan_id]
        months = 12 if plan.billing_period == "YEARLY" else 1
        group = groups[key(sub, plan.currency)]
        group["subs"].add(sub.id)
        group["orgs"].add(sub.organization_id)
        group["licenses"] += sub.license_count
        group["amount"] += Decimal(plan.price_per_license) * sub.license_count / months
    for line in lines:
        sub = counted.get(line.subscription_id)
        add_on = add_ons[line.add_on_id]
        if sub is None or add_on.billing != "PREPAID":
            continue
        months = 12 if plans[sub.plan_id].billing_period == "YEARLY" else 1
        group = groups[key(sub, add_on.currency)]
        group["subs"].add(sub.id)
        group["orgs"].add(sub.organization_id)
        group["amount"] += Decimal(add_on.unit_price) * line.quantity / months
    return [(k, len(g["subs"]), len(g["orgs"]), g["licenses"], str(round_money(g["amount"])))
            for k, g in groups.items()]


@pytest.mark.parametrize("group_by", [[], ["PRODUCT"], ["PARTNER", "STATUS"], ["PLAN", "COUNTRY"],
                                      ["PRODUCT", "PLAN", "PARTNER", "COUNTRY", "STATUS"]])
async def test_matches_a_row_by_row_computation(runtime, world, group_by):
    await _random_subscriptions(runtime, world, 80, seed=len(group_by))
    query = "query($groupBy: [SubscriptionGroupBy!]!) { subscriptionStats(groupBy: $groupBy) {" \
            " product { id } plan { id } partner { id } country status subscriptions organizations licenses" \
            " monthlyRecurringRevenue { amount currency } } }"
    data = (await run_query(runtime, query, {"groupBy": group_by}, token=world.tokens["platform_admin"])).ok()
    from gateway.relay import decode_id

    def pk(node: Any) -> Any:
        return decode_id(node["id"])[1] if node else None

    got = []
    for item in data["subscriptionStats"]:
        values = {"PRODUCT": pk(item["product"]), "PLAN": pk(item["plan"]), "PARTNER": pk(item["partner"]),
                  "COUNTRY": item["country"], "STATUS": item["status"]}
        got.append(((*[values[g] for g in group_by], item["monthlyRecurringRevenue"]["currency"]),
                    item["subscriptions"], item["organizations"], item["licenses"],
                    item["monthlyRecurringRevenue"]["amount"]))
    assert sorted(got, key=repr) == sorted(await _expected_in_python(runtime, group_by), key=repr)
