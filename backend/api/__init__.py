"""The GraphQL adapter: parse arguments, call the core, render results and typed errors."""
