"""The partner-console dashboard query at 10, 100 and 1000 customers: SQL statements, time, ratio to raw.

    .venv/bin/python benchmarks/dashboard.py [--sizes 10,100,1000] [--repeat 20]

For each size, a temporary SQLite database gets one reseller with that many customers (each
with three subscriptions, add-ons, a card and delegated access), then the dashboard query
(``partner.customers(first: 100)`` with subscriptions, plans, add-ons, payment method, mapping)
runs as the reseller's admin. Printed per size: the SQL statement count of one request, the
mean time per request, and the ratio of that time to fetching the same rows with plain
SQLAlchemy and building the same JSON (orjson) in the same process. Only the core plugin is
loaded, so the numbers are the core's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.http import tune_garbage_collector  # noqa: E402
from gateway.auth import get_or_create_user, issue_token  # noqa: E402
from gateway.db import Base, utcnow  # noqa: E402
from gateway.relay import encode_id  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.testing import count_statements  # noqa: E402
from schema import models  # noqa: E402
from schema.catalog.service import sync_catalog  # noqa: E402
from schema.testing import declared_catalogs  # noqa: E402

DASHBOARD_QUERY = """query Dashboard($partnerId: ID!) {
  partner(id: $partnerId) {
    id name
    customers(first: 100) {
      totalCount
      nodes {
        id name domain status
        partner { id code name }
        partnerAccess { status grantedAt }
        paymentMethod { owner brand last4 expMonth expYear }
        subscriptions(first: 10) {
          nodes {
            id status licenseCount storageGb autoRenew currentPeriodEnd
            product { code name }
            plan { code name billingPeriod pricePerLicense { amount currency } }
            addOns { quantity addOn { code name unit } }
          }
        }
      }
    }
  }
}"""

SUBSCRIPTIONS_PER_CUSTOMER = (("MAIL_PREMIUM", "MAIL_EXTRA_STORAGE"), ("VERTICAL_STARTER", "VERTICAL_STORAGE"),
                              ("DESK_STANDARD", "DESK_SMS"))


async def build_dataset(runtime: Runtime, customers: int) -> dict[str, str]:
    """One reseller with ``customers`` organizations, inserted in bulk; returns its admin's token and its ID."""
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())  # every installed plugin's products
        plans = {p.code: p for p in (await session.scalars(select(models.Plan))).all()}
        add_ons = {a.code: a for a in (await session.scalars(select(models.AddOn))).all()}
        partner = models.Partner(name="Bench Reseller", code=f"BENCH{customers}", kind="RESELLER")
        session.add(partner)
        await session.flush()
        user = await get_or_create_user(session, f"admin{customers}@bench.example", "Bench Admin")
        session.add(models.PartnerMember(partner_id=partner.id, user_id=user.id, role="PARTNER_ADMIN"))
        _, token = await issue_token(session, user, "bench")
        await session.execute(insert(models.Organization), [
            {"name": f"Customer {i:05d}", "domain": f"c{i}-{customers}.bench.example", "domain_verified": True,
             "domain_verification_code": "x", "status": "ACTIVE", "country": "US", "partner_id": partner.id,
             "created_at": now} for i in range(customers)])
        org_ids = list((await session.scalars(select(models.Organization.id).where(
            models.Organization.partner_id == partner.id).order_by(models.Organization.id))).all())
        await session.execute(insert(models.PartnerAccess), [
            {"organization_id": pk, "partner_id": partner.id, "status": "ACTIVE", "granted_at": now} for pk in org_ids])
        await session.execute(insert(models.PaymentMethod), [
            {"organization_id": pk, "owner": "RESELLER_CARD" if pk % 2 else "CUSTOMER_CARD", "processor_token": "tok",
             "brand": "VISA", "last4": "4242", "exp_month": 12, "exp_year": 2099, "updated_at": now} for pk in org_ids])
        await session.execute(insert(models.Subscription), [
            {"organization_id": pk, "product_id": plans[plan].product_id, "plan_id": plans[plan].id, "status": "ACTIVE",
             "license_count": 5 + pk % 20, "storage_gb": plans[plan].included_storage_gb, "auto_renew": True,
             "current_period_start": now, "current_period_end": now + dt.timedelta(days=30), "created_at": now,
             "version": 1, "period_price_per_license": plans[plan].price_per_license,
             "period_storage_price_per_gb": plans[plan].storage_price_per_gb}
            for pk in org_ids for plan, _ in SUBSCRIPTIONS_PER_CUSTOMER])
        subs = (await session.execute(select(models.Subscription.id, models.Subscription.plan_id).where(
            models.Subscription.organization_id.in_(org_ids)))).all()
        add_on_of_plan = {plans[plan].id: add_ons[code].id for plan, code in SUBSCRIPTIONS_PER_CUSTOMER}
        add_on_prices = {a.id: a.unit_price for a in add_ons.values()}
        await session.execute(insert(models.SubscriptionAddOn), [
            {"subscription_id": sub_id, "add_on_id": add_on_of_plan[plan_id], "quantity": 2,
             "period_unit_price": add_on_prices[add_on_of_plan[plan_id]]} for sub_id, plan_id in subs])
    return {"token": token, "partner_id": encode_id("Partner", partner.id), "partner_pk": str(partner.id)}


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(amount.quantize(Decimal("0.01"))), "currency": currency}


async def raw_dashboard(runtime: Runtime, partner_pk: int) -> bytes:
    """The same data with plain SQLAlchemy (one statement per table) and the same JSON shape, as orjson bytes."""
    O, S, P, Pl, A, SA, PM, PA = (models.Organization, models.Subscription, models.Product, models.Plan, models.AddOn,
                                   models.SubscriptionAddOn, models.PaymentMethod, models.PartnerAccess)
    async with runtime.sessions() as session:
        partner = (await session.execute(select(models.Partner.id, models.Partner.name, models.Partner.code)
                                         .where(models.Partner.id == partner_pk))).one()
        orgs = (await session.execute(select(O.id, O.name, O.domain, O.status, O.partner_id)
                                      .where(O.partner_id == partner_pk).order_by(O.name, O.id).limit(100))).all()
        ids = [o.id for o in orgs]
        total = len((await session.execute(select(O.id).where(O.partner_id == partner_pk))).all())
        access = {r.organization_id: r for r in (await session.execute(
            select(PA.organization_id, PA.status, PA.granted_at).where(PA.organization_id.in_(ids)))).all()}
        cards = {r.organization_id: r for r in (await session.execute(
            select(PM.organization_id, PM.owner, PM.brand, PM.last4, PM.exp_month, PM.exp_year)
            .where(PM.organization_id.in_(ids)))).all()}
        subs = (await session.execute(select(S).where(S.organization_id.in_(ids)).order_by(S.id))).scalars().all()
        products = {p.id: p for p in (await session.scalars(select(P))).all()}
        plans = {p.id: p for p in (await session.scalars(select(Pl))).all()}
        extras = (await session.execute(select(SA.subscription_id, SA.quantity, A.code, A.name, A.unit)
                                        .join(A, A.id == SA.add_on_id)
                                        .where(SA.subscription_id.in_([s.id for s in subs])).order_by(SA.id))).all()
    add_ons: dict[int, list[dict[str, Any]]] = {}
    for e in extras:
        add_ons.setdefault(e.subscription_id, []).append({"quantity": e.quantity, "addOn": {"code": e.code, "name": e.name,
                                                                                          "unit": e.unit}})
    by_org: dict[int, list[dict[str, Any]]] = {}
    for s in subs:
        if len(by_org.setdefault(s.organization_id, [])) >= 10:
            continue
        plan, product = plans[s.plan_id], products[s.product_id]
        by_org[s.organization_id].append({
            "id": encode_id("ProductSubscription", s.id), "status": s.status, "licenseCount": s.license_count,
            "storageGb": s.storage_gb, "autoRenew": s.auto_renew, "currentPeriodEnd": s.current_period_end.isoformat(),
            "product": {"code": product.code, "name": product.name},
            "plan": {"code": plan.code, "name": plan.name, "billingPeriod": plan.billing_period,
                     "pricePerLicense": _money(plan.price_per_license, plan.currency)},
            "addOns": add_ons.get(s.id, []),
        })
    partner_json = {"id": encode_id("Partner", partner.id), "code": partner.code, "name": partner.name}
    nodes = []
    for o in orgs:
        card, grant = cards.get(o.id), access.get(o.id)
        nodes.append({
            "id": encode_id("Organization", o.id), "name": o.name, "domain": o.domain, "status": o.status,
            "partner": partner_json,
            "partnerAccess": {"status": grant.status, "grantedAt": grant.granted_at.isoformat()} if grant else None,
            "paymentMethod": {"owner": card.owner, "brand": card.brand, "last4": card.last4, "expMonth": card.exp_month,
                              "expYear": card.exp_year} if card else None,
            "subscriptions": {"nodes": by_org.get(o.id, [])},
        })
    return orjson.dumps({"data": {"partner": {"id": partner_json["id"], "name": partner.name,
                                              "customers": {"totalCount": total, "nodes": nodes}}}})


async def graphql_dashboard(runtime: Runtime, dataset: dict[str, str]) -> bytes:
    result = await runtime.execute(DASHBOARD_QUERY, {"partnerId": dataset["partner_id"]}, token=dataset["token"])
    if result.errors:
        raise RuntimeError(f"dashboard query failed: {result.errors}")
    return orjson.dumps({"data": result.data})


async def dashboard_statements(runtime: Runtime, dataset: dict[str, str]) -> int:
    with count_statements(runtime) as counter:
        await graphql_dashboard(runtime, dataset)
    return counter.count


async def _timed(fn: Any, repeat: int) -> float:
    await fn()  # warm caches (parser, validation, SQL compilation)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def measure(size: int, repeat: int, folder: str) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{os.path.join(folder, f'dashboard_{size}.db')}"
    runtime = Runtime(load_settings(database_url=url, plugins=""))
    try:
        async with runtime.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        dataset = await build_dataset(runtime, size)
        statements = await dashboard_statements(runtime, dataset)
        graph_json = orjson.loads(await graphql_dashboard(runtime, dataset))
        raw_json = orjson.loads(await raw_dashboard(runtime, int(dataset["partner_pk"])))
        same = graph_json == raw_json
        tune_garbage_collector()  # as the served gateway runs (gateway.http lifespan)
        graphql_time = await _timed(lambda: graphql_dashboard(runtime, dataset), repeat)
        raw_time = await _timed(lambda: raw_dashboard(runtime, int(dataset["partner_pk"])), repeat)
        return {"size": size, "statements": statements, "graphql_ms": graphql_time * 1000, "raw_ms": raw_time * 1000,
                "ratio": graphql_time / raw_time, "same_json": same,
                "nodes": len(graph_json["data"]["partner"]["customers"]["nodes"])}
    finally:
        await runtime.dispose()


async def run(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as folder:
        return [await measure(size, repeat, folder) for size in sizes]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma list of customer counts")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per size (median reported)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results = asyncio.run(run(sizes, args.repeat))
    print(f"{'customers':>9} {'nodes':>5} {'SQL stmts':>9} {'GraphQL ms':>10} {'raw ms':>8} {'ratio':>6} {'same JSON':>9}")
    for r in results:
        print(f"{r['size']:>9} {r['nodes']:>5} {r['statements']:>9} {r['graphql_ms']:>10.2f} {r['raw_ms']:>8.2f} "
              f"{r['ratio']:>5.2f}x {str(r['same_json']):>9}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
