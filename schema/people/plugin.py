"""The people part of the core (members and API tokens), as a plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.hookspecs import hookimpl
from schema.people.mutations import PeopleMutations
from schema.people.types import ApiToken, PartnerMemberFields, ViewerTokenFields, own_api_tokens

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver


@hookimpl
def gateway_types() -> list[type]:
    return [ApiToken]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [PeopleMutations, PartnerMemberFields, ViewerTokenFields]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"ApiToken": own_api_tokens}
