"""The identity part of the core, as a plugin: users, the viewer and the viewer's memberships."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.hookspecs import hookimpl
from schema.identity.types import User, visible_users
from schema.identity.viewer import ViewerQueries, viewer_memberships

if TYPE_CHECKING:
    from gateway.auth import RoleMaps
    from gateway.hookspecs import NodeResolver


async def _users(ctx: Context, pks: list[int]) -> list[object | None]:
    ctx.require_user()
    wanted: list[int | None] = list(pks)
    return list(await visible_users(ctx, wanted))


@hookimpl
def gateway_types() -> list[type]:
    return [User]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [ViewerQueries]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"User": _users}


@hookimpl
async def gateway_viewer_memberships(session: AsyncSession, user_id: int) -> RoleMaps:
    return await viewer_memberships(session, user_id)
