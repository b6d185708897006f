"""The catalog: the products the plugins declare, synced, and Query.products."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.testing import count_statements, run_query
from schema.catalog.service import sync_catalog
from schema.models import AddOn, Plan, Product
from schema.testing import build_world, declared_catalogs

PRODUCTS_QUERY = """{ products { code name plans { code billingPeriod pricePerLicense { amount currency }
  includedStorageGb trialDays product { code } } addOns { code billing unit unitPrice { amount currency } product { code } } } }"""


async def test_sync_is_idempotent_and_completes_a_partial_catalog(runtime):
    await build_world(runtime)  # the world has MAIL with two plans already
    declared = declared_catalogs()
    products = [product for specs in declared.values() for product in specs]
    added = []
    for _ in range(2):
        async with runtime.sessions() as session, session.begin():
            added.append((await sync_catalog(session, declared)).added)
    assert added[0]["mail"] == {"plans": 1, "add-ons": 1}  # MAIL and its two plans were there
    assert added[1] == {}
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Product)) == len(products) == 4
        assert await session.scalar(select(func.count()).select_from(Plan)) == sum(len(p.plans) for p in products) == 8
        assert await session.scalar(select(func.count()).select_from(AddOn)) == sum(len(p.add_ons) for p in products)


async def test_products_query_lists_the_four_products_in_few_statements(runtime):
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())
    with count_statements(runtime) as counter:
        data = (await run_query(runtime, PRODUCTS_QUERY, token=world.tokens["org_member"])).ok()
    products = {p["code"]: p for p in data["products"]}
    assert set(products) == {"MAIL", "VERTICAL", "DESK", "CERTIFICATES"}
    # ordered by rank (upgrades last), then by id
    assert [p["code"] for p in products["MAIL"]["plans"]] == ["MAIL_STANDARD", "MAIL_STANDARD_YEARLY", "MAIL_PREMIUM"]
    yearly = next(p for p in products["MAIL"]["plans"] if p["code"] == "MAIL_STANDARD_YEARLY")
    assert yearly["billingPeriod"] == "YEARLY" and yearly["product"]["code"] == "MAIL"
    assert {a["code"]: a["billing"] for a in products["DESK"]["addOns"]} == {"DESK_SMS": "POSTPAID",
                                                                              "DESK_VOICE_MINUTES": "POSTPAID"}
    storage = products["MAIL"]["addOns"][0]
    assert storage == {"code": "MAIL_EXTRA_STORAGE", "billing": "PREPAID", "unit": "10 GB",
                       "unitPrice": {"amount": "2.00", "currency": "USD"}, "product": {"code": "MAIL"}}
    # authentication, then products, plans, add-ons; plan.product and addOn.product come from the request cache
    assert counter.count <= 6, counter.statements


async def test_products_needs_a_signed_in_viewer(runtime):
    await build_world(runtime)
    result = await run_query(runtime, "{ products { code } }")
    assert result.error_codes == ["UNAUTHENTICATED"]
