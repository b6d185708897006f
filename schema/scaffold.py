"""``gateway plugin new NAME [--path DIR]``: a new product plugin, installable, in the house layout.

The template is ``schema/scaffold_template/``: a working plugin named ``my_product`` (real Python,
type-checked and linted with the rest of this layer; its package imports itself relatively, so
the name appears only in identifiers, strings and file names) and ``pyproject.toml.tmpl``.
Rendering replaces the name in each of its spellings (see :class:`Names`), gives the first
migration a fresh revision id that depends on the core's current head, and writes everything
into ``DIR/NAME``. plugins/README.md "Writing a plugin" walks on from there.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import keyword
import re
import sys
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import click

TEMPLATE = Path(__file__).parent / "scaffold_template"
CORE_MIGRATIONS = Path(__file__).parent / "migrations"
PLACEHOLDER = "my_product"
NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# PostgreSQL cuts names at 63 characters: fk_<name>_accounts_organization_id_organizations must fit
MAX_NAME_LENGTH = 20
SKIPPED = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
# the catalog codes the template declares (its catalog.py), as the plugin's name makes them
CATALOG_CODES = ("MY_PRODUCT", "MY_PRODUCT_STANDARD", "MY_PRODUCT_EXTRA_GB")


class ScaffoldError(Exception):
    """The plugin cannot be written as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Names:
    """The spellings of a plugin's name, and the template's words each one replaces."""

    snake: str  # backup_plus: package, entry point, tables, actions   (template: my_product)

    @property
    def pascal(self) -> str:  # BackupPlus: classes and GraphQL types          (MyProduct)
        return "".join(part[:1].upper() + part[1:] for part in self.snake.split("_"))

    @property
    def camel(self) -> str:  # backupPlus: GraphQL fields, as strawberry names them   (myProduct)
        return self.pascal[:1].lower() + self.pascal[1:]

    @property
    def upper(self) -> str:  # BACKUP_PLUS: catalog codes                     (MY_PRODUCT)
        return self.snake.upper()

    @property
    def title(self) -> str:  # Backup plus: prose and catalog names          (My product)
        return self.snake.replace("_", " ").capitalize()

    @property
    def dist(self) -> str:  # backup-plus: the distribution's name           (my-product)
        return self.snake.replace("_", "-")

    def replacements(self) -> list[tuple[str, str]]:
        return [("MY_PRODUCT", self.upper), ("MyProduct", self.pascal), ("myProduct", self.camel),
                ("my_product", self.snake), ("My product", self.title), ("my-product", self.dist)]

    def catalog_codes(self) -> list[str]:
        return [code.replace("MY_PRODUCT", self.upper) for code in CATALOG_CODES]

    def global_names(self) -> list[str]:
        """The table and GraphQL names the template makes, which no installed plugin may use already."""
        return [f"table {self.snake}_accounts", f"type {self.pascal}Account", f"type Set{self.pascal}StorageInput",
                f"type Set{self.pascal}StoragePayload", f"Mutation.set{self.pascal}Storage",
                f"Organization.{self.camel}Account"]


def check_name(name: str, installed: Iterable[str], declared: Mapping[str, str] | None = None,
               taken: Collection[str] = ()) -> Names:
    """The names of plugin ``name``, or a ScaffoldError saying what is wrong with it.

    ``declared``: the catalog codes installed plugins declare, ``{code: plugin}``; the new
    plugin's product, plan and add-on codes must not be among them. ``taken``: the table and
    GraphQL names of the installed plugins (:func:`taken_names`); the new plugin's must not be."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"plugin name {name!r}: use lowercase letters, digits and single underscores, starting "
                            "with a letter (a Python identifier such as backup or cloud_backup)")
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"plugin name {name!r} is longer than {MAX_NAME_LENGTH} characters (its table and "
                            "constraint names must fit PostgreSQL's 63)")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise ScaffoldError(f"plugin name {name!r} is a Python keyword")
    plugins = sorted(set(installed))
    if name in plugins:
        raise ScaffoldError(f"a plugin named {name!r} is installed already (installed: {', '.join(plugins)})")
    if name in sys.stdlib_module_names or importlib.util.find_spec(name) is not None:
        raise ScaffoldError(f"a module named {name!r} can be imported already; a package of that name would "
                            "shadow it or be shadowed by it: choose another name")
    names = Names(name)
    for code in names.catalog_codes():
        if declared and code in declared:
            raise ScaffoldError(f"the catalog code {code} (of plugin {name!r}) is declared by the installed plugin "
                                f"{declared[code]!r} already: choose another name")
    for used in names.global_names():
        if used in taken:
            raise ScaffoldError(f"plugin {name!r} would define {used}, which an installed plugin defines already: "
                                "choose another name")
    return names


def installed_plugins() -> list[str]:
    """The plugin names installed under the gateway's entry point group (enabled or not)."""
    from gateway.plugins import available_plugins

    return list(available_plugins())


def declared_codes() -> dict[str, str]:
    """The catalog codes (products, plans, add-ons) every installed plugin declares, ``{code: plugin}``.

    A plugin that cannot be loaded is left out (``gateway catalog sync`` would still name a clash)."""
    from gateway.plugins import create_plugin_manager
    from schema.catalog.service import declared_catalog

    try:
        declarations = declared_catalog(create_plugin_manager())
    except Exception:
        return {}
    found: dict[str, str] = {}
    for plugin, products in declarations.items():
        for product in products:
            for code in (product.code, *(plan.code for plan in product.plans), *(a.code for a in product.add_ons)):
                found.setdefault(code, plugin)
    return found


def taken_names() -> set[str]:
    """The tables (``table NAME``) and GraphQL types and fields (``type NAME``, ``Type.field``) of every
    installed plugin. Empty when they cannot be loaded (the gateway would then name the clash)."""
    from gateway.composition import build_schema
    from gateway.db import Base
    from gateway.plugins import contributions, create_plugin_manager
    from gateway.settings import load_settings

    try:
        pm = create_plugin_manager()
        schema = build_schema(type_contributions=contributions(pm, "gateway_types"),
                              extension_contributions=contributions(pm, "gateway_type_extensions"),
                              settings=load_settings())._schema
    except Exception:
        return set()
    taken = {f"table {table}" for table in Base.metadata.tables}
    for type_name, graphql_type in schema.type_map.items():
        taken.add(f"type {type_name}")
        taken.update(f"{type_name}.{field}" for field in getattr(graphql_type, "fields", {}))
    return taken


def core_head() -> str:
    """The core branch's head revision: a new plugin's first revision depends on it."""
    from alembic.script import ScriptDirectory

    from gateway.migrations import HERE

    heads = ScriptDirectory(str(HERE), version_locations=[str(CORE_MIGRATIONS)]).get_heads()
    if len(heads) != 1:
        raise ScaffoldError(f"the core's migrations have {len(heads)} heads ({', '.join(heads)}); merge them first")
    return heads[0]


def template_files() -> list[Path]:
    """The template's files, relative to it (caches left out)."""
    return sorted(path.relative_to(TEMPLATE) for path in TEMPLATE.rglob("*")
                  if path.is_file() and not SKIPPED & set(path.relative_to(TEMPLATE).parts)
                  and path.suffix != ".pyc")


def render_text(text: str, names: Names, *, revision: str, head: str, created: dt.datetime) -> str:
    for word, spelling in names.replacements():
        text = text.replace(word, spelling)
    return (text.replace("__REVISION__", revision).replace("__CORE_HEAD__", head)
            .replace("__CREATE_DATE__", created.isoformat(sep=" ")))


def render_path(relative: Path, names: Names, *, revision: str) -> Path:
    parts = [part.replace(PLACEHOLDER, names.snake) for part in relative.parts]
    if parts[-1].endswith(".tmpl"):
        parts[-1] = parts[-1].removesuffix(".tmpl")
    if len(parts) > 1 and parts[-2] == "migrations":
        parts[-1] = f"{revision}_{parts[-1]}"
    return Path(*parts)


def render(names: Names, *, revision: str, head: str, created: dt.datetime) -> dict[Path, str]:
    """``{relative path: text}`` of the plugin ``names``: what :func:`create_plugin` writes."""
    return {render_path(relative, names, revision=revision):
            render_text((TEMPLATE / relative).read_text(), names, revision=revision, head=head, created=created)
            for relative in template_files()}


def create_plugin(name: str, parent: Path, *, installed: Iterable[str] | None = None,
                  declared: Mapping[str, str] | None = None, taken: Collection[str] | None = None,
                  head: str | None = None, revision: str | None = None) -> Path:
    """Write the plugin ``name`` into ``parent/name`` (which must not exist); its folder."""
    names = check_name(name, installed_plugins() if installed is None else installed,
                       declared_codes() if declared is None else declared,
                       taken_names() if taken is None else taken)
    target = parent / name
    if target.exists() or target.is_symlink():  # a dangling symlink too
        raise ScaffoldError(f"{target} exists already: remove it or choose another --path")
    files = render(names, revision=revision or uuid.uuid4().hex[-12:], head=head or core_head(),
                   created=dt.datetime.now(dt.UTC).replace(microsecond=0))
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target


@click.group("plugin")
def plugin_group() -> None:
    """Write a new product plugin (`gateway plugins` lists the installed ones)."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--path", "parent", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The folder in which the plugin's folder NAME is created.")
def plugin_new(name: str, parent: Path) -> None:
    """Write the product plugin NAME: an installable package in the house layout, whose tests pass at once."""
    try:
        target = create_plugin(name, parent)
    except ScaffoldError as error:
        raise click.ClickException(str(error)) from None
    names = Names(name)
    click.echo(f"wrote {target} (plugin {name!r}: Organization.{names.camel}Account, "
               f"set{names.pascal}Storage, product {names.upper})\nnext (plugins/README.md, \"Writing a plugin\"):\n"
               f"  cd {target}\n"
               "  pip install --no-build-isolation -e .\n"
               "  python -m pytest\n"
               f"  GATEWAY_PLUGINS={name} gateway db upgrade   # on GATEWAY_DATABASE_URL (default ./partner_gateway.db)")
