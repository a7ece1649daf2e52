"""Fresh virtual environments for the install tests, seeing only what was asked for.

A fresh venv gets the third-party packages a test names (requirement strings such as
``"matplotlib>=3.7"`` or ``"ipykernel"``) together with everything they depend on, and
nothing else: a ``.pth`` file points at a folder of symlinks into this environment's
copies. pip, run in the fresh venv, sees them as installed. So a test installs only the
project itself there, and what it then imports must come from the named requirements'
dependency closure: a missing requirement fails it just as a real install would, without
unpacking gigabytes (torch) and hundreds of megabytes (SciPy, pandas) again.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def _top_level_entries(dist: md.Distribution) -> set[str]:
    return {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}


def _applies(req: Requirement, extras: set[str]) -> bool:
    """Whether ``req`` is needed here, given the extras asked of the package requiring it."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in extras or {""})


def closure(requirements: list[str]) -> list[md.Distribution]:
    """The installed distributions that ``requirements`` name, with all they depend on (extras
    followed as asked, environment markers evaluated); each must be installed here."""
    seen: dict[str, set[str]] = {}
    found: dict[str, md.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        extras = set(req.extras)
        if name in seen and extras <= seen[name]:
            continue
        seen[name] = seen.get(name, set()) | extras
        if name not in found:
            found[name] = md.distribution(name)   # PackageNotFoundError: not installed here
        for line in found[name].requires or []:
            try:
                dep = Requirement(line)
            except InvalidRequirement:
                continue
            if _applies(dep, extras):
                todo.append(dep)
    return list(found.values())


def link_packages(target: Path, requirements: list[str],
                  exclude: frozenset[str] = frozenset()) -> Path:
    """Symlink the distributions of ``closure(requirements)`` but those named in ``exclude``
    into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for dist in closure(requirements):
        if canonicalize_name(dist.metadata["Name"]) in exclude:
            continue
        for entry in _top_level_entries(dist):
            if (site / entry).exists() and not (target / entry).exists():
                (target / entry).symlink_to(site / entry)
    return target


def make_venv(where: Path, requirements: list[str],
              exclude: frozenset[str] = frozenset(), with_pip: bool = True) -> Path:
    """A new venv at ``where`` that sees ``requirements`` and their dependencies (from this
    environment), but the distributions named in ``exclude``, and nothing else of it;
    returns its python. Without ``with_pip``, install into it with :func:`pip_into`."""
    subprocess.run([sys.executable, "-m", "venv", str(where),
                    *([] if with_pip else ["--without-pip"])], check=True, timeout=300)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    links = link_packages(where.parent / f"{where.name}-packages", requirements, exclude)
    Path(purelib, "packages-from-the-project.pth").write_text(f"{links}\n")
    return python


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """The environment of a process that uses only ``venv`` (nothing of the project's)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONHOME",
                        "MPLBACKEND", "LENET_INSTALL_SOURCE")}
    env.update(PATH=f"{venv / 'bin'}:{env['PATH']}", PYTHONNOUSERSITE="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_COMPILE="1", **extra)
    return env


def pip_into(python: Path) -> list[str]:
    """The command that runs this environment's pip on the venv of ``python`` (one made
    without a pip of its own: creating a venv's pip is most of the time ``venv`` takes)."""
    return [sys.executable, "-m", "pip", "--python", str(python)]
