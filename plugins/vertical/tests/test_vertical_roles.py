"""Every vertical mutation for every role of schema.testing.ROLES, with the exact outcome.

"ok" means the payload carries its object and no user error; a code in CAPITALS is either a
top-level error code (FORBIDDEN, UNAUTHENTICATED) or, for the rest, the user error code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.relay import encode_id
from gateway.testing import run_query
from plugins.vertical.models import DeveloperAccess
from plugins.vertical.tests.conftest import VerticalWorld, add_organization
from schema.models import AuditEvent
from schema.testing import ROLES

TOP_LEVEL = {"FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND"}


async def _nothing(runtime: Any, vw: VerticalWorld) -> dict[str, Any]:
    return {}


async def _fresh_org(runtime: Any, vw: VerticalWorld) -> dict[str, Any]:
    async with runtime.sessions() as session, session.begin():
        # a customer of the developer: mapped to the developer partner (the install rule)
        return {"org": encode_id("Organization", await add_organization(session, "fresh.example",
                                                                        vw.world.partners["devco"]))}


async def _granted(runtime: Any, vw: VerticalWorld) -> dict[str, Any]:
    async with runtime.sessions() as session, session.begin():
        session.add(DeveloperAccess(instance_id=vw.instances["acme"], status="GRANTED", access_code="x"))
    return {}


Case = tuple[str, str, Callable[[VerticalWorld, dict[str, Any]], dict[str, Any]], Callable[..., Awaitable[dict[str, Any]]],
             str, dict[str, str]]

ALL_FORBIDDEN = {role: "FORBIDDEN" for role in ROLES} | {"anonymous": "UNAUTHENTICATED"}


def allowed(*roles: str) -> dict[str, str]:
    return ALL_FORBIDDEN | {role: "ok" for role in roles}


CASES: list[Case] = [
    ("createSolution", "CreateSolutionInput",
     lambda vw, extra: {"developerPartnerId": vw.world.partner_id("devco"), "name": "Shop"},
     _nothing, "solution { name }", allowed("platform_admin", "developer")),
    ("publishSolutionVersion", "PublishSolutionVersionInput",
     lambda vw, extra: {"solutionId": vw.solution_id, "version": "2.1.0", "changes": "More."},
     _nothing, "version { version }", allowed("platform_admin", "developer")),
    ("installSolution", "InstallSolutionInput",
     lambda vw, extra: {"solutionId": vw.solution_id, "organizationId": extra["org"], "isTestAccount": False},
     _fresh_org, "instance { accountStatus }", allowed("platform_admin", "developer")),
    ("setSolutionAccountStatus", "SetSolutionAccountStatusInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme"), "accountStatus": "INACTIVE"},
     _nothing, "instance { accountStatus }", allowed("platform_admin", "org_super_admin")),
    ("upgradeSolutionInstance", "UpgradeSolutionInstanceInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _nothing, "instance { installedVersion { version } }",
     allowed("platform_admin", "org_super_admin", "org_admin", "developer")),
    ("upgradeSolutionInstances", "UpgradeSolutionInstancesInput",
     lambda vw, extra: {"solutionId": vw.solution_id},
     _nothing, "upgrades { status }", allowed("platform_admin", "developer")),
    ("requestDeveloperAccess", "DeveloperAccessInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _nothing, "instance { id }", allowed("developer")),
    ("grantDeveloperAccess", "DeveloperAccessInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _nothing, "instance { id }", allowed("org_super_admin")),
    ("revokeDeveloperAccess", "DeveloperAccessInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _granted, "instance { id }", allowed("org_super_admin")),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_mutation_outcome_per_role(runtime: Any, vworld: VerticalWorld, case: Case, role: str) -> None:
    name, input_type, make_input, prepare, selection, expected = case
    extra = await prepare(runtime, vworld)
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} userErrors {{ code }} }} }}"
    async with runtime.sessions() as session:
        audits_before = await session.scalar(select(func.count()).select_from(AuditEvent))
    result = await run_query(runtime, query, {"input": make_input(vworld, extra)}, token=vworld.tokens[role])
    async with runtime.sessions() as session:
        audits_after = await session.scalar(select(func.count()).select_from(AuditEvent))
    outcome = expected[role]
    if outcome == "ok":
        payload = result.ok()[name]
        assert payload["userErrors"] == [], (role, payload)
        assert any(value for key, value in payload.items() if key != "userErrors"), (role, payload)
        assert audits_after > audits_before, "every successful mutation writes the audit log"
    elif outcome in TOP_LEVEL:
        assert result.error_codes == [outcome], (role, result)
        assert audits_after == audits_before
    else:
        assert [e["code"] for e in result.ok()[name]["userErrors"]] == [outcome], (role, result)


def test_every_declared_mutation_action_is_walked() -> None:
    from plugins.vertical.actions import ACTIONS

    mutating = {a.name for a in ACTIONS if a.mutates}
    assert len(mutating) == len(CASES)
