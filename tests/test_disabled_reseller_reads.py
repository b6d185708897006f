"""A disabled reseller can do nothing until enabled again, reads included (issue 11, item 3).

Every read a reseller's admin or analyst makes while it is enabled — core fields, plugin fields,
``node`` look-ups, lists, statistics and CSV exports — is refused (FORBIDDEN with
``extensions.reason = RESELLER_DISABLED``, null, or left out of the list) once its distributor
disables it, and answers again once it is enabled. Its own partner record and status stay
readable; the distributor still reads it and its customers, and enables it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.auth import get_or_create_user
from gateway.db import utcnow
from gateway.http import create_app
from gateway.relay import encode_id
from gateway.runtime import Runtime
from gateway.testing import run_query, shared_runtime
from plugins.desk_im.models import ImCreditAccount, ImCreditTransaction
from plugins.mail import service as mail
from plugins.vertical.access import instance_grants, solution_grants
from plugins.vertical.tests.conftest import VerticalWorld, build_vertical_world
from schema import models
from schema.access import organization_access, partner_grants
from schema.models import AuditEvent

READERS = ("reseller_admin", "reseller_analyst")


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    """Every plugin enabled: plugin reads must follow the rule too."""
    yield await shared_runtime(backend)


@dataclass
class Seeded:
    vw: VerticalWorld
    ids: dict[str, str]

    @property
    def world(self) -> Any:
        return self.vw.world


async def seed(runtime: Runtime) -> Seeded:
    """The vertical plugin's world (acme has a solution instance) plus mail, billing, deals, credits and audit."""
    vw = await build_vertical_world(runtime)
    world = vw.world
    acme = world.organizations["acme"]
    ids: dict[str, str] = {}
    async with runtime.sessions() as session, session.begin():
        await mail.set_up_mail(session, acme, super_admin_email="boss@acme.example", super_admin_name="Boss")
        setup = await mail.load_setup(session, acme)
        bob = await mail.add_user(session, setup, email="bob@acme.example", name="Bob")
        ids["mail_user"] = encode_id("MailUser", bob.id)
        session.add(models.PaymentMethod(organization_id=acme, owner="RESELLER_CARD", processor_token="tok_resellerabc",
                                         brand="VISA", last4="4242", exp_month=12, exp_year=2030))
        payment = models.Payment(organization_id=acme, amount=Decimal("40.00"), currency="USD",
                                 card_owner="RESELLER_CARD", description="Mail", processor_reference="ch_test")
        session.add(payment)
        session.add(models.InvoiceLine(organization_id=acme, description="Mail licenses", amount=Decimal("40.00"),
                                       currency="USD"))
        deal = models.LargeDeal(partner_id=world.partners["reseller"], organization_id=acme, product_code="MAIL",
                                estimated_licenses=500, estimated_value=Decimal("20000.00"), currency="USD",
                                expected_close_date=dt.date.today() + dt.timedelta(days=60))
        session.add(deal)
        session.add(ImCreditAccount(organization_id=acme, balance=100))
        session.add(models.Partner(name="Sub Shop", code="SUBSHOP", kind="RESELLER", parent_id=world.partners["reseller"]))
        colleague = await get_or_create_user(session, "colleague@resell.example", "Colleague")
        session.add(models.PartnerMember(partner_id=world.partners["reseller"], user_id=colleague.id, role="DEVELOPER"))
        ids["colleague"] = encode_id("User", colleague.id)
        await session.flush()
        credit = ImCreditTransaction(organization_id=acme, kind="PURCHASE", credits=100, amount=Decimal("10.00"),
                                     currency="USD", card_owner="RESELLER_CARD", payment_id=payment.id)
        session.add(credit)
        org_event = AuditEvent(actor_user_id=world.user_ids["reseller_admin"], via="PARTNER_ADMIN",
                               organization_id=acme, partner_id=world.partners["reseller"],
                               action="organization.update_details", details={"name": "Acme Inc"})
        partner_event = AuditEvent(actor_user_id=world.user_ids["reseller_admin"], via="MEMBERSHIP",
                                   organization_id=None, partner_id=world.partners["reseller"],
                                   action="partner.update_details", details={"name": "Resell One"})
        session.add_all([org_event, partner_event])
        await session.flush()
        ids.update(payment=encode_id("Payment", payment.id), deal=encode_id("LargeDeal", deal.id),
                   credit=encode_id("ImCreditTransaction", credit.id), org_event=encode_id("AuditEvent", org_event.id),
                   partner_event=encode_id("AuditEvent", partner_event.id))
    ids.update(acme=world.org_id("acme"), reseller=world.partner_id("reseller"),
               subscription=world.subscription_id("acme_mail"), instance=vw.instance_id("acme"))
    return Seeded(vw, ids)


async def set_status(runtime: Runtime, partner_id: int, status: str) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Partner).where(models.Partner.id == partner_id).values(status=status))


# ---------------------------------------------------------------- the table of reads
@dataclass(frozen=True)
class Read:
    name: str
    query: str
    readers: tuple[str, ...]  # who reads it while the reseller is enabled
    reached: Callable[[Any], bool]  # from the data: did the viewer get the thing?
    refusal: str  # while disabled: FORBIDDEN (with reason RESELLER_DISABLED), NULL or EMPTY


def _org_field(field: str, readers: tuple[str, ...] = READERS) -> Read:
    return Read(f"organization.{field.split()[0]}", f"query($acme: ID!) {{ organization(id: $acme) {{ {field} }} }}",
                readers, lambda d: d["organization"] is not None, "FORBIDDEN")


def _present(value: Any) -> bool:
    """Real content: a refused field may still answer an empty placeholder (a connection with totalCount 0)."""
    if isinstance(value, dict) and "totalCount" in value:
        return value["totalCount"] > 0
    if isinstance(value, list):
        return len(value) > 0
    return value is not None


def _partner_field(field: str, readers: tuple[str, ...] = READERS) -> Read:
    return Read(f"partner.{field.split()[0]}", f"query($reseller: ID!) {{ partner(id: $reseller) {{ {field} }} }}",
                readers, lambda d: d["partner"] is not None and _present(d["partner"][field.split()[0]]), "FORBIDDEN")


def _node(key: str, readers: tuple[str, ...] = READERS) -> Read:
    return Read(f"node.{key}", f"query(${key}: ID!) {{ node(id: ${key}) {{ id }} }}", readers,
                lambda d: d["node"] is not None, "NULL")


ADMIN = ("reseller_admin",)
READS = [
    Read("organizations", "{ organizations { totalCount } }", READERS,
         lambda d: d["organizations"]["totalCount"] > 0, "EMPTY"),
    Read("organization", "query($acme: ID!) { organization(id: $acme) { name } }", READERS,
         lambda d: d["organization"] is not None, "FORBIDDEN"),
    _org_field("name viewerAccess { via }"),
    _org_field("members { totalCount }", ADMIN),
    _org_field("subscriptions { totalCount }"),
    _org_field("paymentMethod { last4 }", ADMIN),
    _org_field("payments { totalCount }", ADMIN),
    _org_field("upcomingInvoice { lines { description } }", ADMIN),
    _org_field("auditEvents { totalCount }", ADMIN),
    _org_field("imCredits { balance }"),
    _org_field("mail { users { totalCount } }", ADMIN),
    _org_field("solutionInstances { id }", ADMIN),
    _partner_field("customers { totalCount }"),
    _partner_field("managedOrganizations { totalCount }"),
    _partner_field("members { role }", ADMIN),
    _partner_field("largeDeals { totalCount }"),
    _partner_field("resellers { totalCount }"),
    _node("acme"),
    _node("subscription"),
    _node("payment", ADMIN),
    _node("deal"),
    _node("org_event", ADMIN),
    _node("partner_event"),
    _node("mail_user", ADMIN),
    _node("credit"),
    _node("instance", ADMIN),
    _node("colleague"),  # the partner's staff: not its own record
    Read("auditEvents", "{ auditEvents { totalCount } }", READERS, lambda d: d["auditEvents"]["totalCount"] > 0,
         "EMPTY"),
    Read("subscriptionStats", "{ subscriptionStats(groupBy: [PRODUCT]) { subscriptions } }", READERS,
         lambda d: len(d["subscriptionStats"]) > 0, "EMPTY"),
]


async def read(runtime: Runtime, seeded: Seeded, entry: Read, role: str) -> Any:
    variables = {key: value for key, value in seeded.ids.items() if f"${key}" in entry.query}
    return await run_query(runtime, entry.query, variables or None, token=seeded.world.tokens[role])


def assert_refused(entry: Read, result: Any, role: str) -> None:
    if entry.refusal == "FORBIDDEN":
        assert result.error_codes and set(result.error_codes) == {"FORBIDDEN"}, result
        if role in entry.readers:  # refused only because the partner is disabled: the error says so
            assert all(e["extensions"].get("reason") == "RESELLER_DISABLED" for e in result.errors), result.errors
            assert all("partner account is disabled" in e["message"] for e in result.errors), result.errors
    else:
        assert not result.errors, result.errors
    assert result.data is None or not entry.reached(result.data), result


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("entry", READS, ids=[r.name for r in READS])
async def test_every_read_is_refused_while_disabled_and_answers_once_enabled(runtime: Runtime, entry: Read,
                                                                           role: str) -> None:
    seeded = await seed(runtime)
    reseller = seeded.world.partners["reseller"]
    if role in entry.readers:  # the read works while the reseller is enabled...
        before = await read(runtime, seeded, entry, role)
        assert not before.errors and entry.reached(before.data), before
    await set_status(runtime, reseller, "DISABLED")
    assert_refused(entry, await read(runtime, seeded, entry, role), role)  # ...nothing while it is disabled...
    await set_status(runtime, reseller, "ACTIVE")
    if role in entry.readers:  # ...and again once it is enabled
        after = await read(runtime, seeded, entry, role)
        assert not after.errors and entry.reached(after.data), after


# ---------------------------------------------------------------- its own record stays readable
OWN_RECORD = """query($reseller: ID!) {
  viewer { partnerMemberships { role partner { code status } } }
  partner(id: $reseller) { code status kind parent { code } }
  partners { nodes { code status } } }"""


@pytest.mark.parametrize("role", READERS)
async def test_a_disabled_reseller_still_reads_its_own_record_and_status(runtime: Runtime, role: str) -> None:
    seeded = await seed(runtime)
    await set_status(runtime, seeded.world.partners["reseller"], "DISABLED")
    data = (await run_query(runtime, OWN_RECORD, {"reseller": seeded.ids["reseller"]},
                            token=seeded.world.tokens[role])).ok()
    assert [m["partner"] for m in data["viewer"]["partnerMemberships"]] == [{"code": "RESEL1", "status": "DISABLED"}]
    assert data["partner"] == {"code": "RESEL1", "status": "DISABLED", "kind": "RESELLER", "parent": {"code": "DIST1"}}
    assert data["partners"]["nodes"] == [{"code": "RESEL1", "status": "DISABLED"}]


# ---------------------------------------------------------------- CSV exports
def _client(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway")


async def export_rows(runtime: Runtime, path: str, token: str | None) -> tuple[int, list[dict[str, str]], Any]:
    async with _client(runtime) as http:
        response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    if response.status_code != 200:
        return response.status_code, [], response.json()
    return 200, list(csv.DictReader(io.StringIO(response.text))), None


@pytest.mark.parametrize("role", READERS)
@pytest.mark.parametrize("path", ["/exports/organizations.csv", "/exports/subscriptions.csv"])
async def test_exports_leave_out_what_only_a_disabled_reseller_reached(runtime: Runtime, path: str, role: str) -> None:
    seeded = await seed(runtime)
    token = seeded.world.tokens[role]
    status, enabled_rows, _ = await export_rows(runtime, path, token)
    assert status == 200 and enabled_rows
    await set_status(runtime, seeded.world.partners["reseller"], "DISABLED")
    assert await export_rows(runtime, path, token) == (200, [], None)
    await set_status(runtime, seeded.world.partners["reseller"], "ACTIVE")
    assert (await export_rows(runtime, path, token))[1] == enabled_rows


async def test_a_disabled_developer_partner_exports_and_reads_no_solution_data(runtime: Runtime) -> None:
    """The rule holds for any disabled partner, not only resellers: here the vertical plugin's developer."""
    seeded = await seed(runtime)
    token = seeded.world.tokens["developer"]
    path = f"/exports/vertical/solutions/{seeded.vw.solution_id}/customers.csv"
    solutions = "{ solutions { totalCount } }"
    assert (await export_rows(runtime, path, token))[0] == 200
    assert (await run_query(runtime, solutions, token=token)).ok()["solutions"]["totalCount"] == 1
    await set_status(runtime, seeded.world.partners["devco"], "DISABLED")
    status, _, body = await export_rows(runtime, path, token)
    assert status == 403 and "disabled" in body["errors"][0]["message"]
    assert (await run_query(runtime, solutions, token=token)).ok()["solutions"]["totalCount"] == 0
    node = "query($id: ID!) { node(id: $id) { id } }"
    assert (await run_query(runtime, node, {"id": seeded.vw.solution_id}, token=token)).ok() == {"node": None}
    await set_status(runtime, seeded.world.partners["devco"], "ACTIVE")
    assert (await export_rows(runtime, path, token))[0] == 200


# ---------------------------------------------------------------- every declared read, at the policy
async def _grants(runtime: Runtime, seeded: Seeded, role: str) -> list[Any]:
    """Every grant the viewer holds on acme, on the reseller, and on the vertical solution and acme's instance."""
    world = seeded.world
    async with runtime.context(token=world.tokens[role]) as ctx:
        grants = list((await organization_access(ctx, [world.organizations["acme"]]))[world.organizations["acme"]].grants)
        grants += (await partner_grants(ctx, [world.partners["reseller"]]))[world.partners["reseller"]]
        grants += (await solution_grants(ctx, [seeded.vw.solution])).get(seeded.vw.solution, [])
        grants += (await instance_grants(ctx, [seeded.vw.instances["acme"]])).get(seeded.vw.instances["acme"], [])
    return grants


@pytest.mark.parametrize("role", READERS)
async def test_no_declared_action_is_allowed_through_a_disabled_reseller(runtime: Runtime, role: str) -> None:
    seeded = await seed(runtime)
    actions = runtime.actions
    enabled = await _grants(runtime, seeded, role)
    permitted = {a.name for a in actions if actions.permits(a.name, enabled)}
    assert {"organization.read", "organization.read_subscriptions", "partner.read_customers"} <= permitted
    await set_status(runtime, seeded.world.partners["reseller"], "DISABLED")
    disabled = await _grants(runtime, seeded, role)
    assert disabled and all(g.suspended for g in disabled)
    for name in permitted:  # reads and writes alike; each refusal says why
        assert not actions.permits(name, disabled), name
        assert actions.refused_as_suspended(name, disabled), name
        refusal = actions.suspended_refusal(name, reading=True)
        assert refusal.extensions == {"code": "FORBIDDEN", "action": name, "reason": "RESELLER_DISABLED"}


# ---------------------------------------------------------------- the distributor
async def test_the_distributor_still_reads_and_enables_its_disabled_reseller(runtime: Runtime) -> None:
    seeded = await seed(runtime)
    world = seeded.world
    distributor = world.tokens["distributor_admin"]
    disable = """mutation($input: ResellerInput!) { disableReseller(input: $input) { partner { status } userErrors { code } } }"""
    enable = disable.replace("disableReseller", "enableReseller")
    variables = {"input": {"partnerId": seeded.ids["reseller"]}}
    assert (await run_query(runtime, disable, variables, token=distributor)).ok()["disableReseller"] == {
        "partner": {"status": "DISABLED"}, "userErrors": []}
    reads = """query($reseller: ID!, $acme: ID!) {
      partner(id: $reseller) { status customers { totalCount } }
      organization(id: $acme) { name subscriptions { totalCount } }
      organizations { totalCount } }"""
    data = (await run_query(runtime, reads, {"reseller": seeded.ids["reseller"], "acme": seeded.ids["acme"]},
                            token=distributor)).ok()
    assert data["partner"] == {"status": "DISABLED", "customers": {"totalCount": 2}}
    assert data["organization"]["subscriptions"]["totalCount"] == 2 and data["organizations"]["totalCount"] == 2
    refused = await run_query(runtime, "{ organizations { totalCount } }", token=world.tokens["reseller_admin"])
    assert refused.ok()["organizations"]["totalCount"] == 0
    assert (await run_query(runtime, enable, variables, token=distributor)).ok()["enableReseller"] == {
        "partner": {"status": "ACTIVE"}, "userErrors": []}
    again = await run_query(runtime, "{ organizations { totalCount } }", token=world.tokens["reseller_admin"])
    assert again.ok()["organizations"]["totalCount"] == 2


async def test_a_disabled_resellers_admin_keeps_its_own_organization_membership(runtime: Runtime) -> None:
    """Only grants through the disabled partner stop: a membership of an organization is the user's own."""
    seeded = await seed(runtime)
    world = seeded.world
    async with runtime.sessions() as session, session.begin():
        session.add(models.OrganizationMember(organization_id=world.organizations["direct"],
                                              user_id=world.user_ids["reseller_admin"], role="ADMIN", created_at=utcnow()))
    await set_status(runtime, world.partners["reseller"], "DISABLED")
    data = (await run_query(runtime, "{ organizations { nodes { domain } } }",
                            token=world.tokens["reseller_admin"])).ok()
    assert [n["domain"] for n in data["organizations"]["nodes"]] == ["direct.example"]


@pytest.mark.parametrize("role", ["distributor_admin", "distributor_analyst"])
async def test_a_disabled_distributor_reads_its_own_record_but_no_longer_its_resellers(runtime: Runtime,
                                                                                       role: str) -> None:
    """Supervision is a grant through the distributor: disabled, it reaches only the distributor itself."""
    seeded = await seed(runtime)
    world = seeded.world
    reseller, distributor = seeded.ids["reseller"], world.partner_id("dist")
    query = """query($reseller: ID!, $own: ID!) {
      partner(id: $reseller) { code } node(id: $reseller) { id } own: partner(id: $own) { code status } }"""
    variables = {"reseller": reseller, "own": distributor}
    before = (await run_query(runtime, query, variables, token=world.tokens[role])).ok()
    assert before["partner"] == {"code": "RESEL1"} and before["node"] == {"id": reseller}
    await set_status(runtime, world.partners["dist"], "DISABLED")
    after = (await run_query(runtime, query, variables, token=world.tokens[role])).data
    assert after["partner"] is None and after["node"] is None
    assert after["own"] == {"code": "DIST1", "status": "DISABLED"}
