"""RELION STAR and IMOD exports of picks: conventions checked against hand-computed positions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voxpick.io import (
    point2model_command,
    read_star,
    read_submission,
    write_imod_model,
    write_imod_points,
    write_picks_csv,
    write_star,
)

starfile = pytest.importorskip("starfile")

SHAPE = (40, 64, 100)  # z, y, x: every axis a different size, so a swap shows
VS = (12.0, 10.0, 10.0)  # anisotropic, z coarser


def _picks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "particle_type": ["ribosome", "apo-ferritin", "ribosome"],
            "z": [20.0, 0.0, 39.5],
            "y": [32.0, 10.25, 0.0],
            "x": [50.0, 99.0, 3.5],
            "score": [0.9, 0.5, 0.25],
        }
    )


def test_relion5_star_is_centred_angstrom_in_x_y_z_order(tmp_path: Path) -> None:
    path = write_star(
        tmp_path / "p.star", _picks(), voxel_size=VS, tomo_name="TS_1", shape=SHAPE,
        classes=["apo-ferritin", "ribosome"],
    )  # fmt: skip
    df = starfile.read(path, always_dict=True)["particles"]
    assert list(df.columns) == [
        "rlnTomoName", "rlnCenteredCoordinateXAngst", "rlnCenteredCoordinateYAngst",
        "rlnCenteredCoordinateZAngst", "rlnClassNumber", "voxpickParticleType",
        "rlnAutopickFigureOfMerit",
    ]  # fmt: skip
    # the tomogram centre (z 20, y 32, x 50 voxels) is at 0 A
    np.testing.assert_allclose(df.iloc[0, 1:4].to_numpy(float), [0.0, 0.0, 0.0])
    # (99 - 100/2) * 10, (10.25 - 64/2) * 10, (0 - 40/2) * 12
    np.testing.assert_allclose(df.iloc[1, 1:4].to_numpy(float), [490.0, -217.5, -240.0])
    np.testing.assert_allclose(df.iloc[2, 1:4].to_numpy(float), [-465.0, -320.0, 234.0])
    assert df["rlnClassNumber"].tolist() == [2, 1, 2]
    assert df["voxpickParticleType"].tolist() == ["ribosome", "apo-ferritin", "ribosome"]
    assert set(df["rlnTomoName"]) == {"TS_1"}
    np.testing.assert_allclose(df["rlnAutopickFigureOfMerit"], [0.9, 0.5, 0.25])
    back = read_star(path, voxel_size=VS, shape=SHAPE)
    np.testing.assert_allclose(back[["z", "y", "x"]], _picks()[["z", "y", "x"]], atol=1e-6)
    assert back["particle_type"].tolist() == _picks()["particle_type"].tolist()
    assert back["experiment"].tolist() == ["TS_1"] * 3


def test_relion4_star_is_pixels_and_needs_no_shape(tmp_path: Path) -> None:
    path = write_star(tmp_path / "p.star", _picks(), voxel_size=VS, tomo_name="TS_1", relion=4)
    df = starfile.read(path, always_dict=True)["particles"]
    assert "rlnCenteredCoordinateXAngst" not in df.columns
    np.testing.assert_allclose(df["rlnCoordinateX"], [50.0, 99.0, 3.5])
    np.testing.assert_allclose(df["rlnCoordinateY"], [32.0, 10.25, 0.0])
    np.testing.assert_allclose(df["rlnCoordinateZ"], [20.0, 0.0, 39.5])
    assert df["rlnClassNumber"].tolist() == [2, 1, 2]  # default: names sorted
    back = read_star(path, voxel_size=VS)
    np.testing.assert_allclose(back[["z", "y", "x"]], _picks()[["z", "y", "x"]], atol=1e-6)


def test_star_without_picks_has_the_columns(tmp_path: Path) -> None:
    empty = _picks().iloc[:0]
    path = write_star(tmp_path / "e.star", empty, voxel_size=10, tomo_name="T", shape=SHAPE)
    df = starfile.read(path, always_dict=True)["particles"]
    assert len(df) == 0 and "rlnCenteredCoordinateZAngst" in df.columns


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"relion": 3}, "relion=3 is unknown"),
        ({"shape": None}, "shape is needed"),
        ({"shape": (10, 10)}, "shape=(10, 10) is invalid"),
        ({"tomo_name": "TS 1"}, "tomo_name='TS 1' is not a valid name"),
        ({"classes": ["ribosome"]}, "not in classes"),
        ({"voxel_size": -1}, "must be > 0"),
    ],
)
def test_star_refuses_bad_input_and_writes_nothing(kwargs, message, tmp_path: Path) -> None:
    args = {"voxel_size": VS, "tomo_name": "TS_1", "shape": SHAPE, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_star(tmp_path / "p.star", _picks(), **args)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.drop(columns="particle_type"), "missing columns"),
        (lambda p: p.assign(x=[1.0, np.nan, 2.0]), "NaN or infinite"),
        (lambda p: p.assign(score=[1.0, np.inf, 2.0]), "NaN or infinite scores"),
        (lambda p: p.assign(particle_type=["a", "", "b"]), "without a particle_type"),
        (lambda p: p.assign(particle_type=["a b", "c", "d"]), "contain whitespace"),
    ],
)
def test_bad_picks_are_refused_by_every_writer(change, message, tmp_path: Path) -> None:
    bad = change(_picks())
    old = tmp_path / "old.star"
    old.write_text("previous")
    with pytest.raises(ValueError, match=message):
        write_star(old, bad, voxel_size=VS, tomo_name="T", shape=SHAPE)
    with pytest.raises(ValueError, match=message):
        write_imod_points(tmp_path / "p.txt", bad)
    assert old.read_text() == "previous"  # left untouched, no temporary left beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.star"]


def test_imod_point_file_is_object_contour_x_y_z_in_imod_coordinates(tmp_path: Path) -> None:
    path = write_imod_points(tmp_path / "p.txt", _picks(), classes=["ribosome", "apo-ferritin"])
    lines = path.read_text().splitlines()
    rows = [line.split() for line in lines]
    assert all(len(r) == 5 for r in rows)
    # objects in order (point2model needs them so), numbered from 1 in `classes` order
    assert [r[:2] for r in rows] == [["1", "1"], ["1", "1"], ["2", "1"]]
    xyz = np.array([[float(v) for v in r[2:]] for r in rows])
    # IMOD: the centre of voxel (z, y, x) is at (x + 0.5, y + 0.5, z)
    np.testing.assert_allclose(xyz, [[50.5, 32.5, 20.0], [4.0, 0.5, 39.5], [99.5, 10.75, 0.0]])


def test_imod_point_file_refuses_no_picks(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs at least one point"):
        write_imod_points(tmp_path / "p.txt", _picks().iloc[:0])
    assert not (tmp_path / "p.txt").exists()


def test_point2model_command_is_whole_and_quoted() -> None:
    cmd = point2model_command(
        "my picks.txt", "out.mod", n_classes=2, sphere_px=5.6, image="TS 1.mrc"
    )
    assert cmd == (
        "point2model -scat -sphere 6 -image 'TS 1.mrc' -color 0,255,0 -color 255,0,255 "
        "'my picks.txt' out.mod"
    )


def test_imod_model_round_trip(tmp_path: Path) -> None:
    imodmodel = pytest.importorskip("imodmodel")
    path = write_imod_model(
        tmp_path / "p.mod", _picks(), shape=SHAPE, voxel_size=VS,
        classes=["apo-ferritin", "ribosome", "thyroglobulin"],
        sphere_px={"apo-ferritin": 6.0, "ribosome": 15.0},
    )  # fmt: skip
    model = imodmodel.ImodModel.from_file(path)
    assert (model.header.xmax, model.header.ymax, model.header.zmax) == (100, 64, 40)
    assert model.header.pixelsize == 10.0 and model.header.units == -10  # Angstrom
    assert model.header.zscale == pytest.approx(1.2)
    names = [o.header.name for o in model.objects]
    assert names == ["apo-ferritin", "ribosome", "thyroglobulin"]  # empty class kept
    assert [o.header.pdrawsize for o in model.objects[:2]] == [6, 15]
    assert all(o.header.flags.scattered for o in model.objects)
    df = imodmodel.read(path)
    ribosomes = df[df["object_id"] == 1][["x", "y", "z"]].to_numpy()
    np.testing.assert_allclose(ribosomes, [[50.5, 32.5, 20.0], [4.0, 0.5, 39.5]])


def test_picks_csv_keeps_czii_columns_first(tmp_path: Path) -> None:
    picks = _picks().assign(experiment="TS_1")
    path = write_picks_csv(tmp_path / "p.csv", picks, voxel_size=VS)
    assert path.read_text().splitlines()[0] == (
        "id,experiment,particle_type,x,y,z,score,x_px,y_px,z_px"
    )
    back = read_submission(path)
    np.testing.assert_allclose(back["z"], [240.0, 0.0, 474.0])  # Angstrom
    np.testing.assert_allclose(back["x"], [500.0, 990.0, 35.0])
    np.testing.assert_allclose(back["z_px"], [20.0, 0.0, 39.5])
    np.testing.assert_allclose(back["score"], [0.9, 0.5, 0.25])
