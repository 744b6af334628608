"""HTTP layer of the local engine: routes, request parsing and wire errors, one module per protocol."""
