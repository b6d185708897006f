"""The My product plugin: the one module the host reads (entry point ``my_product = "my_product.plugin"``).

Adds ``Organization.myProductAccount`` (a ``MyProductAccount``, which ``node(id:)`` finds) and the
mutation ``setMyProductStorage``, the actions ``my_product.read_account`` and
``my_product.set_storage``, the ``my_product_accounts`` table (its own Alembic branch) and the
``MY_PRODUCT`` product in the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.hookspecs import hookimpl

from .actions import ACTIONS
from .catalog import CATALOG
from .demo import seed_demo
from .models import MODELS
from .mutations import MyProductMutations
from .queries import OrganizationMyProductFields
from .types import visible_my_product_accounts

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
def gateway_type_extensions() -> list[type]:
    return [OrganizationMyProductFields, MyProductMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"MyProductAccount": visible_my_product_accounts}  # node(id:) with an ID encode_id made for this type


@hookimpl
def gateway_actions() -> list[Action]:
    return ACTIONS


@hookimpl
def gateway_catalog() -> list[ProductSpec]:
    return [CATALOG]


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)
