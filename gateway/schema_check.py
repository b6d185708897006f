"""Breaking and dangerous changes between two versions of the schema, judged by the deprecation policy.

graphql-core finds the changes (``find_schema_changes``: what ``find_breaking_changes`` and
``find_dangerous_changes`` return, in one walk); this module names each by its schema coordinate
(``Organization.mail``, ``Query.products(first:)``, ``PlanStatus.RETIRED``) and decides whether a
breaking one is allowed. The policy (README, "Schema changes and deprecation"; schema/DEPRECATIONS.md):

- a field, argument, input field or enum value may be removed only when the older schema marked it
  ``@deprecated`` and the changelog records it with a removable-after date that has passed; the
  changelog refuses a removable-after date less than ``DEPRECATION_DAYS`` after the deprecation;
- a type may disappear with the last field that returned it: when every field, argument, input field
  or union that referred to it went through that deprecation (a root type: when all its fields did),
  or when the changelog records the type itself (a type cannot carry ``@deprecated``);
- every other breaking change (a type changed, a required argument added...) is refused: add a new
  field beside the old one and deprecate the old one.

Dangerous changes (an enum value or an optional argument added, a default changed) are warnings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    get_named_type,
)
from graphql.utilities import BreakingChange, DangerousChange, find_schema_changes

DEPRECATION_DAYS = 90
CHANGELOG_PATH = "schema/DEPRECATIONS.md"
CHANGELOG_HEADER = ("coordinate", "deprecated on", "reason / replacement", "removable after")

_NAME = r"[_A-Za-z][_0-9A-Za-z]*"
COORDINATE = re.compile(rf"@?{_NAME}(?:\.{_NAME})?(?:\({_NAME}:\))?")
_MEMBER = re.compile(rf"(?P<type>{_NAME})\.(?P<member>{_NAME})(?:\((?P<arg>{_NAME}):\))?")

# Breaking changes a deprecation can cover: the element went away.
REMOVALS = {"FIELD_REMOVED", "ARG_REMOVED", "VALUE_REMOVED_FROM_ENUM"}

Severity = Literal["breaking", "dangerous"]


class ChangelogError(Exception):
    """The changelog cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class ChangelogEntry:
    coordinate: str
    deprecated_on: dt.date
    reason: str
    removable_after: dt.date
    line: int


@dataclass(frozen=True)
class Changelog:
    entries: dict[str, ChangelogEntry]
    source: str = CHANGELOG_PATH

    def where(self, entry: ChangelogEntry) -> str:
        return f"{self.source} line {entry.line}"


@dataclass
class Change:
    severity: Severity
    kind: str  # graphql-core's change type, e.g. FIELD_REMOVED
    coordinate: str
    description: str
    allowed: bool = False
    verdict: str = ""  # breaking: why it is allowed, or what to do instead

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"severity": self.severity, "kind": self.kind, "coordinate": self.coordinate,
                                 "description": self.description}
        if self.severity == "breaking":
            found |= {"allowed": self.allowed, "verdict": self.verdict}
        return found


@dataclass
class Comparison:
    """The changes from one version (``old``) to the next (``new``)."""

    old: str
    new: str
    changes: list[Change] = field(default_factory=list)

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.severity == "breaking"]

    @property
    def dangerous(self) -> list[Change]:
        return [c for c in self.changes if c.severity == "dangerous"]

    @property
    def refused(self) -> list[Change]:
        return [c for c in self.breaking if not c.allowed]


# ---------------------------------------------------------------- the changelog
def parse_changelog(text: str, *, source: str = CHANGELOG_PATH) -> Changelog:
    """The rows of the changelog's table ``| coordinate | deprecated on | reason / replacement | removable after |``.

    A row that is not four cells, a coordinate that is not one, a date that is not YYYY-MM-DD, an
    empty reason, a removable-after date less than ``DEPRECATION_DAYS`` after the deprecation or a
    coordinate recorded twice is a :class:`ChangelogError` naming the line.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _cells(line) is not None
                  and tuple(c.lower() for c in _cells(line) or ()) == CHANGELOG_HEADER), None)
    if start is None:
        raise ChangelogError(f"{source}: no table with the header | {' | '.join(CHANGELOG_HEADER)} |")
    entries: dict[str, ChangelogEntry] = {}
    for number, line in enumerate(lines[start + 1:], start=start + 2):
        cells = _cells(line)
        if cells is None:
            if line.strip():
                break  # the table ends at the first line that is not a row
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the rule under the header
        entry = _entry(cells, number, source)
        if entry.coordinate in entries:
            raise ChangelogError(f"{source} line {number}: {entry.coordinate} is already recorded on line "
                                 f"{entries[entry.coordinate].line}")
        entries[entry.coordinate] = entry
    return Changelog(entries, source)


def _cells(line: str) -> list[str] | None:
    stripped = line.strip()
    if not stripped.startswith("|"):
        return None
    return [cell.strip() for cell in stripped.strip("|").split("|")]


def _entry(cells: list[str], number: int, source: str) -> ChangelogEntry:
    where = f"{source} line {number}"
    if len(cells) != 4:
        raise ChangelogError(f"{where}: expected 4 cells (| coordinate | deprecated on | reason / replacement | "
                             f"removable after |), found {len(cells)}")
    coordinate = cells[0].strip("`").strip()
    if not COORDINATE.fullmatch(coordinate):
        raise ChangelogError(f"{where}: {cells[0]!r} is not a schema coordinate (Type, Type.field, "
                             "Type.field(argument:), Enum.VALUE)")
    deprecated_on = _date(cells[1], where, "deprecated on")
    removable_after = _date(cells[3], where, "removable after")
    if not cells[2]:
        raise ChangelogError(f"{where}: the reason / replacement of {coordinate} is empty")
    earliest = deprecated_on + dt.timedelta(days=DEPRECATION_DAYS)
    if removable_after < earliest:
        raise ChangelogError(f"{where}: {coordinate} is removable after {removable_after}, less than "
                             f"{DEPRECATION_DAYS} days after its deprecation on {deprecated_on}; the earliest is "
                             f"{earliest}")
    return ChangelogEntry(coordinate, deprecated_on, cells[2], removable_after, number)


def _date(cell: str, where: str, column: str) -> dt.date:
    text = cell.strip("`").strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ChangelogError(f"{where}: {column} {cell!r} is not a date (YYYY-MM-DD)") from None


# ---------------------------------------------------------------- comparing two versions
def load_schema(sdl: str, label: str) -> GraphQLSchema:
    try:
        return build_schema(sdl)
    except Exception as error:
        raise ValueError(f"{label} is not a valid GraphQL schema: {' '.join(str(error).split())}") from None


def compare(old_sdl: str, new_sdl: str, changelog: Changelog, *, today: dt.date, old: str = "baseline",
            new: str = "the code") -> Comparison:
    """The breaking changes (first) and dangerous changes from ``old_sdl`` to ``new_sdl``, each judged."""
    old_schema, new_schema = load_schema(old_sdl, old), load_schema(new_sdl, new)
    comparison = Comparison(old, new)
    dangerous = []
    for change in find_schema_changes(old_schema, new_schema):
        if isinstance(change, BreakingChange):
            comparison.changes.append(Change("breaking", change.type.name, coordinate_of(change.type.name,
                                             change.description), change.description))
        elif isinstance(change, DangerousChange):
            dangerous.append(Change("dangerous", change.type.name, coordinate_of(change.type.name,
                                    change.description), change.description))
    _judge(comparison.changes, old_schema, changelog, today)
    comparison.changes += dangerous
    return comparison


def coordinate_of(kind: str, description: str) -> str:
    """The schema coordinate a graphql-core change description speaks of (the description if none is found)."""
    patterns = {
        "TYPE_REMOVED": rf"^(?:Standard scalar )?(?P<c>{_NAME}) was removed",
        "TYPE_CHANGED_KIND": rf"^(?P<c>{_NAME}) changed from",
        "TYPE_REMOVED_FROM_UNION": rf"was removed from union type (?P<c>{_NAME})",
        "TYPE_ADDED_TO_UNION": rf"was added to union type (?P<c>{_NAME})",
        "IMPLEMENTED_INTERFACE_REMOVED": rf"^(?P<c>{_NAME}) no longer implements",
        "IMPLEMENTED_INTERFACE_ADDED": rf"added to interfaces implemented by (?P<c>{_NAME})",
    }
    generic = [rf"(?P<c>@?{_NAME}(?:\.{_NAME})?\({_NAME}:\))", rf"(?P<c>{_NAME}\.{_NAME})", rf"(?P<c>@{_NAME})"]
    for pattern in [patterns[kind]] if kind in patterns else generic:
        found = re.search(pattern, description)
        if found:
            return found["c"]
    return description


def _element(schema: GraphQLSchema, coordinate: str) -> Any:
    """The field, argument, input field or enum value ``coordinate`` names in ``schema``, or None."""
    found = _MEMBER.fullmatch(coordinate)
    if found is None:
        return None
    named = schema.type_map.get(found["type"])
    if isinstance(named, GraphQLEnumType):
        return named.values.get(found["member"]) if found["arg"] is None else None
    if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
        member = named.fields.get(found["member"])
        if found["arg"] is None or member is None:
            return member
        return getattr(member, "args", {}).get(found["arg"])
    return None


def is_deprecated(schema: GraphQLSchema, coordinate: str) -> bool:
    return getattr(_element(schema, coordinate), "deprecation_reason", None) is not None


def _judge(breaking: list[Change], old_schema: GraphQLSchema, changelog: Changelog, today: dt.date) -> None:
    removable_on = today + dt.timedelta(days=DEPRECATION_DAYS)
    for change in breaking:
        if change.kind in REMOVALS:
            _judge_removal(change, old_schema, changelog, today, removable_on)
        elif change.kind == "TYPE_REMOVED":
            continue  # below, once the removals of the fields that returned it are judged
        elif change.kind in ("REQUIRED_ARG_ADDED", "REQUIRED_INPUT_FIELD_ADDED", "REQUIRED_DIRECTIVE_ARG_ADDED"):
            change.verdict = (f"refused: a new required input breaks every existing call; make {change.coordinate} "
                              "optional (nullable, or with a default value)")
        else:
            change.verdict = (f"refused: no deprecation covers this change; keep {change.coordinate} as it was, add "
                              "what replaces it beside it, deprecate the old one with deprecation_reason=\"...\", "
                              f"record it in {changelog.source} and remove it after its removable-after date "
                              f"({DEPRECATION_DAYS} days at least)")
    _judge_type_removals(breaking, old_schema, changelog, today)


def _judge_removal(change: Change, old_schema: GraphQLSchema, changelog: Changelog, today: dt.date,
                   removable_on: dt.date) -> None:
    coordinate = change.coordinate
    entry = changelog.entries.get(coordinate)
    if not is_deprecated(old_schema, coordinate):
        change.verdict = (f"refused: {coordinate} was removed without deprecation; put it back and deprecate it "
                          f"first with deprecation_reason=\"<what replaces it>\", record it in {changelog.source} "
                          f"(| `{coordinate}` | {today} | <reason / replacement> | {removable_on} |); it may be "
                          f"removed after {removable_on}")
    elif entry is None:
        change.verdict = (f"refused: {coordinate} is deprecated but not recorded in {changelog.source}; add "
                          f"| `{coordinate}` | <the day it was deprecated> | <reason / replacement> | <that day + "
                          f"{DEPRECATION_DAYS} days> | and remove it after that date")
    elif today <= entry.removable_after:
        change.verdict = (f"refused: {coordinate} may be removed after {entry.removable_after} "
                          f"({changelog.where(entry)}); keep it, deprecated, until then")
    else:
        change.allowed = True
        change.verdict = (f"allowed: deprecated since {entry.deprecated_on}, removable after "
                          f"{entry.removable_after} ({changelog.where(entry)})")


def references(schema: GraphQLSchema) -> dict[str, list[str]]:
    """``{type name: [coordinates that refer to it]}``: fields, arguments, input fields, union memberships."""
    found: dict[str, list[str]] = {}

    def add(type_: Any, coordinate: str) -> None:
        found.setdefault(get_named_type(type_).name, []).append(coordinate)

    for name, named in schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, member in named.fields.items():
                add(member.type, f"{name}.{field_name}")
                for arg_name, arg in member.args.items():
                    add(arg.type, f"{name}.{field_name}({arg_name}:)")
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, member in named.fields.items():
                add(member.type, f"{name}.{field_name}")
        elif isinstance(named, GraphQLUnionType):
            for member_type in named.types:
                add(member_type, name)
    for directive in schema.directives:
        for arg_name, arg in directive.args.items():
            add(arg.type, f"@{directive.name}({arg_name}:)")
    return found


def _judge_type_removals(breaking: list[Change], old_schema: GraphQLSchema, changelog: Changelog,
                         today: dt.date) -> None:
    """A removed type is allowed when every way into it went through deprecation (a fixpoint: types in types)."""
    removals = [c for c in breaking if c.kind == "TYPE_REMOVED"]
    roots = {t.name for t in (old_schema.query_type, old_schema.mutation_type, old_schema.subscription_type) if t}
    referring = references(old_schema)
    gone = {c.coordinate for c in breaking if c.allowed}
    gone_types: set[str] = set()

    def is_gone(coordinate: str) -> bool:
        if coordinate in gone or coordinate in gone_types:
            return True
        found = _MEMBER.fullmatch(coordinate)
        return found is not None and (found["type"] in gone_types or f"{found['type']}.{found['member']}" in gone)

    def ways_in(name: str) -> list[str]:
        if name in roots:  # a root type is entered directly: each of its fields must have gone through deprecation
            named = old_schema.type_map[name]
            return [f"{name}.{f}" for f in getattr(named, "fields", {})
                    if not (is_deprecated(old_schema, f"{name}.{f}") and _past(changelog, f"{name}.{f}", today))]
        return referring.get(name, [])

    changed = True
    while changed:
        changed = False
        for change in removals:
            name = change.coordinate
            if name in gone_types:
                continue
            entry = changelog.entries.get(name)
            remaining = [c for c in ways_in(name) if not is_gone(c)]
            recorded = entry is not None and today > entry.removable_after
            if recorded or (not remaining and (ways_in(name) or name in roots)):
                gone_types.add(name)
                changed = True
                change.allowed = True
                change.verdict = (f"allowed: recorded in {changelog.where(entry)}" if recorded and entry
                                  else "allowed: it went with every field that returned it, each deprecated and "
                                       "past its removable-after date")
    for change in removals:
        if change.allowed:
            continue
        remaining = [c for c in ways_in(change.coordinate) if not is_gone(c)]
        if remaining:
            change.verdict = (f"refused: type {change.coordinate} may go only with every field that returned it, "
                              f"each deprecated and past its removable-after date; not so: {', '.join(remaining)}")
        else:
            change.verdict = (f"refused: nothing in the older schema returned {change.coordinate}, so no deprecation "
                              f"covers it; record it in {changelog.source} and remove it after its removable-after "
                              "date")


def _past(changelog: Changelog, coordinate: str, today: dt.date) -> bool:
    entry = changelog.entries.get(coordinate)
    return entry is not None and today > entry.removable_after


# ---------------------------------------------------------------- the changelog against the code
def changelog_notes(schema_sdl: str, changelog: Changelog) -> Iterator[str]:
    """Warnings: deprecated elements the changelog does not record, recorded ones the schema does not deprecate."""
    schema = load_schema(schema_sdl, "the code")
    for coordinate in deprecated_coordinates(schema):
        if coordinate not in changelog.entries:
            yield (f"{coordinate} is deprecated but not recorded in {changelog.source}: record it now (the day it "
                   f"was deprecated, {DEPRECATION_DAYS} days later), or it cannot be removed")
    for entry in changelog.entries.values():
        element = _element(schema, entry.coordinate)
        if element is not None and getattr(element, "deprecation_reason", None) is None:
            yield (f"{entry.coordinate} is recorded in {changelog.where(entry)} but not deprecated in the schema: "
                   "add deprecation_reason=\"...\" or remove the row")


def deprecated_coordinates(schema: GraphQLSchema) -> list[str]:
    found = []
    for name, named in schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(named, GraphQLEnumType):
            found += [f"{name}.{v}" for v, value in named.values.items() if value.deprecation_reason is not None]
        elif isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for field_name, member in named.fields.items():
                if getattr(member, "deprecation_reason", None) is not None:
                    found.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(member, "args", {}).items():
                    if arg.deprecation_reason is not None:
                        found.append(f"{name}.{field_name}({arg_name}:)")
    return found
