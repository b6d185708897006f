"""The desk_im product plugin: instant-messaging credits bought by partners, consumed by messages.

Adds ``Organization.imCredits`` and the mutations ``purchaseImCredits``, ``recordImMessages``
and ``recordAddOnUsage``; see README.md in this folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.hookspecs import hookimpl
from plugins.desk_im.actions import ACTIONS
from plugins.desk_im.catalog import CATALOG
from plugins.desk_im.demo import seed_demo
from plugins.desk_im.models import MODELS
from plugins.desk_im.mutations import DeskImMutations
from plugins.desk_im.settings import desk_im_settings
from plugins.desk_im.types import ImCreditAccount, ImCreditTransaction, OrganizationImCredits, transactions_by_pk

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.demo import DemoData
    from gateway.hookspecs import NodeResolver
    from gateway.policy import Action
    from schema.catalog.declaration import ProductSpec


@hookimpl
def gateway_models() -> list[type]:
    return MODELS


@hookimpl
def gateway_migrations_path() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def gateway_types() -> list[type]:
    return [ImCreditAccount, ImCreditTransaction]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [OrganizationImCredits, DeskImMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"ImCreditTransaction": transactions_by_pk}


@hookimpl
def gateway_actions() -> list[Action]:
    desk_im_settings()  # read once at start: a bad GATEWAY_DESK_IM_* value stops the gateway with its name
    return ACTIONS


@hookimpl
def gateway_catalog() -> list[ProductSpec]:
    return [CATALOG]


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)
