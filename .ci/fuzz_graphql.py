#!/usr/bin/env python
"""Fuzz /graphql with schemathesis as every demo role: any server error (5xx, INTERNAL_SERVER_ERROR) fails.

The gateway runs in-process (its ASGI app over httpx, one event loop) on a fresh SQLite file with
the demo data. For every role's token (and anonymously), schemathesis generates documents for
every query and mutation field, valid ones (positive) and ones with wrong values (negative). ID
arguments are drawn mostly from a dictionary of real global IDs (every Node type x the keys that
exist), String arguments mostly from real codes, e-mails and domains, so that mutations get past
"not found" and reach business rules; some draws stay random or hostile (huge IDs, 1e400, NaN).

Prints requests and failures per role; exits 1 on any server error, printing each failing
document and the answer. Bounded: --examples per operation and mode, --time-budget in seconds.
"""

from __future__ import annotations

import argparse
import atexit
import asyncio
import base64
import collections
import dataclasses
import os
import random
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from graphql import (ArgumentNode, FieldNode, GraphQLSyntaxError, ListValueNode, NameNode, ObjectFieldNode,
                     OperationDefinitionNode, OperationType, SelectionSetNode, StringValueNode, Visitor,
                     get_introspection_query, parse, print_ast, visit)
from hypothesis import HealthCheck, Phase, given, seed as hypothesis_seed, settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.graphql import nodes
from sqlalchemy import inspect as sa_inspect, select

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from gateway.db import Base  # noqa: E402
from gateway.demo import seed_demo  # noqa: E402
from gateway.http import create_app  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.testing import create_tables  # noqa: E402

HOSTILE_IDS = [
    base64.urlsafe_b64encode(b"Organization:99999999999999999999999").decode().rstrip("="),
    base64.urlsafe_b64encode(b"Organization:-1").decode().rstrip("="),
    base64.urlsafe_b64encode(b"Organization:2147483648").decode().rstrip("="),
    base64.urlsafe_b64encode(b"NoSuchType:1").decode().rstrip("="),
    "not-an-id", "", "=====", "T3JnYW5pemF0aW9uOjE", "\u0000",
]
KEEP_OUT_TYPES = {"ApiToken"}
HOSTILE_DECIMALS = ["NaN", "Infinity", "-Infinity", "-0", "1e400", "1E-30", "123456789012345678901234",
                    "0.000001", "12.5.5", "", " 12 ", "-5"]
HOSTILE_STRINGS = ["", " ", "x" * 300, "=HYPERLINK(\"http://x\")", "4111 1111 1111 1111", "\u202e", "a\u0000b",
                   "2025-13-45", "9999-12-31T23:59:59-14:00", "2020-01-01T00:00:00", "0000-01-01"]


@dataclass
class Tally:
    requests: int = 0
    with_data: int = 0  # answered with data: the document got past validation into the resolvers
    user_errors: collections.Counter[str] = field(default_factory=collections.Counter)  # business rules reached
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (operation, document, answer)


def _candidate_ids(node_types: list[str], keys_by_table: dict[str, list[int]]) -> dict[str, list[str]]:
    """Every Node type with every key some table has; ``_existing_ids`` keeps those that name an object."""
    keys = sorted({key for values in keys_by_table.values() for key in values if key <= 60})
    return {type_name: [base64.urlsafe_b64encode(f"{type_name}:{key}".encode()).decode().rstrip("=") for key in keys]
            for type_name in node_types}


async def _existing_ids(client: httpx.AsyncClient, token: str, candidates: dict[str, list[str]]) -> dict[str, list[str]]:
    """The candidate IDs that `nodes(ids:)` resolves for the platform admin, by type."""
    found: dict[str, list[str]] = {}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    for type_name, ids in candidates.items():
        for start in range(0, len(ids), 50):
            response = await client.post("/graphql", headers=headers, json={
                "query": "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", "variables": {"ids": ids[start:start + 50]}})
            nodes = (response.json().get("data") or {}).get("nodes") or []
            found.setdefault(type_name, []).extend(node["id"] for node in nodes if node)
    # the roles' own API tokens stay out: revoking one would leave the rest of the run unauthenticated
    return {type_name: ids for type_name, ids in found.items() if ids and type_name not in KEEP_OUT_TYPES}


class IdDictionary:
    """Puts real IDs of the right type into ID arguments, guessing the type from the name (`organizationId`)."""

    ID_NAME = re.compile(r"(?i)^(.*?)ids?$")

    def __init__(self, by_type: dict[str, list[str]]) -> None:
        self.by_type = by_type
        self.every = [i for ids in by_type.values() for i in ids]

    def ids_for(self, name: str) -> list[str]:
        stem = self.ID_NAME.match(name).group(1).lower()  # type: ignore[union-attr]
        if not stem:
            return self.every
        for test in (lambda t: t.lower() == stem, lambda t: t.lower().endswith(stem), lambda t: stem in t.lower()):
            matching = [i for type_name, ids in self.by_type.items() if test(type_name) for i in ids]
            if matching:
                return matching
        return self.every

    def rewrite(self, document: str, rng: random.Random) -> str:
        """The document with most ID-named arguments and input fields set to real IDs (some left as drawn)."""
        if not self.every:
            return document
        try:
            tree = parse(document)
        except GraphQLSyntaxError:
            return document
        return print_ast(visit(tree, _IdRewriter(self, rng)))


def _asking_user_errors(document: str) -> str:
    """A mutation document that also selects its payload's userErrors, to see which business rules answered."""
    try:
        tree = parse(document)
    except GraphQLSyntaxError:
        return document
    return print_ast(visit(tree, _UserErrorsSelector()))


class _UserErrorsSelector(Visitor):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
        if node.operation != OperationType.MUTATION:
            return None
        fields = []
        for selection in node.selection_set.selections:
            if isinstance(selection, FieldNode) and selection.selection_set is not None and not any(
                    isinstance(s, FieldNode) and s.name.value == "userErrors" for s in selection.selection_set.selections):
                wanted = FieldNode(name=NameNode(value="userErrors"), selection_set=SelectionSetNode(
                    selections=(FieldNode(name=NameNode(value="code")),)))
                selection = dataclasses.replace(selection, selection_set=dataclasses.replace(
                    selection.selection_set, selections=(*selection.selection_set.selections, wanted)))
            fields.append(selection)
        return dataclasses.replace(node, selection_set=dataclasses.replace(node.selection_set, selections=tuple(fields)))


class _IdRewriter(Visitor):
    def __init__(self, dictionary: IdDictionary, rng: random.Random) -> None:
        super().__init__()
        self.dictionary, self.rng = dictionary, rng

    def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
        return self._replace(node)

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> Any:
        return self._replace(node)

    def _replace(self, node: Any) -> Any:
        if not self.dictionary.ID_NAME.match(node.name.value) or self.rng.random() >= 0.85:
            return None  # unchanged: some draws stay random or hostile
        pool = self.dictionary.ids_for(node.name.value)
        if isinstance(node.value, StringValueNode):
            return dataclasses.replace(node, value=StringValueNode(value=self.rng.choice(pool)))
        if isinstance(node.value, ListValueNode):
            values = tuple(StringValueNode(value=self.rng.choice(pool)) for _ in node.value.values or [None])
            return dataclasses.replace(node, value=ListValueNode(values=values))
        return None


async def _harvest(runtime: Runtime) -> tuple[dict[str, list[int]], list[str]]:
    """Primary keys per table and the short texts the demo data holds (codes, e-mails, domains)."""
    keys: dict[str, list[int]] = {}
    texts: set[str] = set()
    async with runtime.sessions() as session:
        for mapper in Base.registry.mappers:
            model = mapper.class_
            if model.__table__.name not in {t.name for t in Base.metadata.sorted_tables}:
                continue
            columns = {c.key: c for c in sa_inspect(model).columns}
            if "id" in columns:
                keys[model.__table__.name] = list((await session.scalars(select(columns["id"]).limit(200))).all())
            for name in ("code", "email", "domain", "currency", "country", "name", "kind"):
                if name in columns:
                    values = (await session.scalars(select(columns[name]).distinct().limit(50))).all()
                    texts.update(v for v in values if isinstance(v, str) and len(v) <= 80)
    return keys, sorted(texts)


def _register_scalars(real_ids: list[str], real_texts: list[str]) -> None:
    ids = st.one_of(st.sampled_from(real_ids), st.sampled_from(real_ids), st.sampled_from(real_ids),
                    st.sampled_from(HOSTILE_IDS), st.text(max_size=30))
    schemathesis.graphql.scalar("ID", ids.map(nodes.String))
    texts = st.one_of(st.sampled_from(real_texts), st.sampled_from(real_texts), st.text(max_size=40),
                      st.sampled_from(HOSTILE_STRINGS))
    schemathesis.graphql.scalar("String", texts.map(nodes.String))
    decimals = st.one_of(st.decimals(min_value=-10**6, max_value=10**6, places=2).map(str),
                         st.sampled_from(HOSTILE_DECIMALS))
    schemathesis.graphql.scalar("Decimal", decimals.map(nodes.String))
    schemathesis.graphql.scalar("JSON", st.one_of(
        st.text(max_size=20).map(nodes.String), st.integers(-5, 5).map(nodes.Int),
        st.just(nodes.Object([])),
    ))
    schemathesis.graphql.scalar("DateTime", st.one_of(
        st.datetimes(timezones=st.just(__import__("datetime").timezone.utc)).map(lambda d: d.isoformat()),
        st.sampled_from(HOSTILE_STRINGS[-4:]),
    ).map(nodes.String))


def _server_errors(response: httpx.Response) -> str | None:
    if response.status_code >= 500:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code} with a body that is not JSON"
    bodies = body if isinstance(body, list) else [body]
    for item in bodies:
        for error in (item or {}).get("errors") or []:
            if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR":
                return "INTERNAL_SERVER_ERROR: " + str(error.get("message"))
    return None


def _count_outcome(tally: Tally, response: httpx.Response) -> None:
    try:
        data = response.json().get("data")
    except (ValueError, AttributeError):
        return
    if not data:
        return
    tally.with_data += 1
    for payload in data.values():
        if isinstance(payload, dict):
            for error in payload.get("userErrors") or []:
                if error.get("code"):  # the generated selection may leave `code` out
                    tally.user_errors[error["code"]] += 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", "3")),
                        help="examples per operation, per mode, per role")
    parser.add_argument("--time-budget", type=float, default=float(os.environ.get("FUZZ_TIME_BUDGET", "170")))
    parser.add_argument("--roles", default="", help="comma-separated demo roles (default: all, and anonymous)")
    parser.add_argument("--operations", default="", help="comma-separated field names (default: all)")
    parser.add_argument("--show", type=int, default=15, help="failures printed in full")
    parser.add_argument("--database-url", default=os.environ.get("FUZZ_DATABASE_URL"),
                        help="an EMPTY database to seed (default: a fresh SQLite file in a temporary folder)")
    parser.add_argument("--seed", type=int, default=None,
                        help="explore with this random seed (default: the same derandomized examples every run)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    loop = asyncio.new_event_loop()
    folder = tempfile.mkdtemp(prefix="gateway-fuzz-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # also when a step raises
    database_url = args.database_url or f"sqlite+aiosqlite:///{folder}/fuzz.db"
    settings = load_settings(database_url=database_url, cost_budget_per_minute=10**12,
                             log_level="CRITICAL")
    runtime = Runtime(settings)
    loop.run_until_complete(create_tables(runtime))
    demo = loop.run_until_complete(seed_demo(runtime))
    keys, texts = loop.run_until_complete(_harvest(runtime))
    app = create_app(runtime)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://gateway.fuzz", timeout=60)

    introspection = loop.run_until_complete(runtime.schema.execute(get_introspection_query()))
    schema = schemathesis.graphql.from_dict({"data": introspection.data})
    node_types = [t["name"] for t in introspection.data["__schema"]["types"]
                  if any(i["name"] == "Node" for i in (t.get("interfaces") or []))]
    real_ids = loop.run_until_complete(
        _existing_ids(client, demo.tokens["platform_admin"], _candidate_ids(node_types, keys)))
    id_dictionary = IdDictionary(real_ids)
    _register_scalars(id_dictionary.every or ["x"], texts or ["x"])

    wanted_ops = {name for name in args.operations.split(",") if name}
    operations = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if wanted_ops and operation.definition.field_name not in wanted_ops:
            continue
        operations.append(operation)
    roles = [r for r in args.roles.split(",") if r] or [*sorted(demo.tokens), "anonymous"]

    tallies: dict[str, Tally] = collections.OrderedDict((role, Tally()) for role in roles)
    started = time.monotonic()
    skipped = 0

    for role in roles:
        token = demo.tokens.get(role)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        tally = tallies[role]
        for operation in operations:
            if time.monotonic() - started > args.time_budget:
                skipped += 1
                continue
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    strategy = operation.as_strategy(generation_mode=mode)
                except Exception:  # an operation with nothing to make invalid has no negative cases
                    continue

                @hypothesis_seed(args.seed if args.seed is not None else 0)
                @hypothesis_settings(max_examples=args.examples, deadline=None, database=None,
                                     derandomize=args.seed is None,
                                     phases=[Phase.explicit, Phase.generate],
                                     suppress_health_check=list(HealthCheck))
                @given(case=strategy, rng=st.randoms(use_true_random=False))
                def probe(case: Any, rng: random.Random) -> None:
                    document = case.body
                    if mode == GenerationMode.POSITIVE:
                        document = _asking_user_errors(id_dictionary.rewrite(case.body, rng))
                    response = loop.run_until_complete(client.post("/graphql", json={"query": document},
                                                                   headers=headers))
                    tally.requests += 1
                    _count_outcome(tally, response)
                    problem = _server_errors(response)
                    if problem is not None:
                        tally.failures.append((operation.label, document, f"{problem}\n{response.text[:600]}"))

                try:
                    probe()
                except Exception as error:  # a generation problem is reported, not fatal to the other operations
                    if "Impossible to generate negative" not in str(error) and "Unsatisfiable" not in type(error).__name__:
                        print(f"  {role} {operation.label} {mode.value}: could not generate: {error!r}"[:300])

    loop.run_until_complete(client.aclose())
    loop.run_until_complete(runtime.dispose())
    shutil.rmtree(folder, ignore_errors=True)

    total_requests = sum(t.requests for t in tallies.values())
    total_failures = sum(len(t.failures) for t in tallies.values())
    print(f"{'role':<28} {'requests':>9} {'with data':>10} {'userErrors':>11} {'server errors':>14}")
    for role, tally in tallies.items():
        print(f"{role:<28} {tally.requests:>9} {tally.with_data:>10} {sum(tally.user_errors.values()):>11} "
              f"{len(tally.failures):>14}")
    rules = sum((t.user_errors for t in tallies.values()), collections.Counter())
    print("business rules reached (userErrors codes): " + (", ".join(
        f"{code} {count}" for code, count in rules.most_common(20)) or "none"))
    total_data = sum(t.with_data for t in tallies.values())
    total_user_errors = sum(sum(t.user_errors.values()) for t in tallies.values())
    print(f"{'total':<28} {total_requests:>9} {total_data:>10} {total_user_errors:>11} {total_failures:>14}  "
          f"({len(operations)} operations, {time.monotonic() - started:.0f} s)")
    if skipped:
        print(f"time budget reached: {skipped} role x operation pairs not run")
    shown = 0
    for role, tally in tallies.items():
        for label, document, answer in tally.failures:
            if shown >= args.show:
                break
            shown += 1
            print(f"\n--- {role} {label}\n{document}\n=> {answer}")
    if total_requests == 0:
        print("no request was made", file=sys.stderr)
        return 1
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())
