"""`lenet` as a package: `python -m build` makes a wheel and an sdist, and the wheel works
outside the repository (a fresh venv, cwd in a temporary folder, no PYTHONPATH)."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib
from fresh_venv import clean_env, make_venv, pip_into
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent

FIT = """
import torch
import lenet
from lenet.models import LeNetModern
from lenet.train import fit, seed_everything
assert not lenet.__file__.startswith({root!r}), lenet.__file__
seed_everything(0)
images, labels = torch.rand(64, 1, 28, 28), torch.arange(64) % 10
history = fit(LeNetModern(), (images, labels), (images, labels), epochs=2, lr=1e-3,
              optimizer="adam", batch_size=32, progress=False)
print("fit:", len(history.train_loss), "epochs, loss", round(history.train_loss[-1], 2))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with this environment's setuptools (nothing to download); the
    # wheel is built from the unpacked sdist, so the sdist is proven complete too
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                             str(out), str(ROOT)], capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return out


def test_build_makes_a_wheel_and_an_sdist(dist: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    wheel = dist / f"lenet-{version}-py3-none-any.whl"
    sdist = dist / f"lenet-{version}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in dist.iterdir())
    names = zipfile.ZipFile(wheel).namelist()
    assert "lenet/__init__.py" in names and "lenet/cli.py" in names
    assert any(n.endswith(("licenses/LICENSE", "/LICENSE")) for n in names)
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "benchmarks/"))]
    with tarfile.open(sdist) as archive:
        assert f"lenet-{version}/LICENSE" in archive.getnames()


def wheel_requirements(wheel: Path) -> list[str]:
    """The wheel's ``Requires-Dist`` entries that a plain install (no extras) takes."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        lines = archive.read(name).decode().splitlines()
    reqs = [Requirement(line.split(":", 1)[1].strip()) for line in lines
            if line.startswith("Requires-Dist:")]
    return [str(r) for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]


def test_wheel_requirements_are_the_dependencies_without_extras(dist: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert wheel_requirements(next(dist.glob("*.whl"))) == project["dependencies"]


@pytest.mark.slow
def test_the_wheel_runs_outside_the_repository(dist: Path, tmp_path: Path) -> None:
    # the venv sees what the wheel says it requires (and their dependencies), nothing else
    wheel = next(dist.glob("*.whl"))
    python = make_venv(tmp_path / "venv", wheel_requirements(wheel), with_pip=False)
    env = clean_env(tmp_path / "venv")
    subprocess.run([*pip_into(python), "install", "--quiet", str(wheel)], check=True,
                   env=env, cwd=tmp_path, timeout=600)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    summary = run("-m", "lenet", "summary", "lenet5")
    assert summary.returncode == 0, summary.stderr[-2000:]
    assert "156" in summary.stdout and "122,304" in summary.stdout   # C1, as in the paper
    fitted = run("-c", FIT.format(root=str(ROOT)))
    assert fitted.returncode == 0, fitted.stderr[-2000:]
    assert fitted.stdout.startswith("fit: 2 epochs")
    version = run("-m", "lenet", "--version")   # --version: added with the CLI items
    assert version.returncode == 0, version.stderr[-2000:]
    assert re.search(r"\d+\.\d+\.\d+", version.stdout + version.stderr)


def test_binder_installs_what_the_setup_cell_does() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(lines: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[;\s]", line.strip(), maxsplit=1)[0].lower()
                for line in lines if line.strip() and not line.startswith(("#", "-"))}

    binder = names((ROOT / "binder" / "requirements.txt").read_text().splitlines())
    wanted = names(project["dependencies"] + project["optional-dependencies"]["notebooks"])
    assert wanted <= binder, f"binder/requirements.txt lacks {sorted(wanted - binder)}"
    post = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post and "d2l==1.0.3" in post
