"""Operators of the provider; DAGs import them from :mod:`batch_eks_provider.operators.batch`."""
