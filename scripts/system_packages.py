"""Debian packages that the scripts install for themselves when they are missing (apt-get,
which needs root): Chromium for the browser check, and Noto CJK, which the Chinese edition's
figures are drawn with and its pages are shown in."""

from __future__ import annotations

import os
import shutil
import subprocess

#: Debian's package of the Chinese font.
CJK_FONT_PACKAGE = "fonts-noto-cjk"


def has_cjk_font() -> bool:
    """Whether Noto CJK (Debian's fonts-noto-cjk) is installed."""
    if not shutil.which("fc-list"):
        return False
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True,
                           check=False)
    return "Noto Sans CJK" in fonts.stdout


def apt_install(packages: list[str], why: str) -> None:
    """``apt-get install`` ``packages``; a failure exits naming the command to run by hand."""
    print(f"==> installing {' '.join(packages)} (apt-get): {why}", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)
    except (OSError, subprocess.CalledProcessError) as error:
        raise SystemExit(f"could not install {' '.join(packages)} ({error}): install them "
                         f"yourself (sudo apt-get install {' '.join(packages)}), then rerun"
                         ) from error
