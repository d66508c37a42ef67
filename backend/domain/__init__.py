"""The domain core: twinland's models and rules, free of framework, database and network code.

Everything here is plain Python and can be tested with plain objects. Transports and
stores translate to and from these types; the rules they enforce live here, once.
"""
