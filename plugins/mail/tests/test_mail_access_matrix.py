"""Every mail mutation for every kind of viewer, with the exact outcome and the audit event it leaves.

Actors are (label, token key, organization key). "mapping_only_partner" is the reseller's admin on an
organization mapped to the reseller without delegated access; "partner_admin_unverified" is the
reseller's admin on an organization whose domain is not verified; "partner_admin_after_revoke" runs
last, after acme's delegated access was revoked. The test kit's ``assert_access_matrix`` walks the
actors (its rows are these labels, each with its token) and reports every mismatch at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from gateway.testing import GraphQLResult, assert_access_matrix
from plugins.mail.actions import MAIL_ACTIONS, MANAGER_ACTIONS, RESTRICTED_ACTIONS
from plugins.mail.testing import MailWorld, add_mail_user, revoke_delegated_access
from schema.models import AuditEvent

Outcome = tuple[str, str | None]  # ("ok", None), ("top", error code) or ("user", userErrors code)
OK: Outcome = ("ok", None)
FORBIDDEN: Outcome = ("top", "FORBIDDEN")
UNAUTHENTICATED: Outcome = ("top", "UNAUTHENTICATED")
RESTRICTED: Outcome = ("user", "PARTNER_ADMIN_RESTRICTED")

ACTORS = [
    ("org_super_admin", "org_super_admin", "acme"),
    ("org_admin", "org_admin", "acme"),
    ("org_member", "org_member", "acme"),
    ("partner_admin", "reseller_admin", "acme"),
    ("mapping_only_partner", "reseller_admin", "mapped"),
    ("partner_admin_unverified", "reseller_admin", "unverified"),
    ("unverified_super_admin", "unverified_super_admin", "unverified"),
    ("partner_analyst", "reseller_analyst", "acme"),
    ("other_partner_admin", "other_partner_admin", "acme"),
    ("distributor_admin", "distributor_admin", "acme"),
    ("distributor_analyst", "distributor_analyst", "acme"),
    ("developer", "developer", "acme"),
    ("platform_admin", "platform_admin", "acme"),
    ("platform_analyst", "platform_analyst", "acme"),
    ("messaging_service", "messaging_service", "acme"),
    ("direct_super_admin", "direct_super_admin", "acme"),
    ("no_role", "no_role", "acme"),
    ("anonymous", "anonymous", "acme"),
    ("partner_admin_after_revoke", "reseller_admin", "acme"),
]
EXPECTED_VIA = {"org_super_admin": "MEMBERSHIP", "org_admin": "MEMBERSHIP", "unverified_super_admin": "MEMBERSHIP",
                "partner_admin": "PARTNER_ADMIN", "platform_admin": "PLATFORM"}

# Who may do what: everyone not listed is refused with FORBIDDEN, anonymous with UNAUTHENTICATED.
MANAGER_OUTCOMES = {"org_super_admin": OK, "org_admin": OK, "partner_admin": OK, "platform_admin": OK,
                    "unverified_super_admin": OK}
RESTRICTED_OUTCOMES = {"org_super_admin": OK, "unverified_super_admin": OK, "partner_admin": RESTRICTED}


def expected(mutation: str, actor: str) -> tuple[str, str | None]:
    if actor == "anonymous":
        return UNAUTHENTICATED
    table = MANAGER_OUTCOMES if mutation in MANAGER_MUTATIONS else RESTRICTED_OUTCOMES
    outcome = table.get(actor, FORBIDDEN)
    if mutation == "createMailAlias" and actor == "unverified_super_admin":
        return ("user", "DOMAIN_NOT_VERIFIED")
    return outcome


# mutation -> (action name, input builder(mw, org, actor label, fresh user gid), selection)
Build = Callable[[MailWorld, str, str, str], dict[str, Any]]
MUTATIONS: dict[str, tuple[str, Build, str]] = {
    "addMailUser": ("mail.add_user", lambda mw, org, who, user: {
        "email": f"{who.replace('_', '-')}-new@{org}.example", "name": "New User"}, "user { email role }"),
    "createMailAlias": ("mail.create_alias", lambda mw, org, who, user: {
        "userId": user, "alias": f"{who.replace('_', '-')}-alias@{org}.example"}, "alias { address user { email } }"),
    "createMailPolicy": ("mail.create_policy", lambda mw, org, who, user: {
        "name": f"Policy {who}", "rules": [{"match": {"from": "spam@x.example"}, "action": "BLOCK"}]},
        "policy { name rules }"),
    "changeMailSuperAdmin": ("mail.change_super_admin", lambda mw, org, who, user: {"userId": user},
                             "mail { superAdmin { email role } }"),
    "setMailOrganizationTfa": ("mail.set_tfa", lambda mw, org, who, user: {"enabled": True}, "mail { tfaEnabled }"),
    "changeMailUserRole": ("mail.change_user_role", lambda mw, org, who, user: {"userId": user, "role": "ADMIN"},
                           "user { role }"),
    "setMailUserProfileImage": ("mail.set_profile_image", lambda mw, org, who, user: {
        "userId": user, "imageUrl": "https://img.example/u.png"}, "user { profileImageUrl }"),
    "resetMailUserPassword": ("mail.reset_password", lambda mw, org, who, user: {"userId": user},
                              "user { email } resetLink"),
    "deleteMailUser": ("mail.delete_user", lambda mw, org, who, user: {"userId": user}, "deletedUserId"),
    "backupMailUserAccount": ("mail.backup_account", lambda mw, org, who, user: {"userId": user},
                              "user { lastBackupAt }"),
    "editMailDashboard": ("mail.edit_dashboard", lambda mw, org, who, user: {
        "dashboard": {"widgets": [{"type": "USERS", "row": 0, "column": 0}]}}, "mail { dashboard }"),
    "joinMailReferralProgram": ("mail.join_referral_program", lambda mw, org, who, user: {},
                                "mail { referralProgramJoined }"),
    "setMailContactsSync": ("mail.set_contacts_sync", lambda mw, org, who, user: {"enabled": True},
                            "mail { contactsSyncEnabled }"),
}
MANAGER_MUTATIONS = {"addMailUser", "createMailAlias", "createMailPolicy"}


def test_the_table_covers_every_declared_action_and_matches_the_declarations():
    declared = {action.name for action in MAIL_ACTIONS} - {"mail.read"}
    assert {action for action, _, _ in MUTATIONS.values()} == declared
    assert {MUTATIONS[m][0] for m in MANAGER_MUTATIONS} == {a.name for a in MANAGER_ACTIONS}
    for action in RESTRICTED_ACTIONS:  # the restricted list lives in the declarations, nowhere else
        assert action.restricted == {"delegated:PARTNER_ADMIN"}
        assert action.allowed == {"org:SUPER_ADMIN"}
    assert len(RESTRICTED_ACTIONS) == 10


async def _audit_events(runtime: Any) -> list[AuditEvent]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all())


def kit_outcome(outcome: Outcome) -> str:
    """The test kit's word for an outcome: "ok", or the code (top-level or user error)."""
    return "ok" if outcome == OK else str(outcome[1])


@pytest.mark.parametrize("mutation", list(MUTATIONS))
async def test_mutation_outcome_for_every_actor(runtime, mw, gql, mutation):
    action, build, selection = MUTATIONS[mutation]
    document = (f"mutation($input: {mutation[0].upper()}{mutation[1:]}Input!) "
                f"{{ {mutation}(input: $input) {{ {selection} userErrors {{ code message field }} }} }}")
    outcomes: dict[str, tuple[str, str | None]] = {}
    actors = {label: (token_key, org) for label, token_key, org in ACTORS}

    async def run(label: str, token: str | None) -> GraphQLResult:
        token_key, org = actors[label]
        if label == "partner_admin_after_revoke":
            await revoke_delegated_access(runtime, mw)
        target = await add_mail_user(runtime, mw, org, f"target-{label.replace('_', '-')}")
        user_gid = mw.user_id(org, f"target-{label.replace('_', '-')}")
        variables = {"input": {"organizationId": mw.org_id(org), **build(mw, org, label, user_gid)}}
        before = len(await _audit_events(runtime))
        result: GraphQLResult = await gql(document, variables, token=token)
        events = (await _audit_events(runtime))[before:]
        outcome: Outcome
        if result.errors:
            outcome = ("top", result.error_codes[0])
            assert result.data is None or result.data.get(mutation) is None
        elif result.data[mutation]["userErrors"]:
            outcome = ("user", result.data[mutation]["userErrors"][0]["code"])
        else:
            outcome = OK
            payload = result.data[mutation]
            assert all(value is not None for key, value in payload.items() if key != "userErrors"), (label, payload)
        outcomes[label] = outcome
        if outcome == OK:
            assert [(e.action, e.via, e.organization_id) for e in events] == [
                (action, EXPECTED_VIA[label], mw.world.organizations[org])], label
            assert events[0].actor_user_id == mw.world.user_ids[token_key]
            if label == "partner_admin":
                assert events[0].partner_id == mw.world.partners["reseller"]
        else:
            assert events == [], f"{label}: a refused mutation left an audit event"
        if outcome == RESTRICTED:
            message = result.data[mutation]["userErrors"][0]["message"]
            assert message.startswith(f"A partner admin cannot {runtime.actions[action].description}"), message
        if label == "partner_admin_after_revoke":
            assert "revoked your partner's delegated admin access" in result.errors[0]["message"]
        if label == "partner_admin_unverified":
            assert "unverified.example is not verified" in result.errors[0]["message"]
        assert target  # the fresh target user exists for every actor
        return result

    # the actors are the matrix's rows: each label acts with its token key's token, in ACTORS' order
    await assert_access_matrix({label: kit_outcome(expected(mutation, label)) for label, _, _ in ACTORS}, run,
                               tokens={label: mw.token(token_key) for label, token_key, _ in ACTORS})
    assert outcomes == {label: expected(mutation, label) for label, _, _ in ACTORS}  # top-level vs user error too


async def test_adding_an_admin_is_a_role_change(mw, client):
    document = ("mutation($input: AddMailUserInput!) { addMailUser(input: $input) { user { email role } "
                "userErrors { code message } } }")
    cases = [
        ("org_super_admin", "ADMIN", OK), ("org_super_admin", "SUPER_ADMIN", ("user", "ONE_SUPER_ADMIN")),
        ("reseller_admin", "ADMIN", RESTRICTED), ("reseller_admin", "SUPER_ADMIN", RESTRICTED),
        ("reseller_admin", "MEMBER", OK), ("org_admin", "ADMIN", FORBIDDEN), ("platform_admin", "ADMIN", FORBIDDEN),
    ]
    for n, (token_key, role, want) in enumerate(cases):
        variables = {"input": {"organizationId": mw.org_id("acme"), "email": f"u{n}@acme.example", "name": "U",
                               "role": role}}
        result = await client.query(document, variables, role=token_key)
        got: Outcome
        if result.errors:
            got = ("top", result.error_codes[0])
        elif result.data["addMailUser"]["userErrors"]:
            got = ("user", result.data["addMailUser"]["userErrors"][0]["code"])
            if got == RESTRICTED:
                assert "change a mail user's role" in result.data["addMailUser"]["userErrors"][0]["message"]
        else:
            got = OK
            assert result.data["addMailUser"]["user"] == {"email": f"u{n}@acme.example", "role": role}
        assert got == want, (token_key, role, result)
