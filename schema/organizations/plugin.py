"""The organizations and partners parts of the core, as a plugin.

It declares the organizations hooks (``schema/organizations/hookspecs.py``) that other plugins answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.demo import DemoData
from gateway.hookspecs import hookimpl
from schema.organizations import hookspecs
from schema.organizations.demo import PEOPLE, seed_demo
from schema.organizations.mutations import OrganizationMutations
from schema.organizations.queries import OrganizationQueries, PartnerCustomerFields, ViewerMembershipFields
from schema.organizations.types import Organization, visible_organizations
from schema.partners.mutations import PartnerMutations
from schema.partners.types import Partner, visible_partners

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver


@hookimpl
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


# What GraphiQL opens with: the viewer and their memberships (fields of the identity part and this one).
GRAPHIQL_QUERY = """# Partner Gateway. The demo token of your choice goes in the Headers tab below.
{
  viewer {
    user { email name }
    isPlatformAdmin
    partnerMemberships { role partner { name code } }
    organizationMemberships { role organization { name domain } }
  }
}
"""


@hookimpl
def gateway_graphiql_query() -> str:
    return GRAPHIQL_QUERY


@hookimpl
def gateway_types() -> list[type]:
    return [Organization, Partner]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [OrganizationQueries, PartnerCustomerFields, ViewerMembershipFields, OrganizationMutations, PartnerMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"Organization": visible_organizations, "Partner": visible_partners}


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)


@hookimpl
def gateway_demo_roles() -> dict[str, str]:
    return {label: can for label, *_, can in PEOPLE}
