from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("copick")

from voxpick.io import (
    list_runs,
    open_project,
    particle_objects,
    read_picks,
    read_tomogram,
    write_picks,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),  # zarr warns about copick's codecs
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ome_zarr.*"),
]


def _project(tmp_path: Path) -> Path:
    config = {
        "config_type": "filesystem",
        "name": "test",
        "pickable_objects": [
            {"name": "ribosome", "is_particle": True, "label": 1, "radius": 150.0},
            {"name": "apo-ferritin", "is_particle": True, "label": 2, "radius": 60.0},
            {"name": "membrane", "is_particle": False, "label": 3},
        ],
        "overlay_root": "local://" + str(tmp_path / "overlay"),
        "static_root": "local://" + str(tmp_path / "static"),
        "overlay_fs_args": {"auto_mkdir": True},
    }
    path = tmp_path / "copick.json"
    path.write_text(json.dumps(config))
    return path


def _tomogram() -> np.ndarray:
    # non-cubic, so a swapped axis changes the shape
    return np.arange(4 * 6 * 10, dtype=np.float32).reshape(4, 6, 10)


@pytest.fixture
def project(tmp_path: Path) -> Any:
    root = open_project(_project(tmp_path))
    run = root.new_run("TS_1")
    run.new_voxel_spacing(10.012).new_tomogram("wbp").from_numpy(_tomogram(), levels=2)
    root.new_run("TS_2")
    return root


def _picks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "particle_type": ["ribosome", "apo-ferritin", "ribosome"],
            "z": [10.5, 20.0, 30.25],
            "y": [100.0, 200.0, 300.0],
            "x": [1000.0, 2000.0, 3000.125],
            "score": [0.9, 0.8, 0.7],
        }
    )


def test_objects_and_runs(project: Any, tmp_path: Path) -> None:
    objects = particle_objects(project).set_index("name")
    assert objects.loc["ribosome", "radius_A"] == 150.0
    assert objects.loc["apo-ferritin", "label"] == 2
    assert bool(objects.loc["ribosome", "is_particle"])
    assert not bool(objects.loc["membrane", "is_particle"])
    assert objects["radius_A"].isna()["membrane"]
    assert list_runs(project) == ["TS_1", "TS_2"]
    assert list_runs(tmp_path / "copick.json") == ["TS_1", "TS_2"]  # path works too


def test_read_tomogram_axes_and_voxel_size(project: Any, tmp_path: Path) -> None:
    vol, voxel_size = read_tomogram(project, "TS_1")
    assert vol.shape == (4, 6, 10)
    np.testing.assert_array_equal(vol, _tomogram())
    assert voxel_size == pytest.approx((10.012,) * 3)
    vol1, voxel_size1 = read_tomogram(
        open_project(tmp_path / "copick.json"),
        "TS_1",
        voxel_spacing=10.012,
        tomo_type="wbp",
        level=1,
    )
    assert vol1.shape == (2, 3, 5)
    assert voxel_size1 == pytest.approx((20.024,) * 3)


def test_read_tomogram_errors_list_what_exists(project: Any) -> None:
    with pytest.raises(ValueError, match=r"voxel_spacing=7.0 .*\[10.012\]"):
        read_tomogram(project, "TS_1", voxel_spacing=7.0)
    with pytest.raises(ValueError, match=r"tomo_type='denoised' .*\['wbp'\]"):
        read_tomogram(project, "TS_1", tomo_type="denoised")
    with pytest.raises(ValueError, match=r"run='TS_9' .*\['TS_1', 'TS_2'\]"):
        read_tomogram(project, "TS_9")
    with pytest.raises(ValueError, match=r"TS_2.* has no voxel_spacing"):
        read_tomogram(project, "TS_2")
    with pytest.raises(ValueError, match="level=2 is out of range"):
        read_tomogram(project, "TS_1", level=2)


def test_picks_round_trip_in_angstrom(project: Any, tmp_path: Path) -> None:
    write_picks(project, "TS_1", _picks())
    files = sorted(p.name for p in (tmp_path / "overlay/ExperimentRuns/TS_1/Picks").iterdir())
    assert files == ["voxpick_0_apo-ferritin.json", "voxpick_0_ribosome.json"]
    # copick stores x, y, z: check the file itself, so swapped axes cannot cancel out
    stored = json.loads(
        (tmp_path / "overlay/ExperimentRuns/TS_1/Picks/voxpick_0_ribosome.json").read_text()
    )
    assert stored["points"][1]["location"] == {"x": 3000.125, "y": 300.0, "z": 30.25}
    fresh = open_project(tmp_path / "copick.json")
    out = read_picks(fresh, "TS_1").sort_values(["particle_type", "z"], ignore_index=True)
    assert list(out.columns) == [
        "experiment",
        "particle_type",
        "z",
        "y",
        "x",
        "score",
        "user_id",
        "session_id",
    ]
    expected = _picks().sort_values(["particle_type", "z"], ignore_index=True)
    for col in ("particle_type", "z", "y", "x", "score"):
        assert out[col].tolist() == expected[col].tolist()
    assert set(out["experiment"]) == {"TS_1"}
    assert set(out["user_id"]) == {"voxpick"}
    assert set(out["session_id"]) == {"0"}
    only = read_picks(fresh, "TS_1", object_name="apo-ferritin")
    assert only["x"].tolist() == [2000.0]
    assert len(read_picks(fresh, "TS_1", user_id="someone")) == 0


def test_read_picks_adds_transform_translation(project: Any) -> None:
    picks = project.get_run("TS_1").new_picks("ribosome", session_id="1", user_id="alice")
    transform = np.eye(4)[None].repeat(1, axis=0)
    transform[0, :3, 3] = [1.0, 2.0, 3.0]  # x, y, z shift in Angstrom
    picks.from_numpy(np.array([[100.0, 200.0, 300.0]]), transforms=transform)
    out = read_picks(project, "TS_1", user_id="alice")
    assert out[["z", "y", "x"]].to_numpy().tolist() == [[303.0, 202.0, 101.0]]
    assert out["score"].tolist() == [1.0]


def test_write_picks_refusals_write_nothing(project: Any, tmp_path: Path) -> None:
    bad = _picks()
    bad.loc[1, "particle_type"] = "proteasome"
    with pytest.raises(
        ValueError, match=r"\['proteasome'\].*\['apo-ferritin', 'membrane', 'ribosome'\]"
    ):
        write_picks(project, "TS_1", bad)
    nan = _picks()
    nan.loc[0, "y"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_picks(project, "TS_1", nan)
    with pytest.raises(ValueError, match=r"experiments \['TS_2'\].*run='TS_1'"):
        write_picks(project, "TS_1", _picks().assign(experiment="TS_2"))
    with pytest.raises(ValueError, match="missing columns"):
        write_picks(project, "TS_1", _picks().drop(columns="z"))
    with pytest.raises(ValueError, match="session_id='a/b'"):
        write_picks(project, "TS_1", _picks(), session_id="a/b")
    assert not (tmp_path / "overlay/ExperimentRuns/TS_1/Picks").exists()
    assert len(read_picks(project, "TS_1")) == 0


def test_existing_picks_need_overwrite(project: Any) -> None:
    write_picks(project, "TS_1", _picks())
    with pytest.raises(ValueError, match="overwrite=True"):
        write_picks(project, "TS_1", _picks().iloc[:1])
    write_picks(project, "TS_1", _picks().iloc[:1], overwrite=True)
    out = read_picks(project, "TS_1")
    assert sorted(out["particle_type"]) == ["apo-ferritin", "ribosome"]  # others left alone
    assert out.loc[out["particle_type"] == "ribosome", "x"].tolist() == [1000.0]


def test_existing_picks_message_names_them(project: Any) -> None:
    from voxpick.io.copick_project import refuse_existing_picks

    write_picks(project, "TS_1", _picks(), session_id="3")
    refuse_existing_picks(project, "TS_1", ["ribosome"], user_id="voxpick", session_id="4")
    with pytest.raises(ValueError, match=r"session_id='3': ribosome \(2 points\)") as err:
        refuse_existing_picks(
            project, "TS_1", ["ribosome", "membrane"], user_id="voxpick", session_id="3"
        )
    assert "--overwrite" in str(err.value) and "--session-id" in str(err.value)


def test_reading_a_copick_tomogram_raises_no_numcodecs_warning(project: Any) -> None:
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_tomogram(project, "TS_1")
    assert not [w for w in caught if "Numcodecs" in str(w.message)]
    with warnings.catch_warnings(record=True) as caught:  # other zarr warnings still show
        warnings.simplefilter("always")
        warnings.warn_explicit("Numcodecs other", UserWarning, "x.py", 1, module="zarr.core")
    assert len(caught) == 1


def test_open_project_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.json"):
        open_project(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        open_project(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text('{"config_type": "filesystem"}')
    with pytest.raises(ValueError, match="not a valid copick config"):
        open_project(tmp_path / "empty.json")
    with pytest.raises(TypeError, match="copick JSON config"):
        open_project(42)


def test_importing_voxpick_io_does_not_import_copick() -> None:
    code = "import sys, voxpick.io; print('copick' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_copick_gives_install_hint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "copick", None)
    with pytest.raises(ImportError, match=r"pip install 'voxpick\[cryoet\]'"):
        open_project(_project(tmp_path))
