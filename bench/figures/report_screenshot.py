"""Build an HTML report for a simulated volume and screenshot it in headless Chromium.

Usage: ``python -m bench.figures.report_screenshot [--out docs/img/report_screenshot.png]``.
Writes ``bench/out/report.html``; when ``chromium`` (Debian package) is installed it renders the
page at 1200x2400 and saves a downscaled PNG, which shows that the self-contained page really
renders without any external resource. Skips the screenshot (exit 0) without Chromium.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np

import voxpick
from bench.common.paths import OUT, ROOT
from bench.common.splits import SCREENSHOT_SEED
from voxpick.analysis.report import build_report, save_report
from voxpick.simulate import simulate_volume


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(chromium: str, page: Path, png: Path, *, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", f"--screenshot={png}",
            f"--window-size={size[0]},{size[1]}", page.resolve().as_uri(),
        ]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def shrink(src: Path, dst: Path, *, width_px: int = 600) -> None:
    from PIL import Image  # a matplotlib dependency

    img = np.asarray(Image.open(src).convert("RGB"))
    ink = (img < 245).any(axis=(1, 2))  # drop the empty page below the content
    if ink.any():
        img = img[: min(len(img), int(ink.nonzero()[0].max()) + 30)]
    small = Image.fromarray(img).resize(
        (width_px, round(img.shape[0] * width_px / img.shape[1])), Image.Resampling.LANCZOS
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    small.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(dst, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/report_screenshot.png")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    sim = simulate_volume(args.size, radius=4.0, volfrac=0.45, snr=6, cnr=4, rng=SCREENSHOT_SEED)
    t0 = time.perf_counter()
    found = voxpick.locate(sim.volume, diameter=8.0)
    t1 = time.perf_counter()
    html = build_report(
        sim.volume, found, diameter=8.0, truth=sim.truth, title="voxpick report: simulated 0.45"
    )
    t2 = time.perf_counter()
    page = save_report(OUT / "report.html", html)
    print(f"locate {t1 - t0:.1f} s, report {t2 - t1:.1f} s, {len(html) / 1e3:.0f} kB -> {page}")
    chromium = find_chromium()
    if chromium is None:
        print("chromium not found (apt-get install -y chromium): screenshot skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "shot.png"
        screenshot(chromium, page, raw, size=(1200, 2400))
        shrink(raw, args.out)
    print(f"screenshot -> {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
