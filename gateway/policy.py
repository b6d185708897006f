"""Who may do what: declared actions, checked against the grants a viewer holds on an object.

The host does not know what a grant means. The core computes grants (strings such as
``org:SUPER_ADMIN`` or ``delegated:PARTNER_ADMIN``) for a viewer and an object; every
plugin declares its actions with the grants allowed to perform them. One registry, so
the whole access matrix can be printed and tested.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gateway.errors import DomainError, Forbidden, PluginContractError

# The user error (mutations) and ``extensions.reason`` (reads) of a refusal through a disabled partner.
RESELLER_DISABLED = "RESELLER_DISABLED"


@dataclass(frozen=True)
class Grant:
    """A reason the viewer may act on an object: ``name`` (e.g. ``org:ADMIN``) and the audit ``via``."""

    name: str
    via: str
    partner_id: int | None = None
    partner_disabled: bool = False


@dataclass(frozen=True)
class Action:
    """One thing a viewer can do.

    ``allowed``: grant names that may perform it. ``restricted``: grant names that are
    known to the object but refused by a product rule with the user error
    ``restricted_code`` (e.g. the mail plugin's partner-admin restricted list).
    ``mutates``: how a grant that comes through a disabled partner is refused: a mutation with the
    user error RESELLER_DISABLED, a read with FORBIDDEN (``extensions.reason`` RESELLER_DISABLED).
    Either way such a grant allows nothing: a disabled partner "can do nothing until enabled again".
    """

    name: str
    description: str
    allowed: frozenset[str]
    restricted: frozenset[str] = frozenset()
    restricted_code: str = "PARTNER_ADMIN_RESTRICTED"
    restricted_message: str = ""  # the user error's message; default: "A partner admin cannot <description>; ..."
    mutates: bool = True
    owner: str = field(default="", compare=False)


@dataclass(frozen=True)
class Decision:
    action: Action
    grant: Grant

    @property
    def via(self) -> str:
        return self.grant.via


class ActionRegistry:
    def __init__(self) -> None:
        self._actions: dict[str, Action] = {}

    def register(self, owner: str, actions: Iterable[Action]) -> None:
        for action in actions:
            if action.name in self._actions:
                other = self._actions[action.name].owner
                raise PluginContractError(f"action {action.name!r} is declared by both {other!r} and {owner!r}")
            self._actions[action.name] = Action(**{**action.__dict__, "owner": owner})

    def __getitem__(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            raise KeyError(f"undeclared action {name!r}: declare it in a gateway_actions hook") from None

    def __iter__(self) -> Iterator[Action]:
        return iter(sorted(self._actions.values(), key=lambda a: a.name))

    def permits(self, name: str, grants: Iterable[Grant]) -> bool:
        """Whether one of ``grants`` allows ``name`` (a grant through a disabled partner allows nothing)."""
        allowed = self[name].allowed
        return any(g.name in allowed and not g.partner_disabled for g in grants)

    def refused_for_disabled_partner(self, name: str, grants: Iterable[Grant]) -> bool:
        """Whether ``name`` is refused only because the grants that would allow it come through a disabled partner."""
        allowed = self[name].allowed
        grants = list(grants)
        return not self.permits(name, grants) and any(g.name in allowed for g in grants)

    def disabled_refusal(self, name: str, *, reading: bool = False) -> Exception:
        """The refusal of ``name`` to a viewer whose only way in is a disabled partner: a user error
        for a mutation, FORBIDDEN (``extensions.reason`` RESELLER_DISABLED) for a read or with ``reading``."""
        action = self[name]
        message = (f"Your partner account is disabled, so you cannot {action.description}; "
                   "ask your distributor to enable it.")
        if action.mutates and not reading:
            return DomainError(RESELLER_DISABLED, message)
        return Forbidden(message, action=name, reason=RESELLER_DISABLED)

    def decide(self, name: str, grants: Iterable[Grant], *, refusal: str | None = None) -> Decision:
        """The first grant (in the caller's priority order) that allows ``name``, or a refusal.

        Grants through a disabled partner are skipped; when only such grants would allow ``name``
        the refusal is :meth:`disabled_refusal`. A restricted grant raises
        ``DomainError(restricted_code)``; no grant raises ``Forbidden`` with ``refusal`` (a reason
        such as "access was revoked") when the caller has one.
        """
        action = self[name]
        grants = list(grants)
        for grant in grants:
            if grant.name in action.allowed and not grant.partner_disabled:
                return Decision(action, grant)
        if self.refused_for_disabled_partner(name, grants):
            raise self.disabled_refusal(name)
        for grant in grants:
            if grant.name in action.restricted:
                raise DomainError(
                    action.restricted_code,
                    action.restricted_message
                    or f"A partner admin cannot {action.description}; only the organization's super admin can.",
                )
        reason = f" {refusal}" if refusal else ""
        raise Forbidden(f"You are not allowed to {action.description}.{reason}".rstrip(), action=name)

    def matrix(self, grant_names: list[str]) -> list[tuple[str, list[str]]]:
        """Rows of (action, one mark per grant): "yes", "restricted" or ""."""
        rows = []
        for action in self:
            marks = []
            for grant in grant_names:
                marks.append("yes" if grant in action.allowed else "restricted" if grant in action.restricted else "")
            rows.append((action.name, marks))
        return rows
