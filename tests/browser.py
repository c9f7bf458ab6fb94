"""A page opened in a real headless Chromium: its DOM as the browser built it, and a screenshot.

`make test` installs Chromium first (scripts/install-chromium.sh); where none can be found, the
tests that need it skip and say so.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--no-first-run", "--allow-file-access-from-files"]


def chromium() -> str:
    """The first Chromium on PATH; the test skips only where none is installed."""
    found = next((path for path in map(shutil.which, NAMES) if path), None)
    if found is None:
        pytest.skip(f"no Chromium binary ({', '.join(NAMES)}) on PATH: run scripts/install-chromium.sh (root)")
    return found


def dump_dom(page: Path) -> str:
    proc = subprocess.run([chromium(), *FLAGS, "--dump-dom", page.resolve().as_uri()], capture_output=True,
                          text=True, timeout=180, check=False)
    assert proc.returncode == 0 and "<html" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 2400) -> Path:
    proc = subprocess.run([chromium(), *FLAGS, f"--window-size={width},{height}", f"--screenshot={png}",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
    return png


def pixels_like(png: Path, rgb: tuple[int, int, int], tol: int = 6) -> int:
    """How many pixels of the screenshot have about this colour (a drawn node's fill, say)."""
    import matplotlib.image
    import numpy as np

    img = (matplotlib.image.imread(str(png))[..., :3] * 255).astype(int)
    return int((np.abs(img - np.array(rgb)).max(axis=-1) <= tol).sum())
