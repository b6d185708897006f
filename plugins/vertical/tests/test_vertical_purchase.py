"""The developer buys for a trial customer (PURCHASE) and manages a subscribed one (MANAGE) through the core's
purchaseSubscription / changeSubscription with the VERTICAL product; the instance follows the subscription."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway.auth import get_or_create_user, issue_token
from gateway.db import utcnow
from gateway.relay import encode_id
from plugins.vertical.models import SolutionInstance
from plugins.vertical.services.solutions import install_solution
from plugins.vertical.tests.conftest import VerticalWorld, add_organization, add_subscription
from schema import models

PURCHASE = """mutation($input: PurchaseSubscriptionInput!) { purchaseSubscription(input: $input) {
  subscription { status plan { code } } userErrors { code message } } }"""
CHANGE = """mutation($input: ChangeSubscriptionInput!) { changeSubscription(input: $input) {
  subscription { status plan { code } addOns { addOn { code } quantity } } userErrors { code message } } }"""
INSTANCE = """query($id: ID!) { node(id: $id) { ... on SolutionInstance { userType plan { code }
  storage { addOnGb file { limitMb } } } } }"""


async def _trial_customer_of_devco(runtime: Any, vw: VerticalWorld) -> dict[str, Any]:
    """A customer mapped to the developer partner, on a VERTICAL trial, with a card and the solution installed;
    plus a PARTNER_ADMIN of devco and the customer's own super admin."""
    async with runtime.sessions() as session, session.begin():
        devco = vw.world.partners["devco"]
        org = await add_organization(session, "trialco.example", partner_id=devco)
        session.add(models.PartnerMapping(organization_id=org, partner_id=devco, mapped_by="PARTNER"))
        session.add(models.PaymentMethod(organization_id=org, owner="RESELLER_CARD", processor_token="tok_ok",
                                         brand="visa", last4="4242", exp_month=12, exp_year=utcnow().year + 2))
        sub = await add_subscription(session, org, vw.product, vw.plans["VERTICAL_STARTER"], "TRIAL")
        instance = await install_solution(session, vw.solution, org, False)
        admin = await get_or_create_user(session, "admin@devco.example", "Devco Admin")
        session.add(models.PartnerMember(partner_id=devco, user_id=admin.id, role="PARTNER_ADMIN"))
        _, admin_token = await issue_token(session, admin, "test")
        boss = await get_or_create_user(session, "boss@trialco.example", "Trial Boss")
        session.add(models.OrganizationMember(organization_id=org, user_id=boss.id, role="SUPER_ADMIN"))
        _, boss_token = await issue_token(session, boss, "test")
    return {"org": org, "subscription": encode_id("ProductSubscription", sub), "instance_pk": instance.id,
            "instance": encode_id("SolutionInstance", instance.id), "admin": admin_token, "boss": boss_token}


async def test_developer_purchases_then_manages_the_vertical_subscription(gql: Any, runtime: Any,
                                                                          vworld: VerticalWorld) -> None:
    c = await _trial_customer_of_devco(runtime, vworld)
    platform = vworld.tokens["platform_admin"]
    before = (await gql(INSTANCE, {"id": c["instance"]}, token=platform)).ok()["node"]
    assert (before["userType"], before["plan"]["code"]) == ("TRIAL", "VERTICAL_STARTER")

    # PURCHASE: only the developer partner's admin; a DEVELOPER member and the customer itself are refused
    purchase = {"input": {"subscriptionId": c["subscription"], "idempotencyKey": "buy-1"}}
    assert (await gql(PURCHASE, purchase, token=vworld.tokens["developer"])).error_codes == ["FORBIDDEN"]
    own = (await gql(PURCHASE, purchase, token=c["boss"])).ok()["purchaseSubscription"]
    assert own["userErrors"][0]["code"] == "PARTNER_MANAGED_SUBSCRIPTION" and "DevCo" in own["userErrors"][0]["message"]
    bought = (await gql(PURCHASE, purchase, token=c["admin"])).ok()["purchaseSubscription"]
    assert bought["userErrors"] == [] and bought["subscription"]["status"] == "ACTIVE"
    after = (await gql(INSTANCE, {"id": c["instance"]}, token=platform)).ok()["node"]
    assert after["userType"] == "PAID"

    # MANAGE: plan and storage add-on; the instance's plan and storage limit follow
    change = {"input": {"subscriptionId": c["subscription"], "idempotencyKey": "manage-1",
                        "planCode": "VERTICAL_PROFESSIONAL", "addOns": [{"code": "VERTICAL_STORAGE", "quantity": 5}]}}
    changed = (await gql(CHANGE, change, token=c["admin"])).ok()["changeSubscription"]
    assert changed["userErrors"] == [], changed
    assert changed["subscription"]["plan"]["code"] == "VERTICAL_PROFESSIONAL"
    assert changed["subscription"]["addOns"] == [{"addOn": {"code": "VERTICAL_STORAGE"}, "quantity": 5}]
    managed = (await gql(INSTANCE, {"id": c["instance"]}, token=platform)).ok()["node"]
    assert managed["plan"]["code"] == "VERTICAL_PROFESSIONAL"
    assert managed["storage"] == {"addOnGb": 5, "file": {"limitMb": 5120 + 5 * 1024}}
    async with runtime.sessions() as session:
        instance = await session.get(SolutionInstance, c["instance_pk"])
        assert instance.plan_id == vworld.plans["VERTICAL_PROFESSIONAL"]
        payments = (await session.scalars(select(models.Payment).where(models.Payment.organization_id == c["org"]))).all()
        assert len(payments) == 1 and payments[0].card_owner == "RESELLER_CARD"
