"""Use cases: the steps of each command (validate, check references, write), transport-free."""
