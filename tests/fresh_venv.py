"""Fresh virtual environments for the install tests, with torch linked in from this one.

torch and torchvision are gigabytes and cannot be downloaded offline, so a fresh venv gets
them (and only them, with their own dependencies) through a ``.pth`` file pointing at a
folder of symlinks into this environment. Everything else it has, it installed itself.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path


def _top_level_entries(dist: md.Distribution) -> set[str]:
    return {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}


def torch_closure(exclude: set[str]) -> list[md.Distribution]:
    """torch, torchvision and what they depend on (but ``exclude``), as installed here."""
    seen: dict[str, md.Distribution] = {}
    todo = ["torch", "torchvision"]
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen or name in exclude:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[name] = dist
        for req in dist.requires or []:
            if "extra ==" not in req:
                todo.append(re.split(r"[<>=!~\[;\s(]", req, maxsplit=1)[0])
    return list(seen.values())


def link_torch(target: Path, exclude: set[str] = frozenset({"numpy", "pillow"})) -> Path:
    """Symlink torch, torchvision and their dependencies (but ``exclude``) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for dist in torch_closure(set(exclude)):
        for entry in _top_level_entries(dist):
            if (site / entry).exists() and not (target / entry).exists():
                (target / entry).symlink_to(site / entry)
    return target


def make_venv(where: Path) -> Path:
    """A new venv at ``where`` (no access to this one's packages) that sees torch; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    links = link_torch(where.parent / f"{where.name}-torch")
    Path(purelib, "torch-from-the-project.pth").write_text(f"{links}\n")
    return python


def clean_env(venv: Path, **extra: str) -> dict[str, str]:
    """The environment of a process that uses only ``venv`` (nothing of the project's)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "JUPYTER_PATH", "PYTHONHOME",
                        "MPLBACKEND", "LENET_INSTALL_SOURCE")}
    env.update(PATH=f"{venv / 'bin'}:{env['PATH']}", PYTHONNOUSERSITE="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_COMPILE="1", **extra)
    return env
