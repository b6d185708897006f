"""The vertical plugin's domain rules: plain async functions over a session, no GraphQL.

Each refusal is a ``DomainError`` with a stable code (listed in ../README.md).
"""
