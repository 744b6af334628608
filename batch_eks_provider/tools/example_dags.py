"""Where the example DAGs are: the checkout's ``dags/`` or, from an installed wheel, the copy it ships.

The wheel installs them as data files under ``<prefix>/share/batch-eks-provider/dags`` (see
``pyproject.toml``), so ``python -m batch_eks_provider.tools.demo`` works outside a checkout too.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

__all__ = ["example_dags_folder", "ExampleDagsNotFound"]

_CHECKOUT_DAGS = Path(__file__).resolve().parents[2] / "dags"
_SHARED = Path("share") / "batch-eks-provider" / "dags"


class ExampleDagsNotFound(FileNotFoundError):
    """Neither a checkout's ``dags/`` nor an installed copy of the example DAGs was found."""


def example_dags_folder() -> Path:
    """The folder holding the example DAGs (``batch_eks_pipeline.py`` and the others)."""
    candidates = [_CHECKOUT_DAGS]
    for prefix in dict.fromkeys([sys.prefix, sysconfig.get_paths()["data"], sys.base_prefix]):
        candidates.append(Path(prefix) / _SHARED)
    for folder in candidates:
        if (folder / "batch_eks_pipeline.py").is_file():
            return folder
    raise ExampleDagsNotFound(
        "The example DAGs were not found in " + ", ".join(str(c) for c in candidates)
        + ": run from a checkout of batch-eks-provider or install its wheel."
    )
