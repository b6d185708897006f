"""The mail mutations: authorize (plugins/mail/actions.py decides who), call the service, audit, answer.

Every mutation runs in one transaction (``run_mutation``): the decision, the change and the audit
event commit together, and a DomainError (including PARTNER_ADMIN_RESTRICTED) rolls everything
back into ``userErrors``. Missing sign-in, a refused viewer or an unknown organization are
top-level errors (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import strawberry
from strawberry.scalars import JSON

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import UserError
from gateway.policy import Decision
from gateway.relay import decode_pk, encode_id
from plugins.mail import service
from plugins.mail.types import MailAlias, MailOrganization, MailPolicy, MailUser, MailUserRole
from schema.access import authorize_organization, record_audit

P = TypeVar("P")


# ---------------------------------------------------------------- inputs
@strawberry.input
class AddMailUserInput:
    organization_id: strawberry.ID
    email: str = strawberry.field(description="A full address in the organization's domain.")
    name: str
    role: MailUserRole = strawberry.field(default=MailUserRole.MEMBER,
                                          description="Anything but MEMBER is a role change (super admin only).")


@strawberry.input
class CreateMailAliasInput:
    organization_id: strawberry.ID
    user_id: strawberry.ID
    alias: str = strawberry.field(description="The full address, in the organization's verified domain.")


@strawberry.input
class CreateMailPolicyInput:
    organization_id: strawberry.ID
    name: str
    rules: JSON = strawberry.field(description='[{"match": {"from"|"to"|"subject"|"attachmentExtension": text}, '
                                               '"action": "ALLOW"|"BLOCK"|"QUARANTINE"|"TAG"}]')


@strawberry.input
class ChangeMailSuperAdminInput:
    organization_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class SetMailOrganizationTfaInput:
    organization_id: strawberry.ID
    enabled: bool


@strawberry.input
class ChangeMailUserRoleInput:
    organization_id: strawberry.ID
    user_id: strawberry.ID
    role: MailUserRole


@strawberry.input
class SetMailUserProfileImageInput:
    organization_id: strawberry.ID
    user_id: strawberry.ID
    image_url: str | None = strawberry.field(description="An https:// URL; null removes the image.")


@strawberry.input
class ResetMailUserPasswordInput:
    organization_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class DeleteMailUserInput:
    organization_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class BackupMailUserAccountInput:
    organization_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class EditMailDashboardInput:
    organization_id: strawberry.ID
    dashboard: JSON = strawberry.field(description='{"widgets": [{"type", "row", "column" (0-3), "title"?}]}')


@strawberry.input
class JoinMailReferralProgramInput:
    organization_id: strawberry.ID


@strawberry.input
class SetMailContactsSyncInput:
    organization_id: strawberry.ID
    enabled: bool


# ---------------------------------------------------------------- payloads
@strawberry.type
class MailUserPayload:
    user: MailUser | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MailAliasPayload:
    alias: MailAlias | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MailPolicyPayload:
    policy: MailPolicy | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MailOrganizationPayload:
    mail: MailOrganization | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ResetMailUserPasswordPayload:
    user: MailUser | None = None
    reset_link: str | None = strawberry.field(
        default=None, description="A one-time link (valid 24 hours), shown once to the super admin who asked.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteMailUserPayload:
    deleted_user_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# ---------------------------------------------------------------- the common path
Body = Callable[[Context, service.MailSetup, Decision], Awaitable[P]]


async def mail_mutation(info: strawberry.Info[Context, None],
                        payload_cls: type[P], action: str, organization_id: strawberry.ID,
                        body: Body[P]) -> P:
    """Authorize ``action`` on the organization, load its mail setup (locked), run ``body``; one transaction."""
    ctx: Context = info.context
    ctx.require_user()
    organization_pk = decode_pk(organization_id, "Organization")

    async def run() -> P:
        decision = await authorize_organization(ctx, action, organization_pk)
        setup = await service.load_setup(ctx.session, organization_pk)
        return await body(ctx, setup, decision)

    return await run_mutation(ctx, payload_cls, run)


def audit(ctx: Context, decision: Decision, setup: service.MailSetup, **details: object) -> None:
    record_audit(ctx, decision.action.name, via=decision.via, organization_id=setup.organization.id,
              partner_id=decision.grant.through, details=details)


def user_pk(user_id: strawberry.ID) -> int:
    return decode_pk(user_id, "MailUser")


@extends(Mutation)
class MailMutations:
    @strawberry.mutation(description="Add a mail user (a MEMBER; another role is a role change, super admin only).")
    async def add_mail_user(self, info: strawberry.Info[Context, None], input: AddMailUserInput) -> MailUserPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailUserPayload:
            if input.role is not MailUserRole.MEMBER:
                await authorize_organization(ctx, "mail.change_user_role", setup.organization.id)
            user = await service.add_user(ctx.session, setup, email=input.email, name=input.name, role=input.role.value)
            audit(ctx, decision, setup, userId=encode_id("MailUser", user.id), email=user.email, role=user.role)
            return MailUserPayload(user=MailUser.from_row(user))

        return await mail_mutation(info, MailUserPayload, "mail.add_user", input.organization_id, body)

    @strawberry.mutation(description="Create an alias (a full address in the verified domain) for a mail user.")
    async def create_mail_alias(self, info: strawberry.Info[Context, None],
                                input: CreateMailAliasInput) -> MailAliasPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailAliasPayload:
            alias = await service.create_alias(ctx.session, setup, user_pk(input.user_id), input.alias)
            audit(ctx, decision, setup, alias=alias.address, userId=encode_id("MailUser", alias.user_id))
            return MailAliasPayload(alias=MailAlias.from_row(alias))

        return await mail_mutation(info, MailAliasPayload, "mail.create_alias", input.organization_id, body)

    @strawberry.mutation(description="Create a named mail policy.")
    async def create_mail_policy(self, info: strawberry.Info[Context, None],
                                 input: CreateMailPolicyInput) -> MailPolicyPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailPolicyPayload:
            policy = await service.create_policy(ctx.session, setup, name=input.name, rules=input.rules,
                                                 created_by=ctx.viewer.user_id)
            audit(ctx, decision, setup, name=policy.name, ruleCount=len(policy.rules))
            return MailPolicyPayload(policy=MailPolicy.from_row(policy))

        return await mail_mutation(info, MailPolicyPayload, "mail.create_policy", input.organization_id, body)

    @strawberry.mutation(description="Make a user the super admin; the previous one becomes ADMIN.")
    async def change_mail_super_admin(self, info: strawberry.Info[Context, None],
                                      input: ChangeMailSuperAdminInput) -> MailOrganizationPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailOrganizationPayload:
            new, old = await service.change_super_admin(ctx.session, setup, user_pk(input.user_id))
            audit(ctx, decision, setup, superAdmin=new.email, previousSuperAdmin=old.email if old else None)
            return MailOrganizationPayload(mail=MailOrganization.from_row(setup.mail))

        return await mail_mutation(info, MailOrganizationPayload, "mail.change_super_admin", input.organization_id, body)

    @strawberry.mutation(description="Require (or stop requiring) two-factor authentication for every mail user.")
    async def set_mail_organization_tfa(self, info: strawberry.Info[Context, None],
                                        input: SetMailOrganizationTfaInput) -> MailOrganizationPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailOrganizationPayload:
            mail = await service.set_tfa(ctx.session, setup, input.enabled)
            audit(ctx, decision, setup, enabled=input.enabled)
            return MailOrganizationPayload(mail=MailOrganization.from_row(mail))

        return await mail_mutation(info, MailOrganizationPayload, "mail.set_tfa", input.organization_id, body)

    @strawberry.mutation(description="Change a user's role between ADMIN and MEMBER (the super admin cannot be demoted).")
    async def change_mail_user_role(self, info: strawberry.Info[Context, None],
                                    input: ChangeMailUserRoleInput) -> MailUserPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailUserPayload:
            user = await service.load_user(ctx.session, setup.organization.id, user_pk(input.user_id))
            previous = user.role
            user = await service.change_user_role(ctx.session, setup, user.id, input.role.value)
            audit(ctx, decision, setup, email=user.email, fromRole=previous, toRole=user.role)
            return MailUserPayload(user=MailUser.from_row(user))

        return await mail_mutation(info, MailUserPayload, "mail.change_user_role", input.organization_id, body)

    @strawberry.mutation(description="Set (https URL) or remove (null) a user's profile image.")
    async def set_mail_user_profile_image(self, info: strawberry.Info[Context, None],
                                          input: SetMailUserProfileImageInput) -> MailUserPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailUserPayload:
            user = await service.set_profile_image(ctx.session, setup, user_pk(input.user_id), input.image_url)
            audit(ctx, decision, setup, email=user.email, imageUrl=user.profile_image_url)
            return MailUserPayload(user=MailUser.from_row(user))

        return await mail_mutation(info, MailUserPayload, "mail.set_profile_image", input.organization_id, body)

    @strawberry.mutation(description="Issue a one-time password reset link for a user, shown once to you.")
    async def reset_mail_user_password(self, info: strawberry.Info[Context, None],
                                       input: ResetMailUserPasswordInput) -> ResetMailUserPasswordPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> ResetMailUserPasswordPayload:
            user, link = await service.reset_password(ctx.session, setup, user_pk(input.user_id),
                                                      requested_by=ctx.viewer.user_id)
            audit(ctx, decision, setup, email=user.email)  # never the link
            return ResetMailUserPasswordPayload(user=MailUser.from_row(user), reset_link=link)

        return await mail_mutation(info, ResetMailUserPasswordPayload, "mail.reset_password", input.organization_id, body)

    @strawberry.mutation(description="Delete a user and its aliases (not the super admin).")
    async def delete_mail_user(self, info: strawberry.Info[Context, None],
                               input: DeleteMailUserInput) -> DeleteMailUserPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> DeleteMailUserPayload:
            user, aliases = await service.delete_user(ctx.session, setup, user_pk(input.user_id))
            deleted_id = encode_id("MailUser", user.id)
            audit(ctx, decision, setup, userId=deleted_id, email=user.email, aliasesRemoved=aliases)
            return DeleteMailUserPayload(deleted_user_id=strawberry.ID(deleted_id))

        return await mail_mutation(info, DeleteMailUserPayload, "mail.delete_user", input.organization_id, body)

    @strawberry.mutation(description="Back up a user's account (mailbox, contacts, calendar, settings).")
    async def backup_mail_user_account(self, info: strawberry.Info[Context, None],
                                       input: BackupMailUserAccountInput) -> MailUserPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailUserPayload:
            user, backup = await service.backup_account(ctx.session, setup, user_pk(input.user_id),
                                                        requested_by=ctx.viewer.user_id, via=decision.via)
            audit(ctx, decision, setup, email=user.email, backupId=backup.id, scope=backup.contents["scope"])
            return MailUserPayload(user=MailUser.from_row(user))

        return await mail_mutation(info, MailUserPayload, "mail.backup_account", input.organization_id, body)

    @strawberry.mutation(description="Replace the mail dashboard layout (validated).")
    async def edit_mail_dashboard(self, info: strawberry.Info[Context, None],
                                  input: EditMailDashboardInput) -> MailOrganizationPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailOrganizationPayload:
            mail = await service.edit_dashboard(ctx.session, setup, input.dashboard)
            audit(ctx, decision, setup, widgetCount=len(mail.dashboard["widgets"]))
            return MailOrganizationPayload(mail=MailOrganization.from_row(mail))

        return await mail_mutation(info, MailOrganizationPayload, "mail.edit_dashboard", input.organization_id, body)

    @strawberry.mutation(description="Join the mail referral program (joining again changes nothing).")
    async def join_mail_referral_program(self, info: strawberry.Info[Context, None],
                                         input: JoinMailReferralProgramInput) -> MailOrganizationPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailOrganizationPayload:
            mail = await service.join_referral_program(ctx.session, setup)
            audit(ctx, decision, setup, joinedAt=mail.referral_program_joined_at.isoformat()
                  if mail.referral_program_joined_at else None)
            return MailOrganizationPayload(mail=MailOrganization.from_row(mail))

        return await mail_mutation(info, MailOrganizationPayload, "mail.join_referral_program",
                                   input.organization_id, body)

    @strawberry.mutation(description="Turn contacts sync on or off.")
    async def set_mail_contacts_sync(self, info: strawberry.Info[Context, None],
                                     input: SetMailContactsSyncInput) -> MailOrganizationPayload:
        async def body(ctx: Context, setup: service.MailSetup, decision: Decision) -> MailOrganizationPayload:
            mail = await service.set_contacts_sync(ctx.session, setup, input.enabled)
            audit(ctx, decision, setup, enabled=input.enabled)
            return MailOrganizationPayload(mail=MailOrganization.from_row(mail))

        return await mail_mutation(info, MailOrganizationPayload, "mail.set_contacts_sync", input.organization_id, body)
