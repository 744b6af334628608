"""The built wheel is a proper provider package: typed, licensed, classified, and it carries the example
DAGs, which ``make demo``'s module finds from the installed package (outside a checkout)."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (built,) = out.glob("batch_eks_provider-*.whl")
    return built


def test_the_wheel_is_typed_licensed_and_classified(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.message_from_bytes(archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    assert "batch_eks_provider/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "Framework :: Apache Airflow :: Provider" in metadata.get_all("Classifier")
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("apache-airflow<4,>=3.3.0") or r.startswith("apache-airflow>=3.3.0") for r in requires), requires
    assert any(r.startswith("apache-airflow-providers-cncf-kubernetes") for r in requires)
    dags = {n.rsplit("/", 1)[-1] for n in names if "/data/share/batch-eks-provider/dags/" in n}
    assert dags == {p.name for p in (ROOT / "dags").glob("*.py")}


def test_an_installed_wheel_finds_its_example_dags(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=180)
    target = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    # the new venv's own pip: `pip --prefix` from this environment would uninstall our own install first
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from batch_eks_provider.tools.example_dags import example_dags_folder; print(example_dags_folder())"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    folder = Path(probe.stdout.strip())
    assert folder == venv / "share" / "batch-eks-provider" / "dags"
    assert (folder / "batch_eks_pipeline.py").is_file() and target.is_dir()
