"""One source per access rule: the SQL scope of an action and the per-object decision always agree.

``schema.access.organization_grant_rules`` states who holds which grant on which organizations once;
``visible_organizations_clause(ctx, action)`` filters SQL with it and ``allowed_organizations`` decides
per object from the same conditions selected as flags. These tests walk every role of the test world
and every declared action and compare the two, including a delegation on an unverified domain, a
revoked delegation and a disabled reseller.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from schema import models
from schema.access import allowed_organizations, visible_organizations_clause
from schema.testing import ROLES, build_world

ROOT = Path(__file__).resolve().parent.parent


async def _disagreements(runtime: Any, world: Any) -> list[str]:
    found = []
    every_org = list(world.organizations.values())
    for role in ROLES:
        token = world.tokens.get(role)
        async with runtime.context(token=token) as ctx:
            for action in ctx.actions:
                by_sql = set((await ctx.session.scalars(select(models.Organization.id).where(
                    await visible_organizations_clause(ctx, action.name)))).all())
                per_object = await allowed_organizations(ctx, action.name, every_org)
                if by_sql != per_object:
                    found.append(f"{role} {action.name}: SQL {sorted(by_sql)} per object {sorted(per_object)}")
    return found


async def test_sql_scope_and_per_object_decision_agree_for_every_role_and_action(runtime: Any) -> None:
    world = await build_world(runtime)
    assert await _disagreements(runtime, world) == []


@pytest.mark.parametrize("change", ["revoke_acme", "disable_reseller", "verify_unverified"])
async def test_they_still_agree_after_the_facts_change(runtime: Any, change: str) -> None:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        if change == "revoke_acme":
            await session.execute(update(models.PartnerAccess).where(
                models.PartnerAccess.organization_id == world.organizations["acme"]).values(status="REVOKED"))
        elif change == "disable_reseller":
            await session.execute(update(models.Partner).where(
                models.Partner.id == world.partners["reseller"]).values(status="DISABLED"))
        else:
            await session.execute(update(models.Organization).where(
                models.Organization.id == world.organizations["unverified"]).values(domain_verified=True))
    assert await _disagreements(runtime, world) == []


async def test_delegated_access_counts_on_verified_domains_only(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        members = await allowed_organizations(ctx, "organization.read_members", list(world.organizations.values()))
    # both have an ACTIVE delegation to the reseller; only the verified one is managed through it
    assert world.organizations["acme"] in members and world.organizations["unverified"] not in members


def test_the_verified_domain_rule_is_written_once() -> None:
    """``domain_verified.is_(True)`` as an access condition appears in one function: schema.access.delegation_counts."""
    places = []
    for package in ("gateway", "schema", "plugins"):
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts or "tests" in path.parts:
                continue
            for function in ast.walk(ast.parse(path.read_text())):
                if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for node in ast.walk(function):
                        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                                and node.func.attr in ("is_", "__eq__") and isinstance(node.func.value, ast.Attribute) \
                                and node.func.value.attr == "domain_verified":
                            places.append(f"{path.relative_to(ROOT)}:{function.name}")
    assert places == ["schema/access.py:delegation_counts"]
