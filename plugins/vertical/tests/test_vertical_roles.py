"""Every vertical mutation for every role of schema.testing.ROLES, with the exact outcome.

"ok" means the payload carries its object and no user error; a code in CAPITALS is either a
top-level error code (FORBIDDEN, UNAUTHENTICATED) or, for the rest, the user error code.
The test kit's ``assert_access_matrix`` walks the roles on one world and reports every mismatch at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from gateway.relay import encode_id
from gateway.testing import GraphQLResult, RoleClient
from plugins.vertical.models import DeveloperAccess, SolutionInstance
from plugins.vertical.tests.conftest import VerticalWorld, add_organization
from schema.models import AuditEvent
from schema.testing import ROLES

TOP_LEVEL = {"FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND"}


async def _nothing(runtime: Any, vw: VerticalWorld, n: int) -> dict[str, Any]:
    return {"n": n}


async def _fresh_org(runtime: Any, vw: VerticalWorld, n: int) -> dict[str, Any]:
    async with runtime.sessions() as session, session.begin():
        # a customer of the developer: mapped to the developer partner (the install rule)
        return {"n": n, "org": encode_id("Organization", await add_organization(session, f"fresh{n}.example",
                                                                                vw.world.partners["devco"]))}


async def _installed_as_built(runtime: Any, vw: VerticalWorld, n: int) -> dict[str, Any]:
    """The instances as the world built them: active, on their first versions (an earlier role may have changed them)."""
    async with runtime.sessions() as session, session.begin():
        for key, version in (("acme", "1.0.0"), ("direct", "1.1.0"), ("unverified", "1.0.0")):
            await session.execute(update(SolutionInstance).where(SolutionInstance.id == vw.instances[key]).values(
                installed_version_id=vw.versions[version], account_status="ACTIVE"))
    return {"n": n}


async def _no_access(runtime: Any, vw: VerticalWorld, n: int) -> dict[str, Any]:
    async with runtime.sessions() as session, session.begin():
        await session.execute(delete(DeveloperAccess).where(DeveloperAccess.instance_id == vw.instances["acme"]))
    return {"n": n}


async def _granted(runtime: Any, vw: VerticalWorld, n: int) -> dict[str, Any]:
    await _no_access(runtime, vw, n)
    async with runtime.sessions() as session, session.begin():
        session.add(DeveloperAccess(instance_id=vw.instances["acme"], status="GRANTED", access_code="x"))
    return {"n": n}


Case = tuple[str, str, Callable[[VerticalWorld, dict[str, Any]], dict[str, Any]], Callable[..., Awaitable[dict[str, Any]]],
             str, dict[str, str]]

ALL_FORBIDDEN = {role: "FORBIDDEN" for role in ROLES} | {"anonymous": "UNAUTHENTICATED"}


def allowed(*roles: str) -> dict[str, str]:
    return ALL_FORBIDDEN | {role: "ok" for role in roles}


# Each role's call is prepared on the one world of the test (``prepare(runtime, vworld, n)``, n the role's
# position): names and versions of its own, the instances and grants as the world built them.
CASES: list[Case] = [
    ("createSolution", "CreateSolutionInput",
     lambda vw, extra: {"developerPartnerId": vw.world.partner_id("devco"), "name": f"Shop {extra['n']}"},
     _nothing, "solution { name }", allowed("platform_admin", "developer")),
    ("publishSolutionVersion", "PublishSolutionVersionInput",
     lambda vw, extra: {"solutionId": vw.solution_id, "version": f"2.1.{extra['n']}", "changes": "More."},
     _nothing, "version { version }", allowed("platform_admin", "developer")),
    ("installSolution", "InstallSolutionInput",
     lambda vw, extra: {"solutionId": vw.solution_id, "organizationId": extra["org"], "isTestAccount": False},
     _fresh_org, "instance { accountStatus }", allowed("platform_admin", "developer")),
    ("setSolutionAccountStatus", "SetSolutionAccountStatusInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme"), "accountStatus": "INACTIVE"},
     _installed_as_built, "instance { accountStatus }", allowed("platform_admin", "org_super_admin")),
    ("upgradeSolutionInstance", "UpgradeSolutionInstanceInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _installed_as_built, "instance { installedVersion { version } }",
     allowed("platform_admin", "org_super_admin", "org_admin", "developer")),
    ("upgradeSolutionInstances", "UpgradeSolutionInstancesInput",
     lambda vw, extra: {"solutionId": vw.solution_id},
     _installed_as_built, "upgrades { status }", allowed("platform_admin", "developer")),
    ("requestDeveloperAccess", "DeveloperAccessInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _no_access, "instance { id }", allowed("developer")),
    ("grantDeveloperAccess", "DeveloperAccessInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _no_access, "instance { id }", allowed("org_super_admin")),
    ("revokeDeveloperAccess", "DeveloperAccessInput",
     lambda vw, extra: {"instanceId": vw.instance_id("acme")},
     _granted, "instance { id }", allowed("org_super_admin")),
]


async def _audits(runtime: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
async def test_mutation_outcome_per_role(runtime: Any, vworld: VerticalWorld, client: RoleClient,
                                         assert_access_matrix: Any, case: Case) -> None:
    name, input_type, make_input, prepare, selection, expected = case
    query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} userErrors {{ code }} }} }}"
    audits: dict[str, tuple[int, int]] = {}

    async def run(role: str, token: str | None) -> GraphQLResult:
        extra = await prepare(runtime, vworld, ROLES.index(role))
        before = await _audits(runtime)
        result = await client.query(query, {"input": make_input(vworld, extra)}, role=role)
        audits[role] = (before, await _audits(runtime))
        if result.errors:
            assert len(result.error_codes) == 1, result
            assert result.error_codes[0] not in TOP_LEVEL or audits[role][1] == audits[role][0], (
                "a refused mutation writes no audit event")
        elif result.data[name]["userErrors"]:
            assert len(result.data[name]["userErrors"]) == 1, result
        return result

    def did_its_work(role: str, result: GraphQLResult) -> None:
        payload = result.ok()[name]
        assert payload["userErrors"] == [], (role, payload)
        assert any(value for key, value in payload.items() if key != "userErrors"), (role, payload)
        assert audits[role][1] > audits[role][0], "every successful mutation writes the audit log"

    await assert_access_matrix(expected, run, ok=did_its_work)


def test_every_declared_mutation_action_is_walked() -> None:
    from plugins.vertical.actions import ACTIONS

    mutating = {a.name for a in ACTIONS if a.mutates}
    assert len(mutating) == len(CASES)
