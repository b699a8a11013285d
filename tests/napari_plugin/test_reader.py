"""The napari reader and layer data: plain functions, tested without Qt or a viewer.

The layer data are checked against napari's own Points layer (built without a viewer) when
napari is installed; the rest needs only voxpick.
"""

from importlib import metadata, resources

import numpy as np
import pandas as pd
import pytest

import voxpick
from voxpick.io import write_positions, write_submission
from voxpick.metrics import CZII_PARTICLES
from voxpick.napari import detections_layer, get_reader, picks_layers, read_tables
from voxpick.napari.reader import table_kind
from voxpick.simulate import simulate_volume

RADIUS_A = {p.name: p.radius_A for p in CZII_PARTICLES}


@pytest.fixture(scope="module")
def located():
    sim = simulate_volume(40, radius=4, volfrac=0.25, rng=3)
    found = voxpick.locate(sim.volume, diameter=(9, 8, 8), method="classical")
    assert len(found) > 20 and found["score"].nunique() > 1
    return found


def _points(layer):
    """Build napari's Points layer from layer data (no viewer, no Qt)."""
    layers = pytest.importorskip("napari.layers")
    data, kwargs, kind = layer
    assert kind == "points"
    return layers.Points(data, **kwargs)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_detection_table_opens_as_points_with_size_score_and_attrs(tmp_path, located, suffix):
    path = write_positions(tmp_path / f"found{suffix}", located)
    reader = get_reader(str(path))
    assert reader is read_tables
    (layer,) = reader(str(path))
    data, kwargs, _ = layer
    np.testing.assert_array_equal(data, located[["z", "y", "x"]].to_numpy())
    assert kwargs["name"] == "found"
    # one marker size per point (napari 0.9): the in-plane diameter; z kept in metadata
    assert kwargs["size"] == 8.0
    assert kwargs["metadata"]["voxpick"]["diameter_px"] == [9.0, 8.0, 8.0]
    assert kwargs["metadata"]["voxpick"]["attrs"]["detector"] == "classical"
    np.testing.assert_array_equal(kwargs["features"]["score"], located["score"])
    assert list(kwargs["features"].columns) == [c for c in located.columns if c not in "zyx"]


def test_colour_follows_score(located):
    points = _points(detections_layer(located))
    rgba = points.border_color
    best, worst = int(located["score"].argmax()), int(located["score"].argmin())
    viridis = points.border_colormap
    np.testing.assert_allclose(rgba[best], viridis.map([1.0])[0], atol=1e-6)
    np.testing.assert_allclose(rgba[worst], viridis.map([0.0])[0], atol=1e-6)
    assert len(np.unique(rgba.round(6), axis=0)) > 2  # a scale, not two colours
    np.testing.assert_array_equal(points.size, 8.0)
    assert str(points.projection_mode) == "rescale_spherical"
    np.testing.assert_array_equal(points.face_color[:, 3], 0)  # empty circles


def test_table_without_attrs_or_score_keeps_napari_defaults(tmp_path):
    plain = pd.DataFrame({"Z": [1.0, 2.5], "Y": [3.0, 4.0], "X": [5.0, 6.0], "mass": [1, 2]})
    path = tmp_path / "plain.csv"
    plain.to_csv(path, index=False)
    (layer,) = read_tables(path)
    data, kwargs, _ = layer
    np.testing.assert_array_equal(data, [[1.0, 3.0, 5.0], [2.5, 4.0, 6.0]])
    assert "size" not in kwargs and kwargs["border_color"] == "yellow"
    assert list(kwargs["features"].columns) == ["mass"]
    _points(layer)


def test_empty_detection_table_is_an_empty_layer(tmp_path, located):
    path = write_positions(tmp_path / "none.csv", located.iloc[:0])
    (layer,) = read_tables(path)
    assert layer[0].shape == (0, 3)
    assert len(_points(layer).data) == 0


def test_frame_column_gives_a_time_axis(located):
    series = pd.concat([located.assign(frame=0), located.iloc[:5].assign(frame=1)])
    data, _, _ = detections_layer(series)
    assert data.shape == (len(located) + 5, 4)
    np.testing.assert_array_equal(data[:, 0], series["frame"])
    np.testing.assert_array_equal(data[:, 1:], series[["z", "y", "x"]])


def _czii_picks() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {"experiment": run, "particle_type": cls, "z": z, "y": y, "x": x}
        for run in ("TS_5_4", "TS_69_2")
        for cls, n in (("ribosome", 3), ("apo-ferritin", 2))
        for z, y, x in rng.uniform(0, 6000, (n, 3))
    ]
    return pd.DataFrame(rows)


def test_czii_csv_gives_one_layer_per_run_and_class_in_angstrom(tmp_path):
    picks = _czii_picks()
    path = write_submission(tmp_path / "submission.csv", picks)
    assert table_kind(path) == "czii"
    layers = read_tables(path)
    names = [kw["name"] for _, kw, _ in layers]
    assert names == [
        f"submission {run} {cls}"
        for run in ("TS_5_4", "TS_69_2")
        for cls in ("apo-ferritin", "ribosome")  # CZII order: apo-ferritin first
    ]
    for data, kwargs, _ in layers:
        meta = kwargs["metadata"]["voxpick"]
        want = picks[
            (picks["experiment"] == meta["experiment"])
            & (picks["particle_type"] == meta["particle_type"])
        ]
        np.testing.assert_allclose(data, want[["z", "y", "x"]].to_numpy())
        assert kwargs["size"] == 2 * RADIUS_A[meta["particle_type"]]  # Angstrom
        assert meta["units"] == "Angstrom"
    colours = {
        kw["metadata"]["voxpick"]["particle_type"]: kw["border_color"] for _, kw, _ in layers
    }
    assert colours["ribosome"] != colours["apo-ferritin"]
    _points(layers[0])


def test_picks_in_voxels_take_their_size_from_the_voxel_size(tmp_path):
    picks = pd.DataFrame(
        {
            "particle_type": ["ribosome", "apo-ferritin", "ribosome", "my-complex"],
            "z": [10.0, 20.0, 30.0, 5.0], "y": [1.0, 2.0, 3.0, 4.0], "x": [4.0, 5.0, 6.0, 7.0],
            "score": [0.9, 0.8, 0.7, 0.6],
        }
    )  # fmt: skip
    picks.attrs["voxel_size"] = [10.0, 10.0, 10.0]
    path = write_positions(tmp_path / "picks.parquet", picks)
    assert table_kind(path) == "picks"
    layers = {kw["metadata"]["voxpick"]["particle_type"]: (d, kw) for d, kw, _ in read_tables(path)}
    assert list(layers) == ["apo-ferritin", "ribosome", "my-complex"]
    data, kwargs = layers["ribosome"]
    np.testing.assert_array_equal(data, [[10.0, 1.0, 4.0], [30.0, 3.0, 6.0]])
    np.testing.assert_array_equal(kwargs["features"]["score"], [0.9, 0.7])
    assert kwargs["size"] == 2 * 150.0 / 10.0  # ribosome radius 150 A, in voxels
    assert "size" not in layers["my-complex"][1]  # no radius known: napari's default
    assert layers["my-complex"][1]["border_color"] != kwargs["border_color"]


def test_picks_without_voxel_size_get_default_sizes(tmp_path):
    picks = pd.DataFrame({"particle_type": ["ribosome"], "z": [1.0], "y": [2.0], "x": [3.0]})
    path = write_positions(tmp_path / "picks.csv", picks)
    ((_, kwargs, _),) = read_tables(path)
    assert "size" not in kwargs  # 150 A is no number of voxels without a voxel size


def test_picks_layers_in_voxels_with_given_radii():
    picks = pd.DataFrame(
        {"particle_type": ["a", "b"], "z": [1.0, 2.0], "y": [0.0] * 2, "x": [0.0] * 2}
    )
    layers = picks_layers(picks, voxel_size=(20.0, 5.0, 5.0), radius_A={"a": 50.0}, name="t")
    assert [kw["name"] for _, kw, _ in layers] == ["t a", "t b"]
    assert layers[0][1]["size"] == 2 * 50.0 / 5.0  # in-plane voxels
    assert picks_layers(picks.iloc[:0])[0][0].shape == (0, 3)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("napari_points.csv", "index,axis-0,axis-1\n0,1.0,2.0\n"),  # napari's own points CSV
        ("image.tif", "not a table"),
        ("broken.parquet", "not parquet"),
    ],
)
def test_other_files_are_left_to_other_readers(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    assert get_reader(str(path)) is None
    assert get_reader([str(path)]) is None
    with pytest.raises(ValueError, match="not a voxpick table"):
        read_tables(path)


def test_reader_needs_every_path_to_be_a_table(tmp_path, located):
    good = write_positions(tmp_path / "a.csv", located)
    other = tmp_path / "b.txt"
    other.write_text("x")
    assert get_reader([str(good), str(good)]) is read_tables
    assert len(read_tables([str(good), str(good)])) == 2
    assert get_reader([str(good), str(other)]) is None
    assert get_reader(str(tmp_path / "missing.csv")) is None


def test_bad_tables_raise_clear_errors(located):
    with pytest.raises(ValueError, match=r"missing columns \['z'\]"):
        detections_layer(located.drop(columns="z"))
    with pytest.raises(TypeError, match=r"pandas\.DataFrame"):
        detections_layer(located[["z", "y", "x"]].to_numpy())
    with pytest.raises(ValueError, match="particle_type"):
        picks_layers(located)


def test_manifest_is_shipped_and_valid():
    npe2 = pytest.importorskip("npe2")
    manifest_file = resources.files("voxpick.napari") / "napari.yaml"
    assert manifest_file.is_file()
    manifest = npe2.PluginManifest.from_file(str(manifest_file))
    assert manifest.name == "voxpick"
    readers = manifest.contributions.readers
    assert readers and set(readers[0].filename_patterns) == {"*.csv", "*.parquet", "*.pq"}
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    assert commands["voxpick.get_reader"] == "voxpick.napari.reader:get_reader"
    assert {w.command for w in manifest.contributions.widgets} == {
        "voxpick.locate_widget",
        "voxpick.pick_widget",
    }


def test_napari_finds_the_manifest_through_the_entry_point():
    pytest.importorskip("npe2")
    found = [e for e in metadata.entry_points(group="napari.manifest") if e.name == "voxpick"]
    assert found, (
        "voxpick declares no napari.manifest entry point: add it to pyproject.toml and "
        "reinstall (pip install -e .)"
    )
    assert found[0].value == "voxpick.napari:napari.yaml"
