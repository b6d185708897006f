"""Who may do what: declared actions, checked against the grants a viewer holds on an object.

The host does not know what a grant means. The core computes grants (strings such as
``org:SUPER_ADMIN``) for a viewer and an object; every plugin declares its actions with the
grants allowed to perform them. One registry, so the whole access matrix can be printed and
tested. The words of a refusal (a restricted grant's user error, a suspended grant's) are the
declaring part's: an :class:`Action` carries its restricted code and message, and the
:class:`SuspendedRefusal` comes from the ``gateway_suspended_refusal`` hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from gateway.errors import DomainError, Forbidden, PluginContractError


@dataclass(frozen=True)
class Grant:
    """A reason the viewer may act on an object: ``name`` (e.g. ``org:ADMIN``) and the audit ``via``.

    ``through``: the primary key of the intermediary the grant comes through, when there is one (the
    core's: the partner whose membership it is). ``suspended``: that intermediary is suspended, so the
    grant allows nothing (it is kept to say why the viewer is refused).
    """

    name: str
    via: str
    through: int | None = None
    suspended: bool = False


@dataclass(frozen=True)
class SuspendedRefusal:
    """How a viewer whose only way in is a suspended grant is refused: the user error ``code`` (mutations)
    or FORBIDDEN with ``extensions.reason`` ``code`` (reads), and the message, ``message`` formatted with
    the action's ``description``."""

    code: str
    message: str


# Without a ``gateway_suspended_refusal`` answer.
SUSPENDED = SuspendedRefusal("SUSPENDED", "Your access is suspended, so you cannot {description}.")


@dataclass(frozen=True)
class Action:
    """One thing a viewer can do.

    ``allowed``: grant names that may perform it. ``restricted``: grant names that are
    known to the object but refused by a product rule with the user error
    ``restricted_code`` and ``restricted_message`` (both required with ``restricted``; the message
    is formatted with the action's ``description``).
    ``mutates``: how a suspended grant (:class:`SuspendedRefusal`) is refused: a mutation with the
    user error, a read with FORBIDDEN (``extensions.reason``). Either way such a grant allows nothing.
    """

    name: str
    description: str
    allowed: frozenset[str]
    restricted: frozenset[str] = frozenset()
    restricted_code: str = ""
    restricted_message: str = ""
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
    def __init__(self, suspended: SuspendedRefusal | None = None) -> None:
        self._actions: dict[str, Action] = {}
        self.suspended = suspended or SUSPENDED

    def register(self, owner: str, actions: Iterable[Action]) -> None:
        for action in actions:
            if action.restricted and not (action.restricted_code and action.restricted_message):
                raise PluginContractError(f"plugin {owner!r}: action {action.name!r} has restricted grants "
                                          "but no restricted_code and restricted_message")
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
        """Whether one of ``grants`` allows ``name`` (a suspended grant allows nothing)."""
        allowed = self[name].allowed
        return any(g.name in allowed and not g.suspended for g in grants)

    def refused_as_suspended(self, name: str, grants: Iterable[Grant]) -> bool:
        """Whether ``name`` is refused only because the grants that would allow it are suspended."""
        allowed = self[name].allowed
        grants = list(grants)
        return not self.permits(name, grants) and any(g.name in allowed for g in grants)

    def suspended_refusal(self, name: str, *, reading: bool = False) -> Exception:
        """The refusal of ``name`` to a viewer whose only way in is a suspended grant: the user error
        ``suspended.code`` for a mutation, FORBIDDEN (``extensions.reason`` the code) for a read or with
        ``reading``."""
        action = self[name]
        message = self.suspended.message.format(description=action.description)
        if action.mutates and not reading:
            return DomainError(self.suspended.code, message)
        return Forbidden(message, action=name, reason=self.suspended.code)

    def decide(self, name: str, grants: Iterable[Grant], *, refusal: str | None = None) -> Decision:
        """The first grant (in the caller's priority order) that allows ``name``, or a refusal.

        Suspended grants are skipped; when only such grants would allow ``name`` the refusal is
        :meth:`suspended_refusal`. A restricted grant raises
        ``DomainError(restricted_code)``; no grant raises ``Forbidden`` with ``refusal`` (a reason
        such as "access was revoked") when the caller has one.
        """
        action = self[name]
        grants = list(grants)
        for grant in grants:
            if grant.name in action.allowed and not grant.suspended:
                return Decision(action, grant)
        if any(grant.name in action.allowed for grant in grants):  # allowed, but only through suspended grants
            raise self.suspended_refusal(name)
        for grant in grants:
            if grant.name in action.restricted:
                raise DomainError(action.restricted_code,
                                  action.restricted_message.format(description=action.description))
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
