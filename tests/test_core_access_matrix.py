"""Every core mutation of organizations, partners and people, for every role: the exact outcome.

OK means the mutation succeeded with no user error; a code in UPPER_CASE is either a user error code
(in the payload) or a top-level error code (extensions.code).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.models import ApiToken
from gateway.relay import encode_id
from gateway.testing import run_query
from schema import models
from schema.testing import ROLES, World, build_world

OK = "OK"
ORG_WRITE = {"org_super_admin", "org_admin", "reseller_admin", "platform_admin"}


def _case(mutation: str, input_fn: Callable[[World], dict[str, Any]], allowed: set[str],
          special: dict[str, str] | None = None, setup: Callable[..., Any] | None = None,
          default: str = "FORBIDDEN") -> dict[str, Any]:
    return {"mutation": mutation, "input": input_fn, "allowed": allowed, "special": special or {},
            "setup": setup, "default": default}


async def _disable_reseller(runtime: Any, world: World) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Partner).where(models.Partner.id == world.partners["reseller"])
                              .values(status="DISABLED"))


CASES = {
    "createOrganization": _case("createOrganization", lambda w: {
        "partnerId": w.partner_id("reseller"), "name": "New Co", "domain": "newco.example",
        "superAdminEmail": "boss@newco.example", "address": {"country": "FR", "city": "Paris"}},
        {"reseller_admin", "platform_admin"}),
    "verifyDomain": _case("verifyDomain", lambda w: {
        "organizationId": w.org_id("unverified"), "verificationCode": "verify-unverified"},
        {"reseller_admin", "platform_admin"}),
    "updateOrganizationDetails": _case("updateOrganizationDetails", lambda w: {
        "organizationId": w.org_id("acme"), "name": "Acme Renamed"}, ORG_WRITE),
    "tagPartner": _case("tagPartner", lambda w: {"organizationId": w.org_id("acme"), "partnerCode": "OTHER1"},
                        {"org_super_admin"}),
    "revokePartnerAccess": _case("revokePartnerAccess", lambda w: {"organizationId": w.org_id("acme")},
                                 {"org_super_admin"}),
    "grantPartnerAccess": _case("grantPartnerAccess", lambda w: {
        "organizationId": w.org_id("acme"), "partnerId": w.partner_id("other")}, {"org_super_admin"}),
    "createPartner": _case("createPartner", lambda w: {"name": "Brand New", "kind": "CONSULTING", "code": "NEWP1"},
                           {"platform_admin"}),
    "createReseller": _case("createReseller", lambda w: {"parentPartnerId": w.partner_id("dist"), "name": "Sub Reseller"},
                            {"distributor_admin", "platform_admin"}),
    "updatePartnerDetails": _case("updatePartnerDetails", lambda w: {
        "partnerId": w.partner_id("reseller"), "name": "Resell Renamed"},
        {"reseller_admin", "distributor_admin", "platform_admin"}),
    "disableReseller": _case("disableReseller", lambda w: {"partnerId": w.partner_id("reseller")},
                             {"distributor_admin", "platform_admin"}),
    "enableReseller": _case("enableReseller", lambda w: {"partnerId": w.partner_id("reseller")},
                            {"distributor_admin", "platform_admin"}, setup=_disable_reseller),
    "addPartnerMember": _case("addPartnerMember", lambda w: {
        "partnerId": w.partner_id("reseller"), "email": "new@resell.example", "role": "PARTNER_ANALYST"},
        {"reseller_admin", "distributor_admin", "platform_admin"}),
    "removePartnerMember": _case("removePartnerMember", lambda w: {
        "partnerId": w.partner_id("reseller"), "userId": encode_id("User", w.user_ids["reseller_analyst"])},
        {"reseller_admin", "distributor_admin", "platform_admin"}),
    "addOrganizationMember": _case("addOrganizationMember", lambda w: {
        "organizationId": w.org_id("acme"), "email": "new@acme.example", "role": "MEMBER"}, ORG_WRITE),
    "createApiToken": _case("createApiToken", lambda w: {"name": "ci"}, set(ROLES) - {"anonymous"}),
    "revokeApiToken": _case("revokeApiToken", lambda w: {"tokenId": encode_id("ApiToken", 0)},  # patched below
                            {"org_member", "platform_admin"}, default="UNKNOWN_TOKEN"),
}


INPUT_TYPES = {"disableReseller": "ResellerInput", "enableReseller": "ResellerInput",
               "revokePartnerAccess": "OrganizationInput"}


async def _outcome(runtime: Any, world: World, mutation: str, variables: dict[str, Any], token: str | None) -> str:
    input_type = INPUT_TYPES.get(mutation, f"{mutation[0].upper()}{mutation[1:]}Input")
    document = f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ userErrors {{ code message }} }} }}"
    result = await run_query(runtime, document, {"input": variables}, token=token)
    if result.errors:
        return result.error_codes[0]
    errors = result.data[mutation]["userErrors"]
    return errors[0]["code"] if errors else OK


def _expected(case: dict[str, Any], role: str) -> str:
    if role in case["special"]:
        return case["special"][role]
    if role == "anonymous":
        return "UNAUTHENTICATED"
    return OK if role in case["allowed"] else case["default"]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mutation", list(CASES))
async def test_core_mutation_outcome_for_role(runtime: Any, mutation: str, role: str) -> None:
    world = await build_world(runtime)
    case = CASES[mutation]
    if case["setup"]:
        await case["setup"](runtime, world)
    variables = case["input"](world)
    if mutation == "revokeApiToken":
        async with runtime.sessions() as session:
            token_id = await session.scalar(select(ApiToken.id).where(ApiToken.user_id == world.user_ids["org_member"]))
        variables["tokenId"] = encode_id("ApiToken", token_id)
    outcome = await _outcome(runtime, world, mutation, variables, world.tokens[role])
    assert outcome == _expected(case, role), f"{mutation} as {role}"


async def test_disabled_reseller_is_refused_every_mutation_with_a_user_error(runtime: Any) -> None:
    world = await build_world(runtime)
    await _disable_reseller(runtime, world)
    for mutation in ("updateOrganizationDetails", "createOrganization", "addOrganizationMember", "updatePartnerDetails",
                     "addPartnerMember"):
        outcome = await _outcome(runtime, world, mutation, CASES[mutation]["input"](world), world.tokens["reseller_admin"])
        assert outcome == "RESELLER_DISABLED", mutation
