"""``gateway schema check``: the breaking and dangerous changes of the code's schema, judged by the policy.

Baselines: the committed SDL file (default), ``--against FILE`` or ``--against REF`` (the SDL file at a
git ref), or ``--since REF``: every committed version of the SDL file from REF to HEAD (first parent),
pair by pair, then the working file and the code, so a removal committed together with a regenerated
SDL file is still seen. The logic is in :mod:`gateway.schema_check`.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click

from gateway.cli_support import make_runtime, run, settings_of
from gateway.schema_check import (
    CHANGELOG_PATH,
    Changelog,
    ChangelogError,
    Comparison,
    changelog_notes,
    compare,
    parse_changelog,
)

SDL_PATH = "schema/schema.graphql"
CODE = "the code"


class GitError(Exception):
    """git is missing, this is no repository, or a git command failed; the message says which."""


@dataclass(frozen=True)
class Version:
    label: str
    sdl: str


def code_sdl(ctx: click.Context) -> str:
    runtime = make_runtime(settings_of(ctx))
    try:
        return runtime.schema.as_str().rstrip("\n") + "\n"
    finally:
        run(runtime.dispose())


def git(folder: Path, *args: str) -> str:
    """The output of ``git args`` run in ``folder``; GitError on any failure."""
    try:
        done = subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {' '.join(args)} took more than 60 seconds") from None
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {' '.join(done.stderr.split()) or f'exit {done.returncode}'}")
    return done.stdout


def sdl_at(ref: str, schema_file: Path) -> str:
    """The SDL file as committed at ``ref`` (``git show REF:./schema.graphql`` in its folder)."""
    return git(schema_file.parent, "show", f"{ref}:./{schema_file.name}")


def resolve_ref(ref: str, folder: Path) -> str:
    try:
        return git(folder, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except GitError:
        raise GitError(f"{ref!r} is not a commit of the repository at {folder.absolute()}") from None


def history_unavailable(folder: Path) -> str | None:
    """Why the history cannot be walked here (no git, no repository, a shallow clone), or None."""
    try:
        git(folder, "rev-parse", "--git-dir")
    except GitError as error:
        return f"no git history here ({error})"
    if git(folder, "rev-parse", "--is-shallow-repository").strip() == "true":
        return "this is a shallow clone: its history is cut (fetch it whole, e.g. `git fetch --unshallow`)"
    return None


def committed_versions(since: str, schema_file: Path) -> list[Version]:
    """The SDL file at ``since``, then at every later first-parent commit that changed it, oldest first."""
    folder = schema_file.parent
    start = resolve_ref(since, folder)
    commits = git(folder, "log", "--first-parent", "--reverse", "--format=%H %s", f"{start}..HEAD", "--",
                  schema_file.name).splitlines()
    versions = [Version(f"{schema_file.name} at {start[:10]} (the baseline)", sdl_at(start, schema_file))]
    for line in commits:
        commit, _, subject = line.partition(" ")
        try:
            sdl = sdl_at(commit, schema_file)
        except GitError:  # the file was deleted in that commit: the next version is compared with the last one
            continue
        versions.append(Version(f"{schema_file.name} at {commit[:10]} ({subject[:60]})", sdl))
    return versions


def comparisons(versions: list[Version], changelog: Changelog, today: dt.date) -> list[Comparison]:
    """Each consecutive pair that differs, judged; a refused break that a later version undid (it is not a
    break from the older version to the last one) is noted, not counted."""
    found = []
    final = versions[-1]
    for old, new in zip(versions, versions[1:], strict=False):
        if old.sdl == new.sdl:
            continue
        comparison = compare(old.sdl, new.sdl, changelog, today=today, old=old.label, new=new.label)
        if comparison.refused and new is not final:
            still = {(c.kind, c.coordinate) for c in compare(old.sdl, final.sdl, changelog, today=today).breaking}
            for change in comparison.refused:
                if (change.kind, change.coordinate) not in still:
                    change.allowed = True
                    change.verdict = f"undone later: {final.label} has it as it was ({change.verdict})"
        found.append(comparison)
    return found


@click.command("check")
@click.option("--against", metavar="REF|FILE",
              help="Compare the code with this SDL file, or with the SDL file at this git ref "
                   "(default: the committed SDL file).")
@click.option("--since", metavar="REF",
              help="Check every committed version of the SDL file from REF to HEAD, pair by pair, then the code "
                   "(CI: REF is the commit that added the changelog).")
@click.option("--schema-file", default=SDL_PATH, show_default=True, type=click.Path(dir_okay=False),
              help="The committed SDL file.")
@click.option("--changelog", "changelog_path", default=CHANGELOG_PATH, show_default=True,
              type=click.Path(dir_okay=False), help="The deprecation changelog.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout (for tools).")
@click.pass_context
def schema_check_command(ctx: click.Context, against: str | None, since: str | None, schema_file: str,
                         changelog_path: str, as_json: bool) -> None:
    """List breaking and dangerous changes between a baseline SDL and the code; exit 1 on a refused breaking change.

    A field, argument, input field or enum value may be removed only after a deprecation recorded in the
    changelog whose removable-after date has passed (README: "Schema changes and deprecation").
    """
    if against and since:
        raise click.UsageError("--against and --since exclude each other")
    sdl_file = Path(schema_file)
    changelog = read_changelog(Path(changelog_path))
    today = dt.date.today()
    notes: list[str] = []
    try:
        versions = baseline_versions(sdl_file, against, since, notes)
    except GitError as error:
        raise click.ClickException(str(error)) from None
    versions.append(Version(CODE, code_sdl(ctx)))
    try:
        found = comparisons(versions, changelog, today)
        notes += changelog_notes(versions[-1].sdl, changelog)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    refused = [c for comparison in found for c in comparison.refused]
    if as_json:
        click.echo(json.dumps({
            "ok": not refused,
            "versions": [v.label for v in versions],
            "comparisons": [{"from": c.old, "to": c.new, "breaking": [x.as_dict() for x in c.breaking],
                             "dangerous": [x.as_dict() for x in c.dangerous]} for c in found],
            "refused": [c.coordinate for c in refused],
            "notes": notes,
        }, indent=2))
        if refused:
            ctx.exit(1)
        return
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if not found:
        click.echo(f"{versions[0].label} -> {CODE}: the same schema")
    for comparison in found:
        echo_comparison(comparison)
    if refused:
        raise click.ClickException(
            f"{len(refused)} breaking change(s) refused: {', '.join(dict.fromkeys(c.coordinate for c in refused))}")


def read_changelog(path: Path) -> Changelog:
    if not path.is_file():
        raise click.ClickException(f"{path.absolute()} does not exist; run from the project folder or pass "
                                   "--changelog")
    try:
        return parse_changelog(path.read_text(), source=str(path))
    except ChangelogError as error:
        raise click.ClickException(str(error)) from None


def baseline_versions(sdl_file: Path, against: str | None, since: str | None, notes: list[str]) -> list[Version]:
    """The versions before the code: one (the file, ``--against``) or the history (``--since``)."""
    working = Version(f"{sdl_file} (working tree)" if since else str(sdl_file),
                      sdl_file.read_text() if sdl_file.is_file() else "")
    if against is not None:
        if Path(against).is_file():
            return [Version(against, Path(against).read_text())]
        folder = sdl_file.parent if sdl_file.parent.is_dir() else Path()
        unavailable = history_unavailable(folder)
        if unavailable:
            raise GitError(f"--against {against}: not a file, and {unavailable}")
        commit = resolve_ref(against, folder)
        return [Version(f"{sdl_file.name} at {against} ({commit[:10]})", sdl_at(commit, sdl_file))]
    if not sdl_file.is_file():
        raise click.ClickException(f"{sdl_file.absolute()} does not exist; run from the project folder or pass "
                                   "--schema-file")
    if since is None:
        return [working]
    unavailable = history_unavailable(sdl_file.parent)
    if unavailable:
        notes.append(f"--since {since}: {unavailable}; checking only the code against {sdl_file}")
        return [working]
    versions = committed_versions(since, sdl_file)
    if working.sdl != versions[-1].sdl:
        versions.append(working)
    return versions


def echo_comparison(comparison: Comparison) -> None:
    if not comparison.changes:
        click.echo(f"{comparison.old} -> {comparison.new}: no breaking or dangerous change")
        return
    click.echo(f"{comparison.old} -> {comparison.new}: {len(comparison.breaking)} breaking "
               f"({len(comparison.refused)} refused), {len(comparison.dangerous)} dangerous")
    for change in comparison.breaking:
        click.echo(f"  BREAKING {change.coordinate}: {change.description} [{change.kind}]")
        click.echo(f"    {change.verdict}")
    for change in comparison.dangerous:
        click.echo(f"  warning: dangerous {change.coordinate}: {change.description} [{change.kind}]")
