"""The hooks the catalog part declares (added by its ``gateway_add_hookspecs``) and calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.hookspecs import hookspec

if TYPE_CHECKING:
    from schema.catalog.declaration import ProductSpec


@hookspec
def gateway_catalog() -> list[ProductSpec]:
    """Return the products this plugin sells, with their plans, add-ons and list prices, as data
    (``schema.catalog.declaration.ProductSpec``; by convention the plugin's ``catalog.py``).

    ``gateway catalog sync`` (and ``gateway db upgrade`` on an empty catalog, and ``gateway demo
    seed``) adds what is missing of every enabled plugin's declarations, idempotently; a row that
    exists is never changed by it (prices change through the platform admin's mutations, with
    history), and where it differs from the declaration the sync reports the drift. A code another
    enabled plugin declares too stops the sync, naming both plugins.
    """
