"""Screenshot the napari plugin: a simulated volume, its particles located by the widget.

Usage: ``python -m bench.figures.napari_screenshot [--out docs/img/napari.png]``.
Opens a napari viewer, docks the plugin's "Locate particles" widget, runs it on a simulated
dense volume and saves a screenshot of the window (downscaled, 256 colours). Needs a display:
without one it runs itself again under ``xvfb-run`` (Debian package ``xvfb``), and skips
(exit 0) when that is missing too. Qt's offscreen platform draws black, so it uses ``xcb``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common.paths import ROOT
from bench.common.splits import SCREENSHOT_SEED
from voxpick.simulate import simulate_volume

WIDTH_PX = 900


def save_small(shot: np.ndarray, dst: Path, *, width_px: int = WIDTH_PX) -> None:
    from PIL import Image  # a matplotlib dependency

    img = Image.fromarray(np.ascontiguousarray(shot[..., :3]))
    img = img.resize((width_px, round(img.height * width_px / img.width)), Image.Resampling.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True)
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(dst, optimize=True)


def shoot(out: Path, *, size: int) -> None:
    import napari
    from qtpy.QtWidgets import QApplication

    from voxpick.napari.widget import locate_widget

    sim = simulate_volume(size, radius=4.0, volfrac=0.4, snr=5, cnr=3, rng=SCREENSHOT_SEED)
    viewer = napari.Viewer(show=True, title="voxpick in napari")
    viewer.window._qt_window.resize(1400, 860)
    image = viewer.add_image(sim.volume, name="simulated stack", colormap="gray")
    widget = locate_widget()
    viewer.window.add_dock_widget(widget, name="Locate particles (voxpick)", area="right")
    widget.image.value = image
    widget.diameter.value = 8.0
    t0 = time.perf_counter()
    widget()
    while "simulated stack particles" not in viewer.layers:
        QApplication.processEvents()
        time.sleep(0.05)
        if time.perf_counter() - t0 > 600:
            raise TimeoutError("the widget's locate did not finish within 10 minutes")
    points = viewer.layers["simulated stack particles"]
    print(f"widget: {len(points.data)} particles in {time.perf_counter() - t0:.1f} s")
    viewer.dims.set_current_step(0, size // 2)
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    save_small(viewer.screenshot(canvas_only=False, flash=False), out)
    print(f"screenshot -> {out} ({out.stat().st_size / 1e3:.0f} kB)")
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/napari.png")
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            print("no display and no xvfb-run (apt-get install -y xvfb): screenshot skipped")
            return
        cmd = [xvfb, "-a", "-s", "-screen 0 1600x1000x24", sys.executable, "-m", __spec__.name]
        sys.exit(subprocess.call([*cmd, "--out", str(args.out), "--size", str(args.size)]))
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    shoot(args.out, size=args.size)


if __name__ == "__main__":
    main()
