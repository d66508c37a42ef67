"""Shape limits of GraphQL documents, checked before the cost estimate (backend.api.cost):
a real client never nests deeper than ~10 or sends hundreds of aliases."""

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5_000
DOCUMENT_CACHE_SIZE = 512  # parsed and validated documents kept, and allow-list hashes
