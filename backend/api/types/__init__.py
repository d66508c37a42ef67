"""GraphQL object types, each a thin view over a domain object."""
