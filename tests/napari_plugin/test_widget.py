"""The napari widgets and reader in a real viewer (napari's fixture, Qt offscreen).

Skipped without napari or pytest-qt, and (by the ``opengl`` fixture) where Qt cannot draw.
"""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

import voxpick
from voxpick.io import write_positions
from voxpick.simulate import simulate_tomogram, simulate_volume

#: Longest wait for a worker, ms (locate on 48^3 takes about a second).
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(48, radius=4, volfrac=0.3, rng=1)


def _dock(viewer, factory):
    widget = factory()
    viewer.window.add_dock_widget(widget)
    return widget


def _wait_for_layer(qtbot, viewer, name):
    qtbot.waitUntil(lambda: name in viewer.layers, timeout=WAIT_MS)
    return viewer.layers[name]


def test_follow_progress_relays_reports_result_and_errors():
    from voxpick.napari.widget import RunFailedError, follow_progress

    def work(report):
        for i in range(3):
            report(i + 1, 3)
        return "done"

    steps = follow_progress(work)
    assert list(_drain(steps)) == [(1, 3), (2, 3), (3, 3), ("return", "done")]

    def fail(report):
        report(1, 2)
        raise ValueError("bad diameter")

    steps = follow_progress(fail)
    assert next(steps) == (1, 2)
    with pytest.raises(ValueError, match="bad diameter"):
        next(steps)

    def crash(report):
        raise RuntimeError("output locked")

    with pytest.raises(RunFailedError, match="RuntimeError: output locked"):
        next(follow_progress(crash))


def test_manifest_commands_import():
    from npe2 import PluginManifest

    from voxpick.napari.reader import MANIFEST

    PluginManifest.from_file(MANIFEST).validate_imports()  # every python_name resolves


def _drain(gen):
    try:
        while True:
            yield next(gen)
    except StopIteration as stop:
        yield ("return", stop.value)


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_locate_widget_adds_the_located_particles(viewer, qtbot, sim, scale):
    from voxpick.napari.widget import locate_widget

    image = viewer.add_image(sim.volume, name="stack", scale=(scale,) * 3, translate=(0, 5, 0))
    widget = _dock(viewer, locate_widget)
    assert set(widget.method.choices) >= {"auto", "classical", "unet"}
    widget.image.value = image
    widget.diameter.value = 8 * scale  # units of the image layer's scale
    widget.method.value = "classical"
    widget()
    points = _wait_for_layer(qtbot, viewer, "stack particles")

    direct = voxpick.locate(sim.volume, diameter=8, method="classical")
    np.testing.assert_allclose(points.data, direct[["z", "y", "x"]].to_numpy(), atol=1e-9)
    np.testing.assert_array_equal(points.features["score"], direct["score"])
    assert tuple(points.scale) == tuple(image.scale)
    assert tuple(points.translate) == tuple(image.translate)
    np.testing.assert_array_equal(points.size, 8.0)
    ev = voxpick.metrics.evaluate(sim.truth, direct, diameter=8)
    assert ev.f1 > 0.9, ev
    # a thick slice of half a diameter each side: points show on the slices they cut
    assert viewer.dims.margin_left[0] == pytest.approx(4 * scale)
    assert viewer.dims.margin_right[0] == pytest.approx(4 * scale)


def test_locate_widget_locates_the_frame_shown(viewer, qtbot, sim):
    from voxpick.napari.widget import locate_widget

    stack = np.stack([np.zeros_like(sim.volume), sim.volume])  # (t, z, y, x): frame 1 has them
    image = viewer.add_image(stack, name="series")
    viewer.dims.set_current_step(0, 1)
    widget = _dock(viewer, locate_widget)
    widget(image=image, diameter=8.0, z_diameter=9.0, method="classical")
    points = _wait_for_layer(qtbot, viewer, "series particles")

    direct = voxpick.locate(sim.volume, diameter=(9, 8, 8), method="classical")
    assert points.data.shape == (len(direct), 4)
    np.testing.assert_array_equal(points.data[:, 0], 1)
    np.testing.assert_allclose(points.data[:, 1:], direct[["z", "y", "x"]].to_numpy())
    assert points.metadata["voxpick"]["diameter_px"] == [9.0, 8.0, 8.0]


def test_locate_widget_refuses_bad_input_before_running(viewer, sim):
    from voxpick.napari.widget import locate_widget

    widget = _dock(viewer, locate_widget)
    image = viewer.add_image(sim.volume, name="stack")
    with pytest.raises(ValueError, match="larger than the volume"):
        widget(image=image, diameter=100.0, method="classical")
    flat = viewer.add_image(sim.volume[0], name="plane")
    with pytest.raises(ValueError, match="expected a volume"):
        widget(image=flat, diameter=8.0)
    rgb = viewer.add_image(np.zeros((8, 16, 16, 3), np.uint8), name="colour", rgb=True)
    with pytest.raises(ValueError, match="is RGB"):
        widget(image=rgb, diameter=4.0)
    assert [layer.name for layer in viewer.layers] == ["stack", "plane", "colour"]


def test_an_error_in_the_worker_reaches_the_user_and_adds_nothing(viewer, qtbot, monkeypatch, sim):
    from voxpick.napari import widget as widget_module

    def broken(*args, **kwargs):
        raise RuntimeError("the detector broke")

    monkeypatch.setattr(widget_module, "locate", broken)
    image = viewer.add_image(sim.volume, name="stack")
    widget = _dock(viewer, widget_module.locate_widget)
    with qtbot.capture_exceptions() as raised:
        worker = widget(image=image, diameter=8.0)
        qtbot.waitUntil(lambda: bool(raised), timeout=WAIT_MS)
    error = raised[0][1]
    assert isinstance(error, widget_module.RunFailedError)
    assert isinstance(error.__cause__, RuntimeError)
    assert "the detector broke" in str(error)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=WAIT_MS)
    assert [layer.name for layer in viewer.layers] == ["stack"]


def test_pick_widget_adds_one_layer_per_class(viewer, qtbot):
    from voxpick.cryoet import load_picker, pick
    from voxpick.napari.widget import pick_widget

    picker = load_picker()
    tomo, _ = simulate_tomogram(64, counts=2, voxel_size=picker.voxel_size, rng=0)
    image = viewer.add_image(tomo, name="tomo")
    widget = _dock(viewer, pick_widget)
    widget(image=image)
    direct = pick(tomo, model=picker)
    assert direct["particle_type"].nunique() >= 2
    names = [f"tomo {cls}" for cls in sorted(direct["particle_type"].unique())]
    qtbot.waitUntil(lambda: all(n in viewer.layers for n in names), timeout=WAIT_MS)
    radius = {c.name: c.radius_A for c in picker.classes}
    for cls, rows in direct.groupby("particle_type"):
        points = viewer.layers[f"tomo {cls}"]
        np.testing.assert_allclose(points.data, rows[["z", "y", "x"]].to_numpy())
        np.testing.assert_allclose(points.features["score"], rows["score"])
        np.testing.assert_allclose(points.size, 2 * radius[cls] / picker.voxel_size)


def test_viewer_opens_a_table_with_the_plugin(npe2pm, viewer, tmp_path, sim):
    from voxpick.napari.reader import MANIFEST

    found = voxpick.locate(sim.volume, diameter=8, method="classical")
    path = write_positions(tmp_path / "found.parquet", found)
    viewer.add_image(sim.volume, name="stack")
    with npe2pm.tmp_plugin(manifest=MANIFEST):  # the shipped manifest, as napari loads it
        (layer,) = viewer.open(path, plugin="voxpick")
    assert layer.name == "found"
    np.testing.assert_allclose(layer.data, found[["z", "y", "x"]].to_numpy())
    np.testing.assert_array_equal(layer.features["score"], found["score"])


#: Draws a volume with and without its points in a shown viewer; prints the pixels that differ.
_DRAW = """
import numpy as np, napari
from qtpy.QtWidgets import QApplication
from voxpick.napari import detections_layer
from voxpick.simulate import simulate_volume
sim = simulate_volume(32, radius=4, volfrac=0.3, rng=1)
viewer = napari.Viewer(show=True)
viewer.add_image(sim.volume)
truth = sim.truth.assign(score=np.linspace(1, 5, len(sim.truth)))
data, kwargs, _ = detections_layer(truth, diameter_px=8)
points = viewer.add_points(data, **kwargs)
viewer.dims.margin_left = viewer.dims.margin_right = (4.0, 0.0, 0.0)
shots = []
for visible in (True, True, False):  # the first lets the new window settle its size
    points.visible = visible
    QApplication.processEvents()
    shots.append(viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int))
h, w = (min(s.shape[i] for s in shots[1:]) for i in (0, 1))
with_points, without = shots[1][:h, :w], shots[2][:h, :w]
print("IMAGE", int(without.sum()), "POINTS", int((with_points != without).any(axis=2).sum()))
viewer.close()
"""


def test_points_are_drawn_over_the_volume(opengl):
    import os
    import subprocess
    import sys

    # pixels need Qt's xcb platform (offscreen draws black), which aborts the process
    # where it cannot start: so in a child process
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    run = subprocess.run(
        [sys.executable, "-c", _DRAW], env=env, capture_output=True, text=True, timeout=300
    )
    if run.returncode and "qt.qpa.plugin" in run.stderr:
        pytest.skip(f"Qt's xcb platform cannot start: {run.stderr.strip().splitlines()[-1]}")
    assert run.returncode == 0, run.stderr[-3000:]
    words = run.stdout.split()
    image, changed = int(words[words.index("IMAGE") + 1]), int(words[words.index("POINTS") + 1])
    assert image > 0, "the volume was not drawn"
    assert changed > 100, "the points were not drawn"


def test_empty_result_still_adds_a_layer(viewer, qtbot):
    from voxpick.napari.widget import locate_widget

    flat = np.full((24, 24, 24), 7, np.uint8)
    image = viewer.add_image(flat, name="blank")
    widget = _dock(viewer, locate_widget)
    widget(image=image, diameter=6.0, method="classical")
    points = _wait_for_layer(qtbot, viewer, "blank particles")
    assert len(points.data) == 0
    assert isinstance(points.features, pd.DataFrame)


def test_docs_recipe_runs(opengl, monkeypatch, tmp_path):
    import re
    from pathlib import Path

    import napari

    docs = Path(__file__).resolve().parents[2] / "docs" / "napari.md"
    blocks = re.findall(r"^```python\n(.*?)^```", docs.read_text(), re.DOTALL | re.MULTILINE)
    assert blocks, "docs/napari.md has no ```python block"
    monkeypatch.setattr(napari, "run", lambda *args, **kwargs: None)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    try:
        for code in blocks:
            exec(compile(code, str(docs), "exec"), namespace)
        viewer, found = namespace["viewer"], namespace["found"]
        names = [layer.name for layer in viewer.layers]
        assert names == ["stack", "particles", "particles (voxpick)"]
        plain, plugin = viewer.layers["particles"], viewer.layers["particles (voxpick)"]
        assert len(plain.data) == len(found) > 50
        np.testing.assert_array_equal(plain.data, plugin.data)
        np.testing.assert_array_equal(plain.size, plugin.size)
    finally:
        napari.Viewer.close_all()
