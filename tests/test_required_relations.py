"""A non-null relation whose row is missing fails its own parent, not the batch (and not with a silent None)."""

from __future__ import annotations

from schema.common import required


def test_a_missing_required_row_fails_only_its_parent() -> None:
    found = required(["v1", None, "v3"], "SolutionInstance.installedVersion")
    assert found[0] == "v1" and found[2] == "v3"
    error = found[1]
    assert isinstance(error, RuntimeError)  # unexpected: masked for the client, logged by the gateway
    assert str(error) == "SolutionInstance.installedVersion is missing"


def test_nothing_missing_keeps_every_object_in_order() -> None:
    assert required([3, 1, 2], "Solution.developer") == [3, 1, 2]
