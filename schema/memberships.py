"""The viewer's memberships in the core's words.

The host's :class:`gateway.auth.Viewer` keeps role maps by scope name (``{scope: {object pk: role}}``),
answered by ``gateway_viewer_memberships``; the core names its two scopes here and reads them only
through these accessors.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.auth import Viewer

PARTNER_SCOPE = "partner"
ORGANIZATION_SCOPE = "organization"


def partner_roles(viewer: Viewer) -> Mapping[int, str]:
    """``{partner pk: PartnerRole}`` of the viewer's partner memberships."""
    return viewer.roles_in(PARTNER_SCOPE)


def organization_roles(viewer: Viewer) -> Mapping[int, str]:
    """``{organization pk: OrganizationRole}`` of the viewer's organization memberships (those in force)."""
    return viewer.roles_in(ORGANIZATION_SCOPE)


def memberships(*, partners: Mapping[int, str] | None = None,
                organizations: Mapping[int, str] | None = None) -> dict[str, Mapping[int, str]]:
    """The role maps of ``gateway_viewer_memberships`` (or a test's Viewer) from the core's two scopes."""
    return {PARTNER_SCOPE: dict(partners or {}), ORGANIZATION_SCOPE: dict(organizations or {})}
