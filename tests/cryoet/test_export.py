"""export_picks: the file format follows the suffix; bad requests are refused before writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voxpick.cryoet import export_picks, pick_file_format, read_star, read_submission

pytest.importorskip("starfile")

SHAPE = (30, 40, 50)


def _picks() -> pd.DataFrame:
    return pd.DataFrame(
        {"particle_type": ["b", "a"], "z": [15.0, 1.0], "y": [20.0, 2.0], "x": [25.0, 3.0],
         "score": [0.75, 0.5]}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "czii", "fmt"),
    [
        ("p.csv", False, "csv"),
        ("p.CSV", True, "czii"),
        ("p.star", False, "star"),
        ("p.txt", False, "imod-points"),
        ("p.pts", False, "imod-points"),
        ("p.mod", False, "imod-model"),
    ],
)
def test_format_follows_the_suffix(name: str, czii: bool, fmt: str) -> None:
    if fmt == "imod-model":
        pytest.importorskip("imodmodel")
    assert pick_file_format(name, czii=czii) == fmt


def test_unknown_suffix_and_czii_on_other_formats_are_refused() -> None:
    with pytest.raises(ValueError, match=r"suffix '\.json'.*\.csv"):
        pick_file_format("picks.json")
    with pytest.raises(ValueError, match=r"czii applies to \.csv files"):
        pick_file_format("picks.star", czii=True)


def test_export_writes_each_format(tmp_path: Path) -> None:
    kw = {"voxel_size": 10.0, "shape": SHAPE, "tomo_name": "TS_9", "classes": ["a", "b"]}
    export_picks(_picks(), tmp_path / "full.csv", **kw)
    export_picks(_picks(), tmp_path / "czii.csv", czii=True, **kw)
    export_picks(_picks(), tmp_path / "p.star", **kw)
    export_picks(_picks(), tmp_path / "p4.star", relion=4, **kw)
    export_picks(_picks(), tmp_path / "p.txt", **kw)
    full = read_submission(tmp_path / "full.csv")
    assert list(full.columns)[-4:] == ["score", "x_px", "y_px", "z_px"]
    assert set(full["experiment"]) == {"TS_9"}
    czii = (tmp_path / "czii.csv").read_text().splitlines()
    assert czii[0] == "id,experiment,particle_type,x,y,z"
    assert czii[1] == "0,TS_9,b,250.0,200.0,150.0"
    centred = read_star(tmp_path / "p.star", voxel_size=10.0, shape=SHAPE)
    pixels = read_star(tmp_path / "p4.star", voxel_size=10.0)
    for back in (centred, pixels):
        np.testing.assert_allclose(back[["z", "y", "x"]], _picks()[["z", "y", "x"]], atol=1e-6)
    # the first pick sits at the tomogram centre: 0 A in RELION 5
    assert (tmp_path / "p.star").read_text().count("0.000000\t0.000000\t0.000000") == 1
    assert (tmp_path / "p.txt").read_text().splitlines() == [
        "1 1 3.500 2.500 1.000",
        "2 1 25.500 20.500 15.000",
    ]
