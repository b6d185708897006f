"""The large-deals part of the core, as a plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.hookspecs import hookimpl
from schema.deals.mutations import DealMutations
from schema.deals.types import LargeDeal, PartnerDealFields, visible_large_deals

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver


@hookimpl
def gateway_types() -> list[type]:
    return [LargeDeal]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [PartnerDealFields, DealMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"LargeDeal": visible_large_deals}
