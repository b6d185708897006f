"""What the identity part adds to the core plugin."""

from __future__ import annotations

from typing import Any

from schema.identity.types import User, visible_users
from schema.identity.viewer import ViewerQueries


async def _users(ctx: Any, pks: list[int]) -> list[Any]:
    ctx.require_user()
    return await visible_users(ctx, pks)  # type: ignore[arg-type]


TYPES = [User]
EXTENSIONS = [ViewerQueries]
NODE_RESOLVERS = {"User": _users}
