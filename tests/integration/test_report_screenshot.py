"""A report page as a person sees it: headless Chromium (Debian's package) screenshots the HTML page of a real
failover report opened from disk, with no network, and the plot is on it; a page without the plot fails the
same look."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from ops import report_html
from tests.conftest import require

CHROMIUM = Path("/usr/bin/chromium")
REPORT = Path(__file__).resolve().parents[1] / "data" / "reports" / "failover.json"  # written by a lab drill
WIDTH, HEIGHT = 1200, 900
PLOT_BAND = slice(140, 420)  # rows of the screenshot where the page puts the plot, below the verdict
MIN_COLOURED = 5000  # saturated pixels in the band: the plot's bars; the verdict and status words alone are ~1,500


def screenshot(page: Path, png: Path) -> np.ndarray:
    """Chromium loads the page from disk; a proxy on a closed loopback port makes any fetch fail."""
    profile = png.with_suffix(".profile")  # an empty profile of its own, removed with the test's tmp_path
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--proxy-server=127.0.0.1:9", f"--user-data-dir={profile}", f"--screenshot={png}",
                    f"--window-size={WIDTH},{HEIGHT}", page.as_uri()], check=True, capture_output=True, timeout=60)
    return imread(png)


def plot_drawn(image: np.ndarray) -> tuple[bool, int]:
    rgb = (image[..., :3] * 255).astype(int)
    band = rgb[PLOT_BAND]
    coloured = int(((band.max(axis=-1) - band.min(axis=-1)) > 60).sum())
    return image.shape[:2] == (HEIGHT, WIDTH) and coloured >= MIN_COLOURED, coloured


def test_failover_page_shows_its_plot_in_a_browser_with_no_network(tmp_path: Path) -> None:
    require(CHROMIUM.exists(), "chromium is not installed (make install installs it)")
    data = json.loads(REPORT.read_text())
    page = tmp_path / "failover.html"
    page.write_text(report_html.render(data))
    image = screenshot(page, tmp_path / "failover.png")
    assert image.shape[:2] == (HEIGHT, WIDTH)
    drawn, coloured = plot_drawn(image)
    assert drawn, f"only {coloured} coloured pixels where the plot should be"
    assert len(np.unique((image[PLOT_BAND, :, :3] * 255).astype(int).reshape(-1, 3), axis=0)) > 50

    # Negative control: the same report without its canary attempts has no plot, and the same look fails.
    del data["details"]["canary_runs"]
    bare = tmp_path / "bare.html"
    bare.write_text(report_html.render(data))
    drawn, coloured = plot_drawn(screenshot(bare, tmp_path / "bare.png"))
    assert not drawn, f"{coloured} coloured pixels on a page without a plot"
