"""Service layer of the local engine: validation and state changes, one module per Batch resource.

Each function takes the :class:`~batch_eks_provider.local.store.state.EngineState` and the request's wire
parameters, raises a typed :mod:`~batch_eks_provider.local.errors` error for bad input, and returns the
wire response body.
"""
