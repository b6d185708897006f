"""Log lines: uvicorn's coloured duplicate of each message (``color_message``) never reaches the output."""

from __future__ import annotations

import io
import json
import logging

import pytest

from gateway.logging import configure_logging


@pytest.mark.parametrize("as_json", [True, False])
def test_uvicorn_color_message_is_dropped(as_json: bool) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=as_json, stream=stream)
    try:
        # what uvicorn does: the plain message, and an ANSI-coloured copy in ``extra``
        logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:18300",
                                                extra={"color_message": "Uvicorn running on \x1b[1m%s\x1b[0m"})
    finally:
        configure_logging("INFO")  # back to stderr for the other tests
    output = stream.getvalue()
    assert "Uvicorn running on http://127.0.0.1:18300" in output
    assert "color_message" not in output and "\x1b[1m" not in output
    if as_json:
        line = json.loads(output.strip().splitlines()[-1])
        assert line["logger"] == "uvicorn.error" and "color_message" not in line
