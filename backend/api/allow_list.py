"""Persisted-query allow-list mode: only documents an operator has approved are run.

A public API that only ever serves its own clients can refuse every other document, which
closes the door on crafted queries altogether (OWASP GraphQL cheat sheet). The list is a
folder of ``.graphql`` files (``TWINLAND_GRAPHQL_ALLOW_LIST``; ``graphql/operations`` holds
the documents the project ships, the web viewer's among them). Documents are compared in
canonical form (parsed and printed again), so whitespace, comments and line breaks do not
matter; anything else does. A refusal is a GraphQL error with code
``OPERATION_NOT_ALLOWED``; nothing is parsed further or run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

from graphql import GraphQLError, GraphQLSyntaxError, parse, print_ast
from strawberry.extensions import SchemaExtension

from backend.api.limits import DOCUMENT_CACHE_SIZE, MAX_TOKENS


def canonical_hash(document: str) -> str:
    """sha256 of the document as graphql-core prints it (raises GraphQLSyntaxError, also
    past MAX_TOKENS tokens: a huge junk document must not cost a full parse here)."""
    printed = print_ast(parse(document, max_tokens=MAX_TOKENS))
    return hashlib.sha256(printed.encode()).hexdigest()


@lru_cache(maxsize=DOCUMENT_CACHE_SIZE)
def _cached_hash(document: str) -> str | None:
    try:
        return canonical_hash(document)
    except GraphQLSyntaxError:
        return None  # parsing proper reports the syntax error


def load_allow_list(folders: Sequence[Path]) -> frozenset[str]:
    """The canonical hashes of every ``*.graphql`` file under ``folders``. A file that does
    not parse stops start-up, naming it: an allow list that silently lost an entry would
    break its client at the worst time."""
    hashes = set()
    for folder in folders:
        if not folder.is_dir():
            raise ValueError(f"GraphQL allow list {folder} is not a folder")
        for path in sorted(folder.rglob("*.graphql")):
            try:
                hashes.add(canonical_hash(path.read_text(encoding="utf-8")))
            except GraphQLSyntaxError as error:
                raise ValueError(f"GraphQL allow list: {path} does not parse: {error}") from error
    if not hashes:
        raise ValueError(f"GraphQL allow list {[str(f) for f in folders]} holds no documents")
    return frozenset(hashes)


def allow_list_guard(allowed: frozenset[str]) -> Callable[[], SchemaExtension]:
    def build() -> SchemaExtension:
        return AllowList(allowed)

    return build


class AllowList(SchemaExtension):
    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed

    def on_parse(self) -> Iterator[None]:
        if _cached_hash(self.execution_context.query or "") not in self.allowed:
            raise GraphQLError(
                "this service runs only approved operations (persisted-query allow list); "
                "this document is not one of them",
                extensions={"code": "OPERATION_NOT_ALLOWED"},
            )
        yield
