"""The last word on a response's errors: known ones keep their message and code, anything else is masked.

Apart from ``gateway.errors`` because it needs the fault and input-limit classifiers, which
themselves raise ``gateway.errors`` classes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from gateway.errors import BadUserInput, DomainError, GatewayError
from gateway.faults import ServiceUnavailable, is_database_unavailable
from gateway.input_limits import is_invalid_data_error
from gateway.sensitive import redact_message

log = logging.getLogger("gateway.errors")


class MaskUnexpectedErrors(SchemaExtension):
    """Known errors keep their message and code; anything else is logged with its stack and masked."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if not result or not result.errors:
            return
        result.errors = [_without_card_data(self._present(error)) for error in result.errors]

    @staticmethod
    def _present(error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if error.path is None and error.message.startswith("Variable '$") and not (error.extensions or {}).get("code"):
            # a variable's value the schema's types refuse (graphql-core gives such errors no code)
            return GraphQLError(error.message, nodes=error.nodes, source=error.source, positions=error.positions,
                                original_error=None, extensions={"code": BadUserInput.code})
        if original is None:
            return error  # parse/validation errors: already meant for the client
        if isinstance(original, GatewayError):
            return GraphQLError(original.message, nodes=error.nodes, source=error.source,
                                positions=error.positions, path=error.path, original_error=None,
                                extensions=original.extensions)
        if isinstance(original, GraphQLError):
            return error
        if isinstance(original, DomainError):  # a refusal raised outside a mutation's payload: still the client's
            return GraphQLError(original.message, nodes=error.nodes, source=error.source, positions=error.positions,
                                path=error.path, original_error=None,
                                extensions={"code": original.code, "field": original.field})
        if is_database_unavailable(original):  # not a bug to mask: the client should retry (HTTP 503)
            log.warning("database unavailable at %s: %r", error.path, original)
            unavailable = ServiceUnavailable()
            return GraphQLError(unavailable.message, nodes=error.nodes, source=error.source, positions=error.positions,
                                path=error.path, original_error=None, extensions=unavailable.extensions)
        if is_invalid_data_error(original):  # a value the database refuses: the request's fault, not a bug
            log.info("value refused by the database at %s: %r", error.path, original)
            return GraphQLError("A value in the request is out of range or too long for what it is stored in.",
                                nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
                                original_error=None, extensions={"code": BadUserInput.code})
        error_id = uuid.uuid4().hex[:16]
        log.error("unexpected error %s at %s", error_id, error.path, exc_info=original)
        return GraphQLError(
            f"Internal server error (error id {error_id})",
            nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
            original_error=None, extensions={"code": "INTERNAL_SERVER_ERROR", "errorId": error_id},
        )


def _without_card_data(error: GraphQLError) -> GraphQLError:
    """The error with card data masked in its message: coercion and validation errors quote what the
    client sent (an enum value, an ID, an unknown input field), and a response must not carry it back."""
    message = redact_message(error.message)
    if message == error.message:
        return error
    return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
                        original_error=None, extensions=error.extensions)
