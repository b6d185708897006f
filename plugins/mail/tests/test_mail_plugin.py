"""The plugin as a whole: switching it off, demo data, set-up on a Mail subscription."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gateway.demo import DemoData
from gateway.testing import create_tables, make_test_runtime, run_query
from plugins.mail import models
from plugins.mail import plugin as mail_plugin
from schema.subscriptions.events import SubscriptionChanged
from schema.testing import build_world


def _mail_event(world: Any, organization: str, status: str) -> SubscriptionChanged:
    """A Mail subscription event as the core emits it (the ids other than product and organization do not matter)."""
    return SubscriptionChanged(subscription_id=1, organization_id=world.organizations[organization],
                               product_id=world.products["MAIL"], plan_id=1, status=status, license_count=1,
                               change_id=1, change_kind="CHANGED")


MAIL_MUTATIONS = ["addMailUser", "createMailAlias", "createMailPolicy", "changeMailSuperAdmin", "setMailOrganizationTfa",
                  "changeMailUserRole", "setMailUserProfileImage", "resetMailUserPassword", "deleteMailUser",
                  "backupMailUserAccount", "editMailDashboard", "joinMailReferralProgram", "setMailContactsSync"]


def _fields(runtime, type_name: str) -> set[str]:
    graphql_type = runtime.schema._schema.type_map.get(type_name)
    return set(graphql_type.fields) if graphql_type is not None else set()


async def test_turning_the_plugin_off_removes_mail_and_the_rest_keeps_working(runtime, backend):
    assert "mail" in _fields(runtime, "Organization")
    assert set(MAIL_MUTATIONS) <= _fields(runtime, "Mutation")
    assert {action.name for action in runtime.actions if action.name.startswith("mail.")}

    core_only = make_test_runtime(backend, plugins=["core"])
    try:
        assert "mail" not in _fields(core_only, "Organization")
        assert not set(MAIL_MUTATIONS) & _fields(core_only, "Mutation")
        assert "MailOrganization" not in core_only.schema._schema.type_map
        assert not [action.name for action in core_only.actions if action.name.startswith("mail.")]
        await create_tables(core_only)
        world = await build_world(core_only)
        query = "{ organizations(first: 10) { nodes { domain } } }"
        domains = sorted(n["domain"] for n in (await run_query(core_only, query, token=world.tokens["platform_admin"]))
                         .ok()["organizations"]["nodes"])
        assert domains == ["acme.example", "direct.example", "unverified.example"]
        refused = await run_query(core_only, "{ organizations(first: 1) { nodes { mail { tfaEnabled } } } }",
                                  token=world.tokens["platform_admin"])
        assert refused.data is None and "Cannot query field 'mail'" in refused.errors[0]["message"]
    finally:
        await core_only.dispose()


async def _mail_counts(runtime) -> dict[str, int]:
    async with runtime.sessions() as session:
        return {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                for model in (models.MailOrganization, models.MailUser, models.MailAlias, models.MailPolicy)}


async def test_demo_seed_sets_mail_up_for_organizations_with_a_mail_subscription_once(runtime):
    world = await build_world(runtime)  # acme and direct have a Mail subscription, unverified has none
    demo = DemoData()
    for _ in range(2):
        async with runtime.sessions() as session, session.begin():
            await mail_plugin.gateway_seed_demo(session=session, demo=demo)
        counts = await _mail_counts(runtime)
        assert counts == {"mail_organizations": 2, "mail_users": 8, "mail_aliases": 6, "mail_policies": 2}
    assert sorted(demo.extra["mail_organizations"]) == sorted([world.organizations["acme"], world.organizations["direct"]])
    query = "query($id: ID!) { organization(id: $id) { mail { tfaEnabled superAdmin { email } aliases { address } } } }"
    mail = (await run_query(runtime, query, {"id": world.org_id("acme")}, token=world.tokens["org_member"])).ok()
    assert mail["organization"]["mail"] == {
        "tfaEnabled": True, "superAdmin": {"email": "boss@acme.example"},
        "aliases": [{"address": "info@acme.example"}, {"address": "sales@acme.example"},
                    {"address": "support@acme.example"}]}
    unverified = (await run_query(runtime, query, {"id": world.org_id("unverified")},
                                  token=world.tokens["unverified_super_admin"])).ok()
    assert unverified["organization"]["mail"] is None


async def test_a_mail_subscription_event_sets_mail_up(runtime):
    world = await build_world(runtime)
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        async with ctx.transaction():
            await mail_plugin.gateway_event(ctx=ctx, event=_mail_event(world, "unverified", "TRIAL"))
            await mail_plugin.gateway_event(ctx=ctx, event=_mail_event(world, "direct", "CANCELLED"))
        async with runtime.sessions() as session:
            rows = (await session.execute(select(models.MailOrganization.organization_id, models.MailUser.email)
                                          .join(models.MailUser, models.MailUser.organization_id
                                                == models.MailOrganization.organization_id))).all()
    assert [tuple(r) for r in rows] == [(world.organizations["unverified"], "boss@unverified.example")]


async def test_adding_a_mail_subscription_through_the_core_sets_mail_up(runtime):
    world = await build_world(runtime)
    add = ("mutation($input: AddSubscriptionInput!) { addSubscription(input: $input) { subscription { status } "
           "userErrors { code message } } }")
    variables = {"input": {"organizationId": world.org_id("unverified"), "planCode": "MAIL_STANDARD", "licenseCount": 3,
                           "trial": True, "idempotencyKey": "mail-trial"}}
    added = (await run_query(runtime, add, variables, token=world.tokens["reseller_admin"])).ok()["addSubscription"]
    assert added == {"subscription": {"status": "TRIAL"}, "userErrors": []}
    query = "query($id: ID!) { organization(id: $id) { mail { superAdmin { email role } } } }"
    mail = (await run_query(runtime, query, {"id": world.org_id("unverified")},
                            token=world.tokens["unverified_super_admin"])).ok()["organization"]["mail"]
    assert mail == {"superAdmin": {"email": "boss@unverified.example", "role": "SUPER_ADMIN"}}


async def test_revoking_through_the_core_mutation_refuses_every_mail_action(runtime):
    from plugins.mail.testing import build_mail_world

    mw = await build_mail_world(runtime)
    revoke = "mutation($input: OrganizationInput!) { revokePartnerAccess(input: $input) { userErrors { code } } }"
    revoked = (await run_query(runtime, revoke, {"input": {"organizationId": mw.org_id("acme")}},
                               token=mw.token("org_super_admin"))).ok()
    assert revoked["revokePartnerAccess"]["userErrors"] == []
    add = "mutation($input: CreateMailPolicyInput!) { createMailPolicy(input: $input) { policy { name } } }"
    result = await run_query(runtime, add, {"input": {"organizationId": mw.org_id("acme"), "name": "P",
                                                      "rules": [{"match": {"to": "x"}, "action": "TAG"}]}},
                             token=mw.token("reseller_admin"))
    assert result.error_codes == ["FORBIDDEN"] and "revoked" in result.errors[0]["message"]
