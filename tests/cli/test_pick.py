"""``voxpick train --copick`` and ``voxpick pick`` end to end on a small copick project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytest.importorskip("copick")

from voxpick.cli.app import app
from voxpick.io import open_project, read_picks, read_submission, write_mrc, write_picks
from voxpick.metrics.czii import CziiParticle, czii_score
from voxpick.simulate import ParticleClass, simulate_tomogram

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

VOXEL_A = 10.0
CLASSES = (ParticleClass("small", 40.0, count=8), ParticleClass("large", 80.0, count=5))
RUNS = ("TS_1", "TS_2", "TS_3", "TS_4")
TINY = {"model": {"channels": [8, 16, 32], "strides": [2, 2], "num_res_units": 0}}


def _tomogram(seed: int) -> tuple[np.ndarray, pd.DataFrame]:
    vol, truth = simulate_tomogram(
        (40, 48, 48), classes=CLASSES, voxel_size=VOXEL_A, defocus_um=None, snr=2.0, rng=seed
    )
    picks = truth[["particle_type"]].assign(z=truth["z_A"], y=truth["y_A"], x=truth["x_A"])
    return vol, picks


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, dict[str, pd.DataFrame]]:
    base = tmp_path_factory.mktemp("copick")
    config = {
        "config_type": "filesystem",
        "name": "voxpick-test",
        "pickable_objects": [
            {"name": "small", "is_particle": True, "label": 1, "radius": 40.0},
            {"name": "large", "is_particle": True, "label": 2, "radius": 80.0},
            {"name": "membrane", "is_particle": False, "label": 3},
        ],
        "overlay_root": "local://" + str(base / "overlay"),
        "static_root": "local://" + str(base / "static"),
        "overlay_fs_args": {"auto_mkdir": True},
    }
    path = base / "copick.json"
    path.write_text(json.dumps(config))
    root = open_project(path)
    truths = {}
    for i, name in enumerate(RUNS):
        vol, picks = _tomogram(100 + i)
        run = root.new_run(name)
        run.new_voxel_spacing(VOXEL_A).new_tomogram("wbp").from_numpy(vol)
        write_picks(root, name, picks.assign(experiment=name), user_id="curator")
        truths[name] = picks.assign(experiment=name)
    return path, truths


@pytest.fixture(scope="module")
def trained(project, tmp_path_factory) -> Path:
    config, _ = project
    out = tmp_path_factory.mktemp("picker")
    cfg = out / "cfg.json"
    cfg.write_text(json.dumps({**TINY, "patch": 32, "lr": 3e-3, "warmup": 20, "seed": 3}))
    result = CliRunner().invoke(
        app,
        [
            "train", "--copick", str(config), "--out", str(out), "--runs", "TS_1,TS_2",
            "--validation-runs", "TS_3", "--user-id", "curator", "--steps", "300",
            "--config", str(cfg), "--threads", "2", "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out / "picker"


def test_train_copick_writes_a_picker_with_validated_thresholds(trained) -> None:
    info = json.loads(trained.with_suffix(".json").read_text())
    assert info["format"] == "voxpick-picker"
    assert [c["name"] for c in info["classes"]] == ["small", "large"]  # membrane is no particle
    assert info["voxel_size"] == VOXEL_A
    assert info["thresholds_chosen_on"] == ["TS_3"] and not info["thresholds_on_training_runs"]
    assert info["threshold_rule"] == "calibrated"
    assert info["trained_on"] == ["TS_1", "TS_2"]
    assert all(0.0 < t < 1.0 for t in info["thresholds"].values())


def test_pick_copick_run_writes_csv_and_copick_picks(project, trained, tmp_path) -> None:
    config, truths = project
    out = tmp_path / "picks.csv"
    result = CliRunner().invoke(
        app,
        [
            "pick", "--copick", str(config), "--run", "TS_4", "--model", str(trained),
            "-o", str(out), "--write-back", "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    header = "id,experiment,particle_type,x,y,z,score,x_px,y_px,z_px"
    assert out.read_text().splitlines()[0] == header
    sub = read_submission(out)
    assert sub["score"].between(0, 1).all()
    np.testing.assert_allclose(sub["x"], sub["x_px"] * VOXEL_A)
    assert set(sub["experiment"]) == {"TS_4"} and len(sub) > 0
    assert sub["z"].between(-VOXEL_A, 40 * VOXEL_A).all()  # Angstrom, z is the short axis
    assert sub["x"].max() > 40 * VOXEL_A
    back = read_picks(open_project(config), "TS_4", user_id="voxpick")
    assert len(back) == len(sub)
    parts = [CziiParticle(c.name, c.radius_A, 1) for c in CLASSES]
    score, table = czii_score(truths["TS_4"], sub, particles=parts)
    assert score > 0.5, table  # a 300-step toy model on held-out data: plumbing, not accuracy


def test_pick_mrc_file_uses_header_voxel_size(trained, tmp_path) -> None:
    vol, _ = _tomogram(200)
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=VOXEL_A)
    result = CliRunner().invoke(
        app, ["pick", str(tmp_path / "t.mrc"), "--model", str(trained), "-o",
              str(tmp_path / "a.csv"), "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    a = read_submission(tmp_path / "a.csv")
    assert set(a["experiment"]) == {"t"}
    # the same volume declared at twice the voxel size is resampled: positions stay in A
    result = CliRunner().invoke(
        app, ["pick", str(tmp_path / "t.mrc"), "--model", str(trained), "-o",
              str(tmp_path / "b.csv"), "--voxel-size", "20", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    b = read_submission(tmp_path / "b.csv")
    assert b["x"].max() > 1.5 * a["x"].max()


def test_pick_refuses_ambiguous_or_empty_requests(trained, tmp_path) -> None:
    runner = CliRunner()
    both = runner.invoke(app, ["pick", "x.mrc", "--copick", "c.json", "-o", "p.csv"])
    assert both.exit_code == 2 and "either a TOMOGRAM" in both.output
    nothing = runner.invoke(app, ["pick", "x.mrc", "--model", str(trained)])
    assert nothing.exit_code == 2 and "nothing to write" in nothing.output
    np.save(tmp_path / "v.npy", np.zeros((16, 16, 16), np.float32))
    no_size = runner.invoke(
        app, ["pick", str(tmp_path / "v.npy"), "--model", str(trained), "-o", "p.csv"]
    )
    assert no_size.exit_code == 2 and "--voxel-size" in no_size.output


def test_pick_tta_flag_reaches_the_picker(trained, tmp_path) -> None:
    from voxpick.cryoet import pick
    from voxpick.io import picks_to_angstrom

    vol, _ = _tomogram(201)
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=VOXEL_A)
    result = CliRunner().invoke(
        app, ["pick", str(tmp_path / "t.mrc"), "--model", str(trained), "-o",
              str(tmp_path / "a.csv"), "--tta", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = read_submission(tmp_path / "a.csv")
    want = picks_to_angstrom(
        pick(vol, model=str(trained), voxel_size=VOXEL_A, tta=True),
        voxel_size=VOXEL_A,
    )
    plain = pick(vol, model=str(trained), voxel_size=VOXEL_A)
    assert len(got) == len(want) > 0
    np.testing.assert_allclose(got[["z", "y", "x"]].to_numpy(), want[["z", "y", "x"]].to_numpy(),
                               atol=1e-2)  # fmt: skip
    assert not np.array_equal(plain["score"].to_numpy(), want["score"].to_numpy()[: len(plain)])


def test_train_copick_refuses_an_unknown_threshold_rule_before_training(project, tmp_path) -> None:
    config, _ = project
    result = CliRunner().invoke(
        app,
        ["train", "--copick", str(config), "--out", str(tmp_path / "p"), "--steps", "5",
         "--threshold-rule", "best", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "threshold_rule='best' is unknown" in result.output
    assert not (tmp_path / "p").exists()  # refused before any training output


def test_pick_writes_star_imod_and_czii_files_that_agree(trained, tmp_path) -> None:
    starfile = pytest.importorskip("starfile")
    vol, _ = _tomogram(202)
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=VOXEL_A)
    outs = [tmp_path / n for n in ("p.csv", "p.star", "p.txt")]
    args = ["pick", str(tmp_path / "t.mrc"), "--model", str(trained), "--no-progress", "--czii"]
    result = CliRunner().invoke(app, [*args, *(a for o in outs for a in ("-o", str(o)))])
    assert result.exit_code == 0, result.output
    sub = read_submission(outs[0])
    assert list(sub.columns) == ["id", "experiment", "particle_type", "x", "y", "z"]
    star = starfile.read(outs[1], always_dict=True)["particles"]
    assert len(star) == len(sub) > 0 and set(star["rlnTomoName"]) == {"t"}
    centre_A = np.array(vol.shape)[::-1] / 2 * VOXEL_A  # x, y, z
    np.testing.assert_allclose(
        star[[f"rlnCenteredCoordinate{a}Angst" for a in "XYZ"]].to_numpy(),
        sub[["x", "y", "z"]].to_numpy() - centre_A, atol=1e-4,
    )  # fmt: skip
    assert star["voxpickParticleType"].tolist() == sub["particle_type"].tolist()
    assert star["rlnClassNumber"].isin([1, 2]).all()
    points = np.loadtxt(outs[2], ndmin=2)
    assert points.shape == (len(sub), 5)
    assert "point2model -scat" in result.output and "1 small, 2 large" in result.output


def test_pick_refuses_bad_outputs_before_picking(trained, tmp_path) -> None:
    vol, _ = _tomogram(203)
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=VOXEL_A)
    runner = CliRunner()
    base = ["pick", str(tmp_path / "t.mrc"), "--model", str(trained), "--no-progress"]
    for extra, message in [
        (["-o", str(tmp_path / "p.json")], "suffix '.json'"),
        (["-o", str(tmp_path / "p.star"), "--czii"], "--czii applies to .csv outputs"),
        (["-o", str(tmp_path / "p.csv"), "-o", str(tmp_path / "p.csv")], "same file twice"),
        (["-o", str(tmp_path / "p.csv"), "--overwrite"], "--overwrite applies to --write-back"),
        (["-o", str(tmp_path / "p.star"), "--experiment", "TS 1"], "has whitespace"),
        (["-o", str(tmp_path / "p.star"), "--relion", "3"], "equal to 4"),
        (["--report", str(tmp_path / "r.txt")], "must end in .html"),
        (["-o", str(tmp_path / "p.csv"), "--truth", str(tmp_path / "t.mrc")], "used by --report"),
        (["--report", str(tmp_path / "r.html"), "--truth-user", "me"], "needs --copick"),
    ]:
        result = runner.invoke(app, [*base, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.output, (extra, result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.mrc"]


def test_write_back_refuses_to_replace_picks_without_overwrite(project, trained, tmp_path) -> None:
    config, _ = project
    runner = CliRunner()
    base = ["pick", "--copick", str(config), "--run", "TS_3", "--model", str(trained),
            "--write-back", "--session-id", "7", "--no-progress"]  # fmt: skip
    first = runner.invoke(app, base)
    assert first.exit_code == 0, first.output
    before = read_picks(open_project(config), "TS_3", user_id="voxpick", session_id="7")
    assert len(before) > 0
    again = runner.invoke(app, [*base, "-o", str(tmp_path / "p.csv")])
    assert again.exit_code == 2
    assert "already has picks" in again.output and "--overwrite" in again.output
    assert "small (" in again.output  # names what exists, and how many points
    assert not (tmp_path / "p.csv").exists()  # refused before picking: nothing written
    after = read_picks(open_project(config), "TS_3", user_id="voxpick", session_id="7")
    pd.testing.assert_frame_equal(before, after)
    report = tmp_path / "r.html"
    replaced = runner.invoke(
        app, [*base, "--overwrite", "--report", str(report), "--truth-user", "curator"]
    )
    assert replaced.exit_code == 0, replaced.output
    assert "Mean F-beta" in report.read_text()
    final = read_picks(open_project(config), "TS_3", user_id="voxpick", session_id="7")
    assert len(final) == len(before)  # replaced, not appended


def test_pick_report_with_truth(trained, tmp_path) -> None:
    from voxpick.io import write_submission

    vol, truth = _tomogram(204)
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=VOXEL_A)
    write_submission(tmp_path / "sol.csv", truth.assign(experiment="t"))
    base = ["pick", str(tmp_path / "t.mrc"), "--model", str(trained), "--no-progress",
            "--report", str(tmp_path / "r.html"), "--truth", str(tmp_path / "sol.csv")]  # fmt: skip
    wrong = CliRunner().invoke(app, [*base, "--experiment", "TS_x"])
    assert wrong.exit_code == 2 and "no rows of experiment 'TS_x'" in wrong.output
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert f"{len(truth)} true particles" in result.output
    page = (tmp_path / "r.html").read_text()
    assert "Mean F-beta" in page and "<h2>small</h2>" in page and "<h2>large</h2>" in page


def test_second_stage_flag_reaches_the_picker(tmp_path) -> None:
    from voxpick.cryoet import load_picker, pick
    from voxpick.io import picks_to_angstrom

    vol, _ = _tomogram(202)
    write_mrc(tmp_path / "t.mrc", vol, voxel_size=VOXEL_A)
    shipped = load_picker(device="cpu")
    assert shipped.info.get("classifier") is not None  # the default carries a second stage
    for flag, classifier in (("--second-stage", None), ("--no-second-stage", False)):
        out = tmp_path / f"{flag}.csv"
        result = CliRunner().invoke(
            app, ["pick", str(tmp_path / "t.mrc"), "-o", str(out), flag, "--no-progress"]
        )
        assert result.exit_code == 0, result.output
        want = picks_to_angstrom(
            pick(vol, model=shipped, voxel_size=VOXEL_A, classifier=classifier),
            voxel_size=VOXEL_A,
        )
        got = read_submission(out)
        assert len(got) == len(want)
        np.testing.assert_allclose(got["score"].to_numpy(), want["score"].to_numpy(), atol=1e-4)
    # the two differ: the second stage changes class shares, hence scores
    with_stage = read_submission(tmp_path / "--second-stage.csv")
    without = read_submission(tmp_path / "--no-second-stage.csv")
    assert len(with_stage) != len(without) or not np.allclose(
        with_stage["score"].to_numpy(), without["score"].to_numpy()
    )
