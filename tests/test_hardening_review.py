"""A hostile second look at issue 11's fixes: the holes it found, each closed for its whole class.

1. A membership a partner admin added through delegated access is lent: it counts only while that
   partner's delegation is active and the partner enabled. Revocation deletes such memberships, but
   a disabled partner's staff it let in kept reading the customer's people and mail, and a membership
   written while a revocation committed (or any row left behind) kept working.
2. Card numbers sent in a request came back in error messages: enum and scalar coercion errors, invalid
   global IDs and unknown input fields echo the value. Every error message is masked before it leaves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.auth import Viewer
from gateway.card_guard import CardDataRefused
from gateway.context import Context
from gateway.errors import DomainError
from gateway.http import create_app
from gateway.runtime import Runtime
from gateway.sensitive import (
    contains_card_data,
    contains_card_number,
    find_card_data,
    redact_card_data,
    redact_message,
)
from gateway.testing import run_query, shared_runtime
from plugins.mail.testing import build_mail_world
from schema import models
from schema.models import AuditEvent
from schema.people import service as people

ADD_MEMBER = """mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) {
  member { role } userErrors { code } } }"""
MEMBERS = """query($id: ID!) { organization(id: $id) { members { nodes { user { email } } } } }"""
MAIL_USERS = """query($id: ID!) { organization(id: $id) { mail { users { nodes { email } } } } }"""
VIEWER_ORGS = "{ viewer { organizationMemberships { role organization { domain } } } organizations { totalCount } }"


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    """Every plugin enabled: mail is part of what a lent membership reaches."""
    yield await shared_runtime(backend)


async def set_partner_status(runtime: Runtime, partner_id: int, status: str) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Partner).where(models.Partner.id == partner_id).values(status=status))


async def lend_membership_to_the_analyst(runtime: Runtime) -> Any:
    """The reseller's admin adds the reseller's own analyst to acme (MEMBER) through delegated access."""
    mw = await build_mail_world(runtime)
    world = mw.world
    added = (await run_query(runtime, ADD_MEMBER, {"input": {
        "organizationId": world.org_id("acme"), "email": "analyst@resell.example", "role": "MEMBER"}},
        token=world.tokens["reseller_admin"])).ok()["addOrganizationMember"]
    assert added == {"member": {"role": "MEMBER"}, "userErrors": []}
    return world


async def analyst_reach(runtime: Runtime, world: Any) -> dict[str, Any]:
    token = world.tokens["reseller_analyst"]
    acme = world.org_id("acme")
    members = await run_query(runtime, MEMBERS, {"id": acme}, token=token)
    mail = await run_query(runtime, MAIL_USERS, {"id": acme}, token=token)
    viewer = (await run_query(runtime, VIEWER_ORGS, token=token)).ok()
    return {
        "members": bool(members.data and members.data["organization"] and members.data["organization"]["members"]
                        and members.data["organization"]["members"]["nodes"]),
        "mail": bool(mail.data and mail.data["organization"] and mail.data["organization"]["mail"]
                     and mail.data["organization"]["mail"]["users"]["nodes"]),
        "memberships": [m["organization"]["domain"] for m in viewer["viewer"]["organizationMemberships"]],
    }


# ---------------------------------------------------------------- 1. lent memberships
async def test_a_membership_lent_by_a_disabled_partner_reaches_nothing_until_it_is_enabled(runtime: Runtime) -> None:
    """A disabled reseller "can do nothing": not through the people it let into its customers either."""
    world = await lend_membership_to_the_analyst(runtime)
    assert await analyst_reach(runtime, world) == {"members": True, "mail": True, "memberships": ["acme.example"]}
    await set_partner_status(runtime, world.partners["reseller"], "DISABLED")
    assert await analyst_reach(runtime, world) == {"members": False, "mail": False, "memberships": []}
    await set_partner_status(runtime, world.partners["reseller"], "ACTIVE")  # suspended, not removed
    assert await analyst_reach(runtime, world) == {"members": True, "mail": True, "memberships": ["acme.example"]}


async def test_a_lent_membership_left_behind_after_revocation_reaches_nothing(runtime: Runtime) -> None:
    """Revocation deletes the partner's memberships; one written by an add that raced the revocation
    (checked while the delegation was active, committed after) must not work either."""
    world = await lend_membership_to_the_analyst(runtime)
    async with runtime.sessions() as session, session.begin():  # the revocation, as committed first
        await session.execute(update(models.PartnerAccess).where(
            models.PartnerAccess.organization_id == world.organizations["acme"]).values(status="REVOKED"))
    assert await analyst_reach(runtime, world) == {"members": False, "mail": False, "memberships": []}


async def test_the_customers_own_memberships_do_not_depend_on_any_partner(runtime: Runtime) -> None:
    """Only lent memberships follow the partner: the customer's own members keep theirs whatever happens to it."""
    world = await lend_membership_to_the_analyst(runtime)
    await set_partner_status(runtime, world.partners["reseller"], "DISABLED")
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.PartnerAccess).values(status="REVOKED"))
    for role in ("org_super_admin", "org_admin", "org_member"):
        data = (await run_query(runtime, MEMBERS, {"id": world.org_id("acme")}, token=world.tokens[role])).ok()
        assert data["organization"]["members"]["nodes"], role


async def test_an_add_through_a_delegation_that_ended_meanwhile_is_refused_by_the_service(runtime: Runtime) -> None:
    """The race's other half: the service re-reads the delegation, locked, before writing the membership."""
    mw = await build_mail_world(runtime)
    world = mw.world
    async with runtime.sessions() as session, session.begin():  # the revocation commits after the resolver's check
        await session.execute(update(models.PartnerAccess).where(
            models.PartnerAccess.organization_id == world.organizations["acme"]).values(status="REVOKED"))
    async with runtime.sessions() as session, session.begin():
        ctx = Context(runtime=runtime, session=session, viewer=Viewer(user_id=world.user_ids["reseller_admin"]))
        with pytest.raises(DomainError) as refused:
            await people.add_organization_member(ctx, world.organizations["acme"], email="late@resell.example",
                                                 name=None, role="MEMBER", via_partner_id=world.partners["reseller"])
    assert refused.value.code == "PARTNER_ACCESS_REVOKED"


async def test_granting_access_again_does_not_bring_back_what_revocation_removed(runtime: Runtime) -> None:
    world = await lend_membership_to_the_analyst(runtime)
    boss = world.tokens["org_super_admin"]
    acme = world.org_id("acme")
    revoke = "mutation($i: OrganizationInput!) { revokePartnerAccess(input: $i) { userErrors { code } } }"
    grant = "mutation($i: GrantPartnerAccessInput!) { grantPartnerAccess(input: $i) { userErrors { code } } }"
    assert (await run_query(runtime, revoke, {"i": {"organizationId": acme}}, token=boss)).ok()[
        "revokePartnerAccess"]["userErrors"] == []
    assert (await run_query(runtime, grant, {"i": {"organizationId": acme, "partnerId": world.partner_id("reseller")}},
                            token=boss)).ok()["grantPartnerAccess"]["userErrors"] == []
    assert await analyst_reach(runtime, world) == {"members": False, "mail": False, "memberships": []}


# ---------------------------------------------------------------- 1b. the old reseller's card
PAYMENT_METHOD = "query($id: ID!) { organization(id: $id) { paymentMethod { owner last4 } } }"
SET_CARD = """mutation($i: UpdatePaymentMethodInput!) { updatePaymentMethod(input: $i) { userErrors { code } } }"""


async def set_card(runtime: Runtime, world: Any, owner: str, token: str) -> None:
    result = (await run_query(runtime, SET_CARD, {"i": {
        "organizationId": world.org_id("acme"), "owner": owner, "cardToken": "tok_leftbehind1", "brand": "VISA",
        "last4": "4242", "expMonth": 12, "expYear": 2040}}, token=token)).ok()
    assert result["updatePaymentMethod"]["userErrors"] == []


async def test_the_old_resellers_card_does_not_stay_on_file_for_the_next_partner(runtime: Runtime) -> None:
    """A customer moving to another partner left the old reseller's card on file: the new partner read it as
    its RESELLER_CARD and every purchase, renewal or credit would be charged to the reseller that left."""
    world = (await build_mail_world(runtime)).world
    await set_card(runtime, world, "RESELLER_CARD", world.tokens["reseller_admin"])
    tag = "mutation($i: TagPartnerInput!) { tagPartner(input: $i) { userErrors { code } } }"
    assert (await run_query(runtime, tag, {"i": {"organizationId": world.org_id("acme"), "partnerCode": "OTHER1"}},
                            token=world.tokens["org_super_admin"])).ok()["tagPartner"]["userErrors"] == []
    for role in ("org_super_admin", "other_partner_admin"):
        data = (await run_query(runtime, PAYMENT_METHOD, {"id": world.org_id("acme")}, token=world.tokens[role])).ok()
        assert data["organization"]["paymentMethod"] is None, role
    events = (await run_query(runtime, """query($id: ID!) { organization(id: $id) { auditEvents(first: 50) {
      nodes { action details partner { code } } } } }""", {"id": world.org_id("acme")},
        token=world.tokens["org_super_admin"])).ok()["organization"]["auditEvents"]["nodes"]
    removal = [e for e in events if e["action"] == "payment_method.remove"]
    assert len(removal) == 1 and removal[0]["partner"] == {"code": "RESEL1"}
    assert removal[0]["details"]["reason"] == "PARTNER_CHANGED" and removal[0]["details"]["owner"] == "RESELLER_CARD"


async def test_the_customers_own_card_stays_when_it_moves_to_another_partner(runtime: Runtime) -> None:
    world = (await build_mail_world(runtime)).world
    await set_card(runtime, world, "CUSTOMER_CARD", world.tokens["org_super_admin"])
    revoke = "mutation($i: OrganizationInput!) { revokePartnerAccess(input: $i) { userErrors { code } } }"
    await run_query(runtime, revoke, {"i": {"organizationId": world.org_id("acme")}}, token=world.tokens["org_super_admin"])
    tag = "mutation($i: TagPartnerInput!) { tagPartner(input: $i) { userErrors { code } } }"
    await run_query(runtime, tag, {"i": {"organizationId": world.org_id("acme"), "partnerCode": "OTHER1"}},
                    token=world.tokens["org_super_admin"])
    data = (await run_query(runtime, PAYMENT_METHOD, {"id": world.org_id("acme")},
                            token=world.tokens["org_super_admin"])).ok()
    assert data["organization"]["paymentMethod"] == {"owner": "CUSTOMER_CARD", "last4": "4242"}


async def test_a_partner_with_delegated_access_only_cannot_put_its_card_on_file_as_the_resellers(runtime: Runtime) -> None:
    """A partner the customer granted delegated access to, but is not mapped to, is not its reseller: a
    RESELLER_CARD it set would be charged for the mapped reseller's sales and stay behind its revocation."""
    world = (await build_mail_world(runtime)).world
    grant = "mutation($i: GrantPartnerAccessInput!) { grantPartnerAccess(input: $i) { userErrors { code } } }"
    assert (await run_query(runtime, grant, {"i": {"organizationId": world.org_id("acme"),
                                                   "partnerId": world.partner_id("other")}},
                            token=world.tokens["org_super_admin"])).ok()["grantPartnerAccess"]["userErrors"] == []
    result = (await run_query(runtime, SET_CARD, {"i": {
        "organizationId": world.org_id("acme"), "owner": "RESELLER_CARD", "cardToken": "tok_otherpartner1",
        "brand": "VISA", "last4": "4242", "expMonth": 12, "expYear": 2040}},
        token=world.tokens["other_partner_admin"])).ok()["updatePaymentMethod"]
    assert result["userErrors"] == [{"code": "NOT_THE_RESELLER"}]
    await set_card(runtime, world, "RESELLER_CARD", world.tokens["reseller_admin"])  # the mapped reseller may


# ---------------------------------------------------------------- 2. card data in responses
PANS = ["4111111111111111", "4111 1111 1111 1111", "4111\u200b1111\u200b1111\u200b1111", "5555\u00a05555\u00a05555\u00a04444",
        "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11"]
PAYMENT = "mutation($i: UpdatePaymentMethodInput!) { updatePaymentMethod(input: $i) { userErrors { code } } }"


def _echoing_requests(world: Any, pan: str) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """Requests whose error message quotes what was sent, each with ``pan`` where the value goes."""
    card = {"organizationId": world.org_id("acme"), "owner": "CUSTOMER_CARD", "cardToken": "tok_abcdefgh",
            "brand": "VISA", "last4": "1111", "expMonth": 1, "expYear": 2030}
    return {
        "enum variable": (PAYMENT, {"i": {**card, "brand": pan}}),
        "int variable": (PAYMENT, {"i": {**card, "expMonth": pan}}),
        "unknown input field": (PAYMENT, {"i": {**card, pan: "x"}}),
        "global id variable": ("query($id: ID!) { node(id: $id) { id } }", {"id": pan}),
        "global id pan": (f'{{ node(id: "{pan}") {{ id }} }}', None),
        "datetime variable": ("mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { userErrors { code } } }",
                              {"i": {"name": "n", "expiresAt": pan}}),
        "unknown argument value": (f'{{ organizations(filter: {{nameContainz: "{pan}"}}) {{ totalCount }} }}', None),
    }


def _assert_no_card_data(messages: list[str]) -> None:
    assert messages
    for message in messages:
        assert not contains_card_data(message) and not contains_card_data(redact_message(message)), message


@pytest.mark.parametrize("pan", PANS)
async def test_card_numbers_sent_do_not_come_back_in_error_messages(runtime: Runtime, pan: str) -> None:
    world = (await build_mail_world(runtime)).world
    token = world.tokens["org_super_admin"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                                 base_url="http://gateway") as http:
        for name, (query, variables) in _echoing_requests(world, pan).items():
            executed = await run_query(runtime, query, variables, token=token)  # what the CLI and tests see
            _assert_no_card_data([e["message"] for e in executed.errors])
            response = await http.post("/graphql", json={"query": query, "variables": variables},
                                       headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
            assert response.status_code in (200, 400), (name, response.text)
            _assert_no_card_data([e["message"] for e in response.json()["errors"]])
        # what only HTTP sees: the operation name, a syntax error quoting the token, a batch
        for body in ({"query": "query A { __typename }", "operationName": pan},
                     {"query": f"{{ node(id: {pan.replace(' ', '')}) {{ id }} }}"},
                     {"query": f'{{ node(id: "{pan}") {{ id }} }} }}'}):
            response = await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}",
                                                                        "Accept": "application/json"})
            _assert_no_card_data([e["message"] for e in response.json()["errors"]])
        # a route's own errors too (the CSV exports quote a bad parameter)
        response = await http.get("/exports/organizations.csv", params={"status": pan},
                                  headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 400
        _assert_no_card_data([e["message"] for e in response.json()["errors"]])


def test_escaped_card_numbers_in_messages_are_masked_too() -> None:
    """graphql-core quotes a value with ``repr``: invisible separators come out as ``\\u200b`` escapes."""
    message = "found: " + repr({"4111\u200b1111\u200b1111\u200b1111": 1, "b": "5555\xa05555\xa05555\xa04444"})
    assert "\\u200b" in message and not contains_card_data(message)  # what a plain scan misses
    masked = redact_message(message)
    assert "411111******1111" in masked and "555555******4444" in masked
    assert redact_message("Unknown type 'Organizaton'.") == "Unknown type 'Organizaton'."


# ---------------------------------------------------------------- 2b. a card number beside another number
BESIDE_ANOTHER_NUMBER = ["order 12: 4111 1111 1111 1111", "4111111111111111 1", "4111-1111-1111-1111, 2",
                         "1 4111111111111111", "5555 5555 5555 4444 07", "3782 822463 10005 1", "room 4 / 4111.1111.1111.1111"]


@pytest.mark.parametrize("text", BESIDE_ANOTHER_NUMBER)
def test_a_card_number_beside_another_number_is_found(text: str) -> None:
    """A run of at most 19 digits was tried only whole: a short number next to the card hid it."""
    assert contains_card_number(text)
    assert not contains_card_number(redact_card_data(text))


@pytest.mark.parametrize("text", BESIDE_ANOTHER_NUMBER[:3])
async def test_free_text_refuses_a_card_number_beside_another_number(runtime: Runtime, text: str) -> None:
    world = (await build_mail_world(runtime)).world
    result = (await run_query(runtime, """mutation($i: UpdateOrganizationDetailsInput!) {
      updateOrganizationDetails(input: $i) { organization { name } userErrors { code field } } }""",
        {"i": {"organizationId": world.org_id("acme"), "name": text}}, token=world.tokens["org_super_admin"])).ok()
    assert result["updateOrganizationDetails"]["userErrors"] == [{"code": "CARD_NUMBER_NOT_ACCEPTED",
                                                                   "field": ["name"]}]


# ---------------------------------------------------------------- 2c. amounts (numeric columns)
@pytest.mark.parametrize("amount", ["4222222222222", "30569309025904", "4222222222222.50"])
def test_an_amount_that_is_a_card_number_is_card_data(amount: str) -> None:
    """Ints were checked but not Decimals: a 13-14 digit amount fits a Numeric(18, 4) column."""
    assert find_card_data({"row": {"estimated_value": Decimal(amount)}}) == ("row", "estimated_value")
    assert find_card_data({"row": {"estimated_value": Decimal("20000.00")}}) is None


async def test_a_card_number_as_an_amount_is_refused_naming_the_amount(runtime: Runtime) -> None:
    world = (await build_mail_world(runtime)).world
    result = (await run_query(runtime, """mutation($i: SubmitLargeDealInput!) {
      submitLargeDeal(input: $i) { largeDeal { id } userErrors { code field } } }""", {"i": {
        "organizationId": world.org_id("acme"), "productCode": "MAIL", "estimatedLicenses": 500,
        "estimatedValue": {"amount": "4222222222222", "currency": "USD"}, "expectedCloseDate": "2099-01-31"}},
        token=world.tokens["reseller_admin"])).ok()
    assert result["submitLargeDeal"] == {"largeDeal": None, "userErrors": [
        {"code": "CARD_NUMBER_NOT_ACCEPTED", "field": ["estimatedValue", "amount"]}]}


# ---------------------------------------------------------------- 2d. JSON-looking text in a text field
JSON_LOOKING = ['[4111, 1111, 1111, 1111]', '["4111", "1111", "1111", "1111"]', '["4111","1111","1111","1111"]']


@pytest.mark.parametrize("text", JSON_LOOKING)
async def test_a_text_field_holding_json_looking_text_is_read_as_text(runtime: Runtime, text: str) -> None:
    """Any string that parsed as a JSON array or object was read item by item (meant for JSON columns, where
    a list of ids is not one number), so an organization name '[4111, 1111, 1111, 1111]' was stored."""
    world = (await build_mail_world(runtime)).world
    result = (await run_query(runtime, """mutation($i: UpdateOrganizationDetailsInput!) {
      updateOrganizationDetails(input: $i) { organization { name } userErrors { code field } } }""",
        {"i": {"organizationId": world.org_id("acme"), "name": text}}, token=world.tokens["org_super_admin"])).ok()
    assert result["updateOrganizationDetails"]["userErrors"] == [{"code": "CARD_NUMBER_NOT_ACCEPTED", "field": ["name"]}]
    with pytest.raises(CardDataRefused) as refused:  # the write guard, under any other way of writing
        async with runtime.sessions() as session, session.begin():
            await session.execute(update(models.Organization).where(
                models.Organization.id == world.organizations["acme"]).values(name=text))
    assert refused.value.column == "name"
    # inside a JSON column, a string is text too: only the column's own JSON is read item by item
    with pytest.raises(CardDataRefused):
        async with runtime.sessions() as session, session.begin():
            session.add(AuditEvent(via="TEST", action="bulk", details={"note": text}))
    async with runtime.sessions() as session, session.begin():
        session.add(AuditEvent(via="TEST", action="bulk", details={"instanceIds": [4111, 1111, 1111, 1111]}))


@pytest.mark.parametrize("text", JSON_LOOKING)
async def test_the_scan_reads_text_columns_as_text(runtime: Runtime, text: str) -> None:
    """gateway db scan-pan finds what a raw driver wrote in a text column, JSON-looking or not."""
    from gateway.pan_scan import scan_engine

    await build_mail_world(runtime)
    async with runtime.engine.begin() as connection:  # under the guard: the raw driver, as a bulk load would
        raw = await connection.get_raw_connection()
        cursor = raw.driver_connection
        if runtime.settings.is_sqlite:
            await cursor.execute("update organizations set name = ?", (text,))
        else:
            await cursor.execute("update organizations set name = $1", text)
    try:
        hits = (await scan_engine(runtime.engine)).hits
        assert {(hit.table, hit.column) for hit in hits} == {("organizations", "name")}
    finally:
        async with runtime.engine.begin() as connection:
            raw = await connection.get_raw_connection()
            if runtime.settings.is_sqlite:
                await raw.driver_connection.execute("update organizations set name = 'Clean'")
            else:
                await raw.driver_connection.execute("update organizations set name = 'Clean'")
