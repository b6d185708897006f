"""``gateway query``: run a GraphQL document for analysts, against a running gateway or the local database.

    gateway query orgs.graphql --var status=ACTIVE --all --format csv > orgs.csv
    echo '{ viewer { user { email } } }' | gateway query - --url http://127.0.0.1:8000 --token $TOKEN

``--all`` follows the first connection of the result (the first object with ``pageInfo``
and ``nodes`` or ``edges``) by setting the ``$after`` variable to ``pageInfo.endCursor``
until ``hasNextPage`` is false, and returns every node. ``--format csv`` flattens the
nodes of that connection into dotted columns (``partner.name``); lists become JSON.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

import click
from graphql import GraphQLError, ListTypeNode, NamedTypeNode, NonNullTypeNode, OperationDefinitionNode, parse

from gateway.cli_support import settings_of
from gateway.csv_safety import write_dict_rows

Executor = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
JSON_SCALARS = {"Int", "Float", "Boolean"}


class QueryError(click.ClickException):
    """A one-line reason the query could not be run or its result used."""


# ---------------------------------------------------------------- variables
def declared_variables(document: str, operation_name: str | None = None) -> dict[str, tuple[str, bool]]:
    """``{name: (named type, is list)}`` of the operation's variable definitions."""
    try:
        parsed = parse(document)
    except GraphQLError as error:
        raise QueryError(f"the document does not parse: {error.message}") from None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        raise QueryError("the document has no operation" + (f" named {operation_name!r}" if operation_name else ""))
    found = {}
    for definition in operations[0].variable_definitions or ():
        node: Any = definition.type
        is_list = False
        while not isinstance(node, NamedTypeNode):
            is_list = is_list or isinstance(node, ListTypeNode)
            node = node.type if isinstance(node, (NonNullTypeNode, ListTypeNode)) else node
        found[definition.variable.name.value] = (node.name.value, is_list)
    return found


def parse_variables(pairs: tuple[str, ...], declared: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs to variables, typed by the document: Int/Float/Boolean, lists and input objects
    are JSON; String, ID, enums and other scalars are taken as written."""
    variables: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip().lstrip("$")
        if not sep or not name:
            raise QueryError(f"--var {pair!r}: write NAME=VALUE")
        if name not in declared:
            known = ", ".join(f"${n}" for n in declared) or "none"
            raise QueryError(f"--var {name}: the document declares no ${name} (declared: {known})")
        type_name, is_list = declared[name]
        if is_list or type_name in JSON_SCALARS or raw.lstrip().startswith(("{", "[")):
            try:
                variables[name] = json.loads(raw)
            except json.JSONDecodeError:
                if is_list:
                    variables[name] = [item.strip() for item in raw.split(",") if item.strip()]
                else:
                    raise QueryError(f"--var {name}: {raw!r} is not a valid {type_name}") from None
        else:
            variables[name] = raw
    return variables


# ---------------------------------------------------------------- executors
def remote_executor(url: str, token: str | None, operation_name: str | None) -> tuple[Executor, Callable[[], Awaitable[None]]]:
    import httpx

    if "://" not in url:
        url = "http://" + url
    if url.rstrip("/").count("/") == 2:  # http://host:port -> the GraphQL endpoint
        url = url.rstrip("/") + "/graphql"
    headers = {"Accept": "application/graphql-response+json, application/json;q=0.9"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    client = httpx.AsyncClient(timeout=120, headers=headers)

    async def execute(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await client.post(url, json={"query": query, "variables": variables,
                                                    "operationName": operation_name})
        except httpx.HTTPError as error:
            raise QueryError(f"cannot reach {url}: {error.__class__.__name__}: {error}") from None
        try:
            body = response.json()
        except ValueError:
            raise QueryError(f"{url} answered HTTP {response.status_code} without a JSON body") from None
        if not isinstance(body, dict) or ("data" not in body and "errors" not in body):
            raise QueryError(f"{url} answered HTTP {response.status_code} with no GraphQL result")
        return body

    return execute, client.aclose


def local_executor(settings: Any, token: str | None, operation_name: str | None) -> tuple[Executor, Callable[[], Awaitable[None]]]:
    from gateway.errors import GatewayError
    from gateway.runtime import Runtime

    runtime = Runtime(settings)

    async def execute(query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await runtime.execute(query, variables, token=token, operation_name=operation_name)
        except GatewayError as error:
            return {"errors": [{"message": error.message, "extensions": error.extensions}]}
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        return body

    return execute, runtime.dispose


# ---------------------------------------------------------------- connections
def find_connection(data: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The path of the first object (document order) with ``pageInfo`` and ``nodes`` or ``edges``."""
    if isinstance(data, dict):
        if "pageInfo" in data and ("nodes" in data or "edges" in data):
            return path
        for key, value in data.items():
            found = find_connection(value, (*path, key))
            if found is not None:
                return found
    return None


def at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def connection_rows(connection: dict[str, Any]) -> list[Any]:
    if "nodes" in connection:
        return list(connection["nodes"] or [])
    edges = connection.get("edges") or []
    if edges and "node" not in edges[0]:
        raise QueryError("the connection's edges select no `node`; select `nodes` or `edges { node { ... } }`")
    return [edge["node"] for edge in edges]


def first_rows(data: Any) -> list[Any]:
    """Rows for CSV when the result has no connection: the first list of objects, else the data as one row."""
    if isinstance(data, list) and (not data or isinstance(data[0], dict)):
        return data
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, (dict, list)):
                rows = first_rows(value)
                if rows:
                    return rows
        return [data]
    return []


class Progress:
    def __init__(self, enabled: bool, stream: TextIO) -> None:
        self.enabled, self.stream = enabled, stream
        self.tty = enabled and getattr(stream, "isatty", lambda: False)()

    def update(self, rows: int, total: int | None, pages: int) -> None:
        if not self.enabled:
            return
        of = f"/{total}" if isinstance(total, int) else ""
        text = f"fetched {rows}{of} rows in {pages} page(s)"
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


async def run_query(execute: Executor, query: str, variables: dict[str, Any], *, follow: bool,
                    declared: dict[str, tuple[str, bool]], progress: Progress) -> dict[str, Any]:
    """One request, or (``follow``) every page of the first connection merged into the first page's result."""
    body = await execute(query, dict(variables))
    if not follow or body.get("errors") or body.get("data") is None:
        return body
    path = find_connection(body["data"])
    if path is None:
        raise QueryError("--all found no connection (an object with pageInfo and nodes or edges) in the result")
    if "after" not in declared:
        raise QueryError("--all needs the document to declare $after: String and pass it to the connection")
    first = at(body["data"], path)
    key = "nodes" if "nodes" in first else "edges"
    collected = list(first[key] or [])
    connection, pages, seen = first, 1, set()
    progress.update(len(collected), first.get("totalCount"), pages)
    while True:
        page_info = connection.get("pageInfo") or {}
        if "hasNextPage" not in page_info or "endCursor" not in page_info:
            raise QueryError("--all needs `pageInfo { hasNextPage endCursor }` in the connection")
        cursor = page_info["endCursor"]
        if not page_info["hasNextPage"] or cursor is None:
            break
        if cursor in seen:
            raise QueryError(f"pagination does not advance (cursor {cursor!r} came back)")
        seen.add(cursor)
        page = await execute(query, {**variables, "after": cursor})
        if page.get("errors") or page.get("data") is None:
            page.setdefault("data", body["data"])
            return page
        connection = at(page["data"], path)
        collected.extend(connection[key] or [])
        pages += 1
        progress.update(len(collected), first.get("totalCount"), pages)
    progress.done()
    first[key] = collected
    first["pageInfo"] = connection["pageInfo"]
    return body


# ---------------------------------------------------------------- output
def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A row of dotted columns: nested objects flattened, lists as JSON, null as empty."""
    if isinstance(value, dict):
        row: dict[str, Any] = {}
        for key, item in value.items():
            row.update(flatten(item, f"{prefix}.{key}" if prefix else key))
        return row
    if isinstance(value, list):
        return {prefix or "value": json.dumps(value, separators=(",", ":"))}
    if value is None:
        return {prefix or "value": ""}
    if isinstance(value, bool):
        return {prefix or "value": "true" if value else "false"}
    return {prefix or "value": value}


def to_csv(data: Any) -> str:
    path = find_connection(data) if data is not None else None
    rows = connection_rows(at(data, path)) if path is not None else first_rows(data)
    flat = [flatten(row) for row in rows]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    # an object that is null in some rows gives both `partner` and `partner.code`: keep the dotted ones
    parents = {name.rsplit(".", 1)[0] for name in columns if "." in name}
    for name in [n for n in columns if n in parents]:
        del columns[name]
    out = io.StringIO()
    write_dict_rows(out, list(columns), flat)  # text cells cannot become spreadsheet formulas
    return out.getvalue()


def error_line(error: dict[str, Any]) -> str:
    code = (error.get("extensions") or {}).get("code")
    where = ".".join(str(p) for p in error.get("path") or [])
    return "error: " + str(error.get("message", "?")) + (f" [{code}]" if code else "") + (f" at {where}" if where else "")


@click.command("query")
@click.argument("source", type=click.File("r"), metavar="FILE|-")
@click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE", help="A variable (repeatable).")
@click.option("--all", "follow", is_flag=True, help="Follow the first connection's pages ($after).")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--url", envvar="GATEWAY_URL", help="A running gateway (else: in-process, local database).")
@click.option("--token", envvar="GATEWAY_TOKEN", help="Bearer token (or GATEWAY_TOKEN).")
@click.option("--operation-name", help="The operation to run when the document has several.")
@click.option("--progress/--no-progress", default=None, help="Progress on stderr (default: when it is a terminal).")
@click.pass_context
def query_command(ctx: click.Context, source: TextIO, pairs: tuple[str, ...], follow: bool, fmt: str,
                  url: str | None, token: str | None, operation_name: str | None, progress: bool | None) -> None:
    """Run a GraphQL document (a file or - for stdin) and print JSON or CSV."""
    document = source.read()
    if not document.strip():
        raise QueryError("the document is empty")
    declared = declared_variables(document, operation_name)
    variables = parse_variables(pairs, declared)
    if url:
        execute, close = remote_executor(url, token, operation_name)
    else:
        execute, close = local_executor(settings_of(ctx), token, operation_name)
    show = progress if progress is not None else (follow and sys.stderr.isatty())
    meter = Progress(bool(show), sys.stderr)

    async def go() -> dict[str, Any]:
        try:
            return await run_query(execute, document, variables, follow=follow, declared=declared, progress=meter)
        finally:
            await close()

    body = asyncio.run(go())
    data = body.get("data")
    if data is not None:
        if fmt == "csv":
            click.echo(to_csv(data), nl=False)
        else:
            click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    errors = body.get("errors") or []
    for error in errors:
        click.echo(error_line(error), err=True)
    if errors:
        ctx.exit(1)
