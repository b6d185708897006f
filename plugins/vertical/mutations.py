"""Mutations of solutions and their customer instances: publish, install, upgrade, developer access."""

from __future__ import annotations

import functools
from typing import Any

import strawberry
from sqlalchemy import Select, select

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.db import utcnow
from gateway.errors import DomainError, UserError
from gateway.events import DomainEvent, emit
from gateway.models import IdempotencyKey
from gateway.relay import decode_pk, encode_id
from plugins.vertical import models, runner
from plugins.vertical.access import authorize_instance, authorize_solution, ensure_developer_customer, forget_grants
from plugins.vertical.events import developer_access_event, solution_upgraded
from plugins.vertical.services import developer_access, grant_links, solutions, upgrades
from plugins.vertical.services.customers import customer_conditions
from plugins.vertical.types import (
    Solution,
    SolutionAccountStatus,
    SolutionCustomerFilter,
    SolutionInstance,
    SolutionUpgrade,
    SolutionVersion,
)
from schema.access import PLATFORM_ADMIN, audit, authorize_partner


# ---------------------------------------------------------------- inputs
@strawberry.input
class CreateSolutionInput:
    developer_partner_id: strawberry.ID
    name: str


@strawberry.input
class PublishSolutionVersionInput:
    solution_id: strawberry.ID
    version: str = strawberry.field(description="MAJOR.MINOR.PATCH, strictly above the latest version.")
    changes: str = strawberry.field(description="The release notes.")


@strawberry.input
class InstallSolutionInput:
    solution_id: strawberry.ID
    organization_id: strawberry.ID
    is_test_account: bool = False


@strawberry.input
class SetSolutionAccountStatusInput:
    instance_id: strawberry.ID
    account_status: SolutionAccountStatus


@strawberry.input
class UpgradeSolutionInstanceInput:
    instance_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description="The same key twice upgrades once.")


@strawberry.input
class UpgradeSolutionInstancesInput:
    solution_id: strawberry.ID
    instance_ids: list[strawberry.ID] | None = None
    filter: SolutionCustomerFilter | None = None
    test_accounts_first: bool = strawberry.field(
        default=True, description="Upgrade test accounts first; if one fails, no live account is touched.")


@strawberry.input
class DeveloperAccessInput:
    instance_id: strawberry.ID


# ---------------------------------------------------------------- payloads
@strawberry.type
class CreateSolutionPayload:
    solution: Solution | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PublishSolutionVersionPayload:
    version: SolutionVersion | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SolutionInstancePayload:
    instance: SolutionInstance | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpgradeSolutionInstancePayload:
    upgrade: SolutionUpgrade | None = strawberry.field(
        default=None, description="COMPLETED, or FAILED with its error (the installed version is then unchanged).")
    instance: SolutionInstance | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="An instance a bulk upgrade did not attempt, and why.")
class SkippedSolutionInstance:
    instance: SolutionInstance
    reason: str = strawberry.field(
        description="INSTANCE_INACTIVE, ALREADY_LATEST_VERSION or TEST_ACCOUNT_FAILED (a test account failed first).")


@strawberry.type
class UpgradeSolutionInstancesPayload:
    upgrades: list[SolutionUpgrade] = strawberry.field(default_factory=list,
                                                       description="Every attempt, in the order run.")
    skipped: list[SolutionInstance] = strawberry.field(default_factory=list)
    skipped_reasons: list[SkippedSolutionInstance] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _notify(ctx: Context) -> developer_access.Notify:
    return ctx.notify


def _instance_payload(row: models.SolutionInstance) -> SolutionInstancePayload:
    return SolutionInstancePayload(instance=SolutionInstance.from_row(row))


@extends(Mutation)
class SolutionMutations:
    @strawberry.mutation(description="Create a solution owned by a developer partner (its members or platform admins).")
    async def create_solution(self, info: strawberry.Info[Context, None],
                              input: CreateSolutionInput) -> CreateSolutionPayload:
        ctx: Context = info.context
        partner_pk = decode_pk(input.developer_partner_id, "Partner")

        async def body() -> CreateSolutionPayload:
            decision = await authorize_partner(ctx, "solution.create", partner_pk)
            solution = await solutions.create_solution(ctx.session, partner_pk, input.name)
            audit(ctx, decision, "solution.create", partner_id=partner_pk,
                  details={"solutionId": solution.id, "name": solution.name})
            return CreateSolutionPayload(solution=Solution.from_row(solution))

        return await run_mutation(ctx, CreateSolutionPayload, body)

    @strawberry.mutation(description="Publish a version strictly above the latest, with its release notes.")
    async def publish_solution_version(self, info: strawberry.Info[Context, None],
                                       input: PublishSolutionVersionInput) -> PublishSolutionVersionPayload:
        ctx: Context = info.context
        solution_pk = decode_pk(input.solution_id, "Solution")

        async def body() -> PublishSolutionVersionPayload:
            decision = await authorize_solution(ctx, "solution.publish_version", solution_pk)
            version = await solutions.publish_version(ctx.session, solution_pk, input.version, input.changes,
                                                      ctx.viewer.user_id)
            audit(ctx, decision, "solution.publish_version",
                  details={"solutionId": solution_pk, "version": version.version})
            return PublishSolutionVersionPayload(version=SolutionVersion.from_row(version))

        return await run_mutation(ctx, PublishSolutionVersionPayload, body)

    @strawberry.mutation(description="Install the latest version for an organization (account status ACTIVE).")
    async def install_solution(self, info: strawberry.Info[Context, None],
                               input: InstallSolutionInput) -> SolutionInstancePayload:
        ctx: Context = info.context
        solution_pk = decode_pk(input.solution_id, "Solution")
        organization_pk = decode_pk(input.organization_id, "Organization")

        async def body() -> SolutionInstancePayload:
            decision = await authorize_solution(ctx, "solution.install", solution_pk)
            if decision.grant.name != PLATFORM_ADMIN:
                await ensure_developer_customer(ctx, solution_pk, organization_pk)
            instance = await solutions.install_solution(ctx.session, solution_pk, organization_pk,
                                                        input.is_test_account)
            audit(ctx, decision, "solution.install", organization_id=organization_pk,
                  details={"solutionId": solution_pk, "instanceId": instance.id,
                           "isTestAccount": instance.is_test_account})
            return _instance_payload(instance)

        return await run_mutation(ctx, SolutionInstancePayload, body)

    @strawberry.mutation(description="Mark a customer's account inactive, or active again.")
    async def set_solution_account_status(self, info: strawberry.Info[Context, None],
                                          input: SetSolutionAccountStatusInput) -> SolutionInstancePayload:
        ctx: Context = info.context
        instance_pk = decode_pk(input.instance_id, "SolutionInstance")

        async def body() -> SolutionInstancePayload:
            decision = await authorize_instance(ctx, "solution_instance.set_account_status", instance_pk)
            instance, previous = await solutions.set_account_status(ctx.session, instance_pk,
                                                                    input.account_status.value)
            audit(ctx, decision, "solution_instance.set_account_status", organization_id=instance.organization_id,
                  details={"instanceId": instance_pk, "from": previous, "to": instance.account_status})
            return _instance_payload(instance)

        return await run_mutation(ctx, SolutionInstancePayload, body)

    @strawberry.mutation(description="Upgrade an active instance to the latest version.")
    async def upgrade_solution_instance(self, info: strawberry.Info[Context, None],
                                        input: UpgradeSolutionInstanceInput) -> UpgradeSolutionInstancePayload:
        ctx: Context = info.context
        instance_pk = decode_pk(input.instance_id, "SolutionInstance")

        async def body() -> UpgradeSolutionInstancePayload:
            decision = await authorize_instance(ctx, "solution_instance.upgrade", instance_pk)
            claim: IdempotencyKey | None = None
            if input.idempotency_key is not None:
                claimed = await ctx.claim_idempotency_key(
                    "upgradeSolutionInstance", input.idempotency_key, {"instance": instance_pk})
                if not isinstance(claimed, IdempotencyKey):
                    return await _replay_upgrade(ctx, claimed)
                claim = claimed
            upgrade = await upgrades.upgrade_instance(ctx.session, instance_pk, await runner.upgrade_runner(ctx),
                                                      ctx.viewer.user_id)
            instance = await ctx.session.get(models.SolutionInstance, instance_pk)
            assert instance is not None
            if claim is not None:
                claim.result = {"upgrade": upgrade.id}
            await _emit(ctx, solution_upgraded(upgrade, instance))
            audit(ctx, decision, "solution_instance.upgrade", organization_id=instance.organization_id,
                  details=_upgrade_details(upgrade))
            return UpgradeSolutionInstancePayload(upgrade=SolutionUpgrade.from_row(upgrade),
                                                  instance=SolutionInstance.from_row(instance))

        return await run_mutation(ctx, UpgradeSolutionInstancePayload, body)

    @strawberry.mutation(description="Upgrade many instances of a solution: test accounts first, and no live "
                                     "account is touched when a test account failed.")
    async def upgrade_solution_instances(self, info: strawberry.Info[Context, None],
                                         input: UpgradeSolutionInstancesInput) -> UpgradeSolutionInstancesPayload:
        ctx: Context = info.context
        solution_pk = decode_pk(input.solution_id, "Solution")
        customer_filter = input.filter.to_service() if input.filter else None
        ids = [decode_pk(i, "SolutionInstance") for i in input.instance_ids] if input.instance_ids is not None else None

        async def body() -> UpgradeSolutionInstancesPayload:
            decision = await authorize_solution(ctx, "solution.upgrade_instances", solution_pk)
            conditions = customer_conditions(customer_filter)
            if ids is not None:
                conditions.append(models.SolutionInstance.id.in_(ids))
            report = await upgrades.upgrade_instances(
                ctx.session, solution_pk, conditions, await runner.upgrade_runner(ctx), ctx.viewer.user_id,
                test_accounts_first=input.test_accounts_first)
            instances = {i.id: i for i in (await ctx.session.scalars(
                _instances([u.instance_id for u in report.upgrades]))).all()} if report.upgrades else {}
            for upgrade in report.upgrades:
                await _emit(ctx, solution_upgraded(upgrade, instances[upgrade.instance_id]))
                audit(ctx, decision, "solution_instance.upgrade",
                      organization_id=instances[upgrade.instance_id].organization_id,
                      details={**_upgrade_details(upgrade), "bulk": True})
            skipped = [(SolutionInstance.from_row(row), reason) for row, reason in report.skipped]
            return UpgradeSolutionInstancesPayload(
                upgrades=[SolutionUpgrade.from_row(u) for u in report.upgrades],
                skipped=[instance for instance, _ in skipped],
                skipped_reasons=[SkippedSolutionInstance(instance=i, reason=r) for i, r in skipped])

        return await run_mutation(ctx, UpgradeSolutionInstancesPayload, body)

    @strawberry.mutation(description="The developer asks the organization's super admin for access to this instance.")
    async def request_developer_access(self, info: strawberry.Info[Context, None],
                                       input: DeveloperAccessInput) -> SolutionInstancePayload:
        ctx: Context = info.context
        request = functools.partial(developer_access.request_access, link_base=ctx.settings.public_url)
        return await _access_step(ctx, input, "request_developer_access", request)

    @strawberry.mutation(description="The organization's super admin grants the developer admin access to this instance.")
    async def grant_developer_access(self, info: strawberry.Info[Context, None],
                                     input: DeveloperAccessInput) -> SolutionInstancePayload:
        return await _access_step(info.context, input, "grant_developer_access", developer_access.grant_access)

    @strawberry.mutation(description="The organization's super admin ends the developer's access (or refuses a request).")
    async def revoke_developer_access(self, info: strawberry.Info[Context, None],
                                      input: DeveloperAccessInput) -> SolutionInstancePayload:
        return await _access_step(info.context, input, "revoke_developer_access", developer_access.revoke_access)


async def _emit(ctx: Context, event: DomainEvent | None) -> None:
    if event is not None:
        await emit(ctx, event)


def _instances(ids: list[int]) -> Select[models.SolutionInstance]:
    return select(models.SolutionInstance).where(models.SolutionInstance.id.in_(ids))


def _upgrade_details(upgrade: models.SolutionUpgrade) -> dict[str, Any]:
    return {"instanceId": upgrade.instance_id, "upgradeId": upgrade.id, "fromVersionId": upgrade.from_version_id,
            "toVersionId": upgrade.to_version_id, "status": upgrade.status, "error": upgrade.error}


async def _replay_upgrade(ctx: Context, stored: dict[str, Any]) -> UpgradeSolutionInstancePayload:
    upgrade = await ctx.session.get(models.SolutionUpgrade, stored["upgrade"])
    if upgrade is None:
        raise DomainError("IDEMPOTENCY_KEY_REUSED", "This idempotencyKey was already used; use a new key.",
                          "idempotencyKey")
    instance = await ctx.session.get(models.SolutionInstance, upgrade.instance_id)
    assert instance is not None
    return UpgradeSolutionInstancePayload(upgrade=SolutionUpgrade.from_row(upgrade),
                                          instance=SolutionInstance.from_row(instance))


async def grant_by_link(ctx: Context, claim: grant_links.LinkClaim, instance_pk: int) -> SolutionInstancePayload:
    """The grant of a mail's "Grant access" link (grant_page.py): ``grantDeveloperAccess`` made as the link's
    super admin (``ctx.viewer``), the link checked again in the transaction, once the rows are locked."""

    async def grant(session: Any, instance: models.SolutionInstance, user_id: int,
                    notify: developer_access.Notify) -> models.DeveloperAccess:
        access = await developer_access.current_access(session, instance.id)
        reason = grant_links.problem(claim, access, utcnow())
        if reason is not None or user_id != claim.user_id:
            raise DomainError("GRANT_LINK_INVALID", reason or "This link belongs to another user.", "token")
        return await developer_access.grant_access(session, instance, user_id, notify)

    target = DeveloperAccessInput(instance_id=strawberry.ID(encode_id("SolutionInstance", instance_pk)))
    return await _access_step(ctx, target, "grant_developer_access", grant)


async def _access_step(ctx: Context, input: DeveloperAccessInput, step: str,
                       service_fn: developer_access.AccessStep) -> SolutionInstancePayload:
    instance_pk = decode_pk(input.instance_id, "SolutionInstance")
    action = f"solution_instance.{step}"

    async def body() -> SolutionInstancePayload:
        decision = await authorize_instance(ctx, action, instance_pk)
        instance = await solutions.load_instance_for_update(ctx.session, instance_pk)
        user_id = ctx.viewer.user_id
        assert user_id is not None, "authorize_instance refuses anonymous viewers"
        access = await service_fn(ctx.session, instance, user_id, _notify(ctx))
        await _emit(ctx, await developer_access_event(ctx.session, access, instance))
        forget_grants(ctx)
        audit(ctx, decision, action, organization_id=instance.organization_id,
              details={"instanceId": instance_pk, "status": access.status})
        return _instance_payload(instance)

    return await run_mutation(ctx, SolutionInstancePayload, body)
