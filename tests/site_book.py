"""A two-page copy of the book (the real _config.yml, extensions, static files) for site tests.

``tiny_site(root)`` writes an introduction and one notebook (stored outputs, not executed),
commits them to a fresh git repository (the "last updated" date comes from git), and
``build(root, repository)`` builds it with ``scripts/strict_build.py`` as the test command
does, with ``$BOOK_REPOSITORY`` set to ``repository`` ('' = no address).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# A chapter\n\nSome code:"},
        {"cell_type": "code", "metadata": {}, "execution_count": 1,
         "outputs": [{"name": "stdout", "output_type": "stream", "text": "4704\n"}],
         "source": "print(6 * 28 * 28)"},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def _git(root: Path, *args: str) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org",
               GIT_AUTHOR_DATE="2026-01-02T03:04:05Z", GIT_COMMITTER_DATE="2026-01-02T03:04:05Z")
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def tiny_site(root: Path) -> Path:
    """A copy of the book's configuration around two small pages, committed to git."""
    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["execute"]["execute_notebooks"] = "off"   # the stored output is enough here
    (root / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    for folder in ("_static", "_ext"):
        shutil.copytree(ROOT / "book" / folder, root / "book" / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "screenshot*.png"))
    shutil.copy(ROOT / "book" / "references.bib", root / "book" / "references.bib")
    (root / "book" / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: notebooks/01_tiny\n")
    (root / "book" / "intro.md").write_text("# Tiny book\n\nAn introduction to LeNet.\n\n"
                                            "```python\nprint('hello')\n```\n")
    (root / "notebooks" / "01_tiny.ipynb").write_text(json.dumps(NOTEBOOK))
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "tiny book")
    return root


def build(root: Path, repository: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BOOK_REPOSITORY=repository)
    env.pop("BOOK_SITE_URL", None)
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "strict_build.py"), str(root)],
                          capture_output=True, text=True, timeout=600, env=env, check=False)
