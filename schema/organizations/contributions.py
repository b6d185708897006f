"""What the partners and organizations parts add to the core plugin."""

from __future__ import annotations

from schema.organizations.demo import seed_demo
from schema.organizations.mutations import OrganizationMutations
from schema.partners.mutations import PartnerMutations
from schema.organizations.queries import OrganizationQueries, PartnerCustomerFields
from schema.organizations.types import Organization, visible_organizations
from schema.partners.types import Partner, visible_partners

TYPES = [Organization, Partner]
EXTENSIONS = [OrganizationQueries, PartnerCustomerFields, OrganizationMutations, PartnerMutations]
NODE_RESOLVERS = {"Organization": visible_organizations, "Partner": visible_partners}

__all__ = ["TYPES", "EXTENSIONS", "NODE_RESOLVERS", "seed_demo"]
