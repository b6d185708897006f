"""The partner's "Manage" actions for a Desk customer are all reachable through the API (core mutations)."""

from __future__ import annotations

from gateway.testing import run_query
from plugins.desk_im.tests.world import build_desk_world, key
from schema.billing.processor import FAKE_PROCESSOR

CHANGE_PLAN = """mutation($input: ChangeSubscriptionInput!) { changeSubscription(input: $input) {
  subscription { plan { code } licenseCount } userErrors { code message } } }"""
LARGE_DEAL = """mutation($input: SubmitLargeDealInput!) { submitLargeDeal(input: $input) {
  largeDeal { productCode estimatedLicenses status organization { domain } } userErrors { code message } } }"""
DETAILS = """mutation($input: UpdateOrganizationDetailsInput!) { updateOrganizationDetails(input: $input) {
  organization { name address { city country } } userErrors { code message } } }"""
CHANGE_CARD = """mutation($input: UpdatePaymentMethodInput!) { updatePaymentMethod(input: $input) {
  paymentMethod { owner brand last4 expMonth expYear } userErrors { code message } } }"""
REMOVE_CARD = """mutation($input: OrganizationInput!) { removePaymentMethod(input: $input) {
  paymentMethod { last4 } userErrors { code message } } }"""
PURCHASE = """mutation($input: PurchaseImCreditsInput!) { purchaseImCredits(input: $input) {
  transaction { cardOwner } userErrors { code } } }"""
CARD = "query($id: ID!) { organization(id: $id) { paymentMethod { last4 } } }"


async def test_mapped_partner_admin_manages_a_desk_customer_through_the_api(runtime):
    world = await build_desk_world(runtime)
    token = world.tokens["reseller_admin"]
    acme = world.org_id("acme")

    async def call(query, variables, field):
        payload = (await run_query(runtime, query, {"input": variables}, token=token)).ok()[field]
        assert payload["userErrors"] == [], payload
        return payload

    plan = await call(CHANGE_PLAN, {"subscriptionId": world.subscription_id("acme_desk"), "planCode": "DESK_PROFESSIONAL",
                                    "licenseCount": 8, "idempotencyKey": key(world, "plan")}, "changeSubscription")
    assert plan["subscription"] == {"plan": {"code": "DESK_PROFESSIONAL"}, "licenseCount": 8}

    deal = await call(LARGE_DEAL, {"organizationId": acme, "productCode": "DESK", "estimatedLicenses": 250,
                                   "estimatedValue": {"amount": "30000.00", "currency": "USD"},
                                   "expectedCloseDate": "2027-06-30", "notes": "Desk roll-out"}, "submitLargeDeal")
    assert deal["largeDeal"] == {"productCode": "DESK", "estimatedLicenses": 250, "status": "SUBMITTED",
                                 "organization": {"domain": "acme.example"}}

    details = await call(DETAILS, {"organizationId": acme, "name": "Acme Desk Corp",
                                   "address": {"city": "Austin", "country": "US"}}, "updateOrganizationDetails")
    assert details["organization"]["name"] == "Acme Desk Corp"
    assert details["organization"]["address"]["city"] == "Austin"

    card = await call(CHANGE_CARD, {"organizationId": acme, "owner": "RESELLER_CARD", "cardToken": "tok_new_card",
                                    "brand": "MASTERCARD", "last4": "5555", "expMonth": 10, "expYear": 2031},
                      "updatePaymentMethod")
    assert card["paymentMethod"] == {"owner": "RESELLER_CARD", "brand": "MASTERCARD", "last4": "5555",
                                     "expMonth": 10, "expYear": 2031}
    bought = await call(PURCHASE, {"organizationId": acme, "credits": 10, "idempotencyKey": key(world, "after-card")},
                        "purchaseImCredits")
    assert bought["transaction"]["cardOwner"] == "RESELLER_CARD"
    assert FAKE_PROCESSOR.charges[-1]["token"] == "tok_new_card"  # the new card paid

    await call(REMOVE_CARD, {"organizationId": acme}, "removePaymentMethod")
    assert (await run_query(runtime, CARD, {"id": acme}, token=token)).ok()["organization"]["paymentMethod"] is None
    refused = (await run_query(runtime, PURCHASE, {"input": {
        "organizationId": acme, "credits": 10, "idempotencyKey": key(world, "no-card")}}, token=token)).ok()
    assert [e["code"] for e in refused["purchaseImCredits"]["userErrors"]] == ["NO_PAYMENT_METHOD"]
