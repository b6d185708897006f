"""The host speaks no domain: no partner, organization, reseller or subscription in gateway/'s code.

Issue 12: "The host knows requests, plugins, policy machinery, storage and HTTP — no partner,
organization or reseller words." Read from the AST of every module of ``gateway/`` (its package
and sub-packages; ``static/`` holds no Python): the names it defines and uses (variables,
functions, classes, arguments, keyword arguments, attributes, imported names) and the string
constants that are codes or names (one token, no space: ``"RESELLER_DISABLED"``,
``"partner_id"``, ``"subscription.changed"``), and the identifiers inside longer strings
(``partnerMemberships`` in a GraphQL document). Docstrings, comments and the words of prose
(messages, help texts, HTML) are left out: they may give the core's words as examples.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = ROOT / "gateway"
DOMAIN = re.compile(r"partner|organi[sz]ation|reseller|subscription", re.IGNORECASE)

# The product's own name, not a domain word: the pluggy project and entry-point group
# ("partner_gateway", "partner_gateway.plugins"), the default SQLite file, the demo secret.
PRODUCT_NAME = re.compile(r"partner[ _-]gateway", re.IGNORECASE)

# Names that are GraphQL's vocabulary, not the product's: the "subscription" operation type of
# graphql-core (``OperationType.SUBSCRIPTION``, ``GraphQLSchema.subscription_type``).
ALLOWED_NAMES = {"SUBSCRIPTION", "subscription_type"}


def host_modules() -> list[Path]:
    return sorted(path for path in HOST.rglob("*.py") if "static" not in path.relative_to(HOST).parts)


def docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def words(tree: ast.AST) -> Iterator[tuple[int, str, str]]:
    """(line, kind, text) of every identifier and code-like string constant of a module."""
    skip = docstrings(tree)
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Name):
            yield line, "name", node.id
        elif isinstance(node, ast.Attribute):
            yield line, "attribute", node.attr
        elif isinstance(node, ast.arg):
            yield line, "argument", node.arg
        elif isinstance(node, ast.keyword) and node.arg is not None:
            yield line, "keyword", node.arg
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield line, "definition", node.name
        elif isinstance(node, ast.alias):
            yield line, "import", node.asname or node.name
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value.strip()
            if text and not re.search(r"\s", text):
                yield line, "string", text
            else:  # prose, HTML or a GraphQL document: its identifiers (snake_case, camelCase) only
                for token in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text):
                    if "_" in token.strip("_") or re.search(r"[a-z][A-Z]", token):
                        yield line, "string", token


def domain_words(source: str) -> list[tuple[int, str, str]]:
    found = []
    for line, kind, text in words(ast.parse(source)):
        if kind != "string" and text in ALLOWED_NAMES:
            continue
        if DOMAIN.search(PRODUCT_NAME.sub("", text)):
            found.append((line, kind, text))
    return found


def test_the_host_names_no_domain_word() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: {kind} {text!r}"
                 for path in host_modules() for line, kind, text in domain_words(path.read_text())]
    assert not offenders, "domain words in the host (move them to the core):\n" + "\n".join(offenders)


def test_the_check_sees_names_codes_and_arguments_but_not_prose() -> None:
    source = '''
"""A docstring may say partner."""
RESELLER_DISABLED = "RESELLER_DISABLED"
def audit(organization_id: int) -> None:
    """Nor is this read: organization."""
    viewer.partner_roles
    call(subscription=1, message="Your partner account is disabled")
hook = Marker("partner_gateway")
QUERY = """{ viewer { partnerMemberships { role } } }"""
'''
    found = {(kind, text) for _, kind, text in domain_words(source)}
    assert found == {("name", "RESELLER_DISABLED"), ("string", "RESELLER_DISABLED"), ("argument", "organization_id"),
                     ("attribute", "partner_roles"), ("keyword", "subscription"),
                     ("string", "partnerMemberships")}
