"""Service-level rules of organizations, partners and people (no GraphQL in between)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from gateway.errors import DomainError
from schema import models
from schema.common import AddressInput
from schema.organizations import service as organizations
from schema.partners import service as partners
from schema.people import service as people
from schema.testing import build_world


def test_domains_emails_and_addresses_are_cleaned_or_refused() -> None:
    assert organizations.clean_domain(" Sub.Example.COM. ") == "sub.example.com"
    for bad in ("localhost", "-bad.example", "a..example", "exa mple.com"):
        with pytest.raises(DomainError) as error:
            organizations.clean_domain(bad)
        assert error.value.code == "INVALID_DOMAIN"
    assert organizations.clean_email(" A@B.example ") == "a@b.example"
    with pytest.raises(DomainError):
        organizations.clean_email("no-at-sign")
    cleaned = organizations.clean_address(AddressInput(line1=" 1 Main St ", country="us", postal_code=""))
    assert cleaned["line1"] == "1 Main St" and cleaned["country"] == "US" and cleaned["postal_code"] is None
    with pytest.raises(DomainError) as error:
        organizations.clean_address(AddressInput(country="USA"))
    assert error.value.field == ["address", "country"]


async def test_tagging_a_new_partner_closes_the_old_mapping_and_revokes_its_delegated_access(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.context(token=world.tokens["org_super_admin"]) as ctx, ctx.transaction():
        organization = await organizations.load_organization(ctx, world.organizations["acme"])
        old, partner = await organizations.tag_partner(ctx, organization, "DEVCO1")
    assert old == world.partners["reseller"] and partner.code == "DEVCO1"
    async with runtime.sessions() as session:
        mappings = (await session.scalars(select(models.PartnerMapping).where(
            models.PartnerMapping.organization_id == world.organizations["acme"]).order_by(models.PartnerMapping.id))).all()
        assert [(m.partner_id, m.unmapped_at is None, m.mapped_by) for m in mappings] == [
            (world.partners["reseller"], False, "PARTNER"), (world.partners["devco"], True, "CUSTOMER")]
        access = await session.scalar(select(models.PartnerAccess).where(
            models.PartnerAccess.organization_id == world.organizations["acme"]))
        assert access.status == "REVOKED" and access.revoked_by_user_id == world.user_ids["org_super_admin"]
        org = await session.get(models.Organization, world.organizations["acme"])
        assert org.partner_id == world.partners["devco"] and org.customer_partner_id is None


async def test_a_disabled_partner_cannot_be_tagged_nor_create_organizations(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        reseller = await session.get(models.Partner, world.partners["reseller"])
        reseller.status = "DISABLED"
    async with runtime.context(token=world.tokens["direct_super_admin"]) as ctx:
        organization = await organizations.load_organization(ctx, world.organizations["direct"])
        with pytest.raises(DomainError) as error:
            await organizations.tag_partner(ctx, organization, "resel1")
        assert error.value.code == "PARTNER_DISABLED"
        reseller = await ctx.session.get(models.Partner, world.partners["reseller"])
        with pytest.raises(DomainError) as error:
            await organizations.create_organization(ctx, reseller, name="X", domain="x.example", address=None,
                                                    super_admin_email="a@x.example")
        assert error.value.code == "PARTNER_DISABLED"


async def test_verification_is_refused_with_the_wrong_code_and_activates_an_inactive_organization(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        organization = await organizations.load_organization(ctx, world.organizations["unverified"])
        organization.status = "INACTIVE"
        with pytest.raises(DomainError) as error:
            await organizations.verify_domain(ctx, organization, "verify-acme")
        assert error.value.code == "INVALID_VERIFICATION_CODE"
        await organizations.verify_domain(ctx, organization, " verify-unverified ")
        assert organization.domain_verified and organization.status == "ACTIVE"


async def test_reseller_status_changes_only_apply_to_resellers(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        distributor = await partners.load_partner(ctx, world.partners["dist"])
        with pytest.raises(DomainError) as error:
            partners.set_reseller_status(distributor, "DISABLED")
        assert error.value.code == "NOT_A_RESELLER"
        reseller = await partners.load_partner(ctx, world.partners["reseller"])
        partners.set_reseller_status(reseller, "DISABLED")
        with pytest.raises(DomainError) as error:
            partners.set_reseller_status(reseller, "DISABLED")
        assert error.value.code == "ALREADY_DISABLED"
        with pytest.raises(DomainError) as error:
            await partners.load_partner(ctx, 999_999)
        assert error.value.code == "UNKNOWN_PARTNER"


async def test_partner_keeps_one_admin_and_organizations_one_super_admin(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        with pytest.raises(DomainError) as error:
            await people.remove_partner_member(ctx, world.partners["reseller"], world.user_ids["reseller_admin"])
        assert error.value.code == "LAST_PARTNER_ADMIN"
        with pytest.raises(DomainError) as error:
            await people.add_organization_member(ctx, world.organizations["acme"], email="x@acme.example", name=None,
                                                 role="SUPER_ADMIN")
        assert error.value.code == "SUPER_ADMIN_EXISTS"
        with pytest.raises(DomainError) as error:
            await people.add_partner_member(ctx, world.partners["reseller"], email="y@r.example", name=None, role="OWNER")
        assert error.value.code == "INVALID_ROLE"
