from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from voxpick.io import (
    ROWS_PER_IMAGE,
    ChallengeDataset,
    ChallengeDatasetWriter,
    ChallengeIndexError,
    parse_dim_order,
    read_challenge_metadata,
    read_challenge_positions,
    read_challenge_volume,
    write_challenge_dataset,
)


def _data(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray], list[dict]]:
    rng = np.random.default_rng(seed)
    shape = (6, 10, 12)
    volumes = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3)]
    # awkward floats: tiny, huge, negative, 1/3 — all must survive the CSV bit-exactly
    tricky = np.array([[1 / 3, 2 / 3, 0.1], [1e-300, -2.5e-7, 123456789.123456789]])
    positions = [
        np.vstack([rng.uniform(0, 10, (15, 3)), tricky]),
        np.zeros((0, 3)),
        rng.uniform(-5, 12, (ROWS_PER_IMAGE, 3)),
    ]
    metadata = [
        {
            "volfrac": float(rng.uniform(0.1, 0.5)),
            "r": 5.5,
            "particle_size": 0.7 + i,
            "brightness": 200 + i,
            "SNR": 1 / 3,
            "CNR": 1.25,
            "b_sigma": 20.0,
            "f_sigma": 15.0,
            "n_particles": len(positions[i]),
            "seed": i,
        }
        for i in range(3)
    ]
    return volumes, positions, metadata


def _files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.rglob("*"))


def test_exact_round_trip(tmp_path: Path) -> None:
    volumes, positions, metadata = _data()
    paths = write_challenge_dataset(tmp_path / "ds", volumes, positions, metadata)
    assert {k: p.name for k, p in paths.items()} == {
        "x": "x.hdf5",
        "y": "y.csv",
        "metadata": "metadata.csv",
    }
    for i in range(3):
        vol = read_challenge_volume(paths["x"], i)
        assert vol.dtype == np.uint8
        np.testing.assert_array_equal(vol, volumes[i])
        pos = read_challenge_positions(paths["y"], i)
        assert pos.shape == positions[i].shape
        assert np.array_equal(pos, positions[i])  # bit-exact, not approx
    meta = read_challenge_metadata(paths["metadata"])
    pd.testing.assert_frame_equal(meta, pd.DataFrame(metadata))

    ds = ChallengeDataset(tmp_path / "ds")
    assert len(ds) == 3
    for i, (vol, pos, row) in enumerate(ds):
        np.testing.assert_array_equal(vol, volumes[i])
        assert np.array_equal(pos, positions[i])
        assert row == metadata[i]
    vol, pos, row = ds[-1]
    assert len(pos) == ROWS_PER_IMAGE and row["seed"] == 2


def test_raw_csv_layout(tmp_path: Path) -> None:
    volumes, positions, metadata = _data()
    paths = write_challenge_dataset(tmp_path, volumes, positions, metadata)
    assert paths["y"].read_text().splitlines()[0] == "image_index,Z,X,Y"
    raw = pd.read_csv(paths["y"])
    assert list(raw.columns) == ["image_index", "Z", "X", "Y"]
    assert raw.groupby("image_index").size().to_dict() == {0: 2000, 1: 2000, 2: 2000}
    assert raw["image_index"].dtype == np.int64
    filled = raw[["Z", "X", "Y"]].notna().all(axis=1).groupby(raw["image_index"]).sum()
    assert filled.to_dict() == {0: 17, 1: 0, 2: 2000}
    # padding rows are fully empty fields, after the particles
    img0 = raw[raw.image_index == 0]
    assert img0.iloc[17:][["Z", "X", "Y"]].isna().all().all()
    assert "\n0,,,\n" in paths["y"].read_text()
    # default dim_order ZXY: column X holds axis 1 (our y), column Y axis 2 (our x)
    np.testing.assert_array_equal(img0.iloc[:17][["Z", "X", "Y"]].to_numpy(), positions[0])
    # metadata: first column is the image index
    meta = pd.read_csv(paths["metadata"], index_col=0)
    assert list(meta.index) == [0, 1, 2]
    assert {"volfrac", "r", "particle_size", "brightness", "SNR", "CNR"} <= set(meta.columns)


@pytest.mark.parametrize("order", ["".join(p) for p in itertools.permutations("ZXY")])
def test_dim_order_permutations(tmp_path: Path, order: str) -> None:
    pos = np.array([[1.0, 2.0, 3.0], [4.5, 5.5, 6.5]])
    vol = np.zeros((4, 5, 6), np.uint8)
    paths = write_challenge_dataset(tmp_path, [vol], [pos], [{"r": 1.0}], dim_order=order)
    raw = pd.read_csv(paths["y"]).dropna()
    for axis, letter in enumerate(order):
        np.testing.assert_array_equal(raw[letter].to_numpy(), pos[:, axis])
    assert np.array_equal(read_challenge_positions(paths["y"], 0, dim_order=order), pos)
    assert np.array_equal(ChallengeDataset(tmp_path, dim_order=order.lower())[0][1], pos)


def test_parse_dim_order() -> None:
    assert parse_dim_order("ZXY") == ("Z", "X", "Y")
    assert parse_dim_order("zyx") == ("Z", "Y", "X")
    for bad in ["ZXX", "ZX", "ABC", "ZXYZ", ""]:
        with pytest.raises(ValueError, match="permutation of the letters Z, X, Y"):
            parse_dim_order(bad)


def test_streaming_writer(tmp_path: Path) -> None:
    volumes, positions, metadata = _data(1)
    with ChallengeDatasetWriter(tmp_path / "out", compression=None) as writer:
        for v, p, m in zip(volumes, positions, metadata, strict=True):
            writer.add(v, p, m)
        assert len(writer) == 3
        assert not (tmp_path / "out" / "x.hdf5").exists()  # published only on exit
    ds = ChallengeDataset(tmp_path / "out")
    for i in range(3):
        vol, pos, row = ds[i]
        np.testing.assert_array_equal(vol, volumes[i])
        assert np.array_equal(pos, positions[i]) and row == metadata[i]
    assert _files(tmp_path / "out") == ["metadata.csv", "x.hdf5", "y.csv"]


def test_failure_leaves_nothing(tmp_path: Path) -> None:
    volumes, positions, metadata = _data()
    out = tmp_path / "new"
    with pytest.raises(RuntimeError, match="boom"), ChallengeDatasetWriter(out) as writer:
        writer.add(volumes[0], positions[0], metadata[0])
        raise RuntimeError("boom")
    assert not out.exists()  # no targets, no .part files, directory we created removed

    # existing targets are left untouched by a failed rewrite
    write_challenge_dataset(tmp_path, volumes[:1], positions[:1], metadata[:1])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    bad_positions = [positions[0], np.array([[1.0, np.nan, 2.0]])]
    with pytest.raises(ValueError, match="NaN"):
        write_challenge_dataset(tmp_path, volumes[:2], bad_positions, metadata[:2])
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before


def test_too_many_particles(tmp_path: Path) -> None:
    vol = np.zeros((4, 5, 6), np.uint8)
    with pytest.raises(ValueError, match=r"2001 particles.*write_positions"):
        write_challenge_dataset(tmp_path, [vol], [np.zeros((2001, 3))], [{}])
    assert _files(tmp_path) == []


def test_bad_inputs(tmp_path: Path) -> None:
    vol = np.zeros((4, 5, 6), np.uint8)
    with pytest.raises(ValueError, match="1 volumes but 2 position arrays"):
        write_challenge_dataset(tmp_path, [vol], [np.zeros((0, 3))] * 2, [{}])
    with pytest.raises(ValueError, match="metadata has 2 rows but there are 1 volumes"):
        write_challenge_dataset(tmp_path, [vol], [np.zeros((0, 3))], [{}, {}])
    with pytest.raises(ValueError, match=r"volumes\[0\] has shape \(5, 6\)"):
        write_challenge_dataset(tmp_path, [vol[0]], [np.zeros((0, 3))], [{}])
    with pytest.raises(TypeError, match="uint8"):
        write_challenge_dataset(tmp_path, [vol.astype(float)], [np.zeros((0, 3))], [{}])
    with pytest.raises(ValueError, match="dim_order='ZQY'"):
        write_challenge_dataset(tmp_path, [vol], [np.zeros((0, 3))], [{}], dim_order="ZQY")
    assert _files(tmp_path) == []
    with pytest.raises(RuntimeError, match="inside `with`"):
        ChallengeDatasetWriter(tmp_path).add(vol, np.zeros((0, 3)))


def test_missing_index_and_metadata_frame(tmp_path: Path) -> None:
    volumes, positions, metadata = _data()
    write_challenge_dataset(tmp_path, volumes, positions, pd.DataFrame(metadata))
    with pytest.raises(ChallengeIndexError, match=r"index 7.*holds 3 images"):
        read_challenge_volume(tmp_path / "x.hdf5", 7)
    with pytest.raises(IndexError, match=r"index 7.*holds 3 images"):
        read_challenge_positions(tmp_path / "y.csv", 7)
    with pytest.raises(ValueError, match="index 7"):  # also a ValueError for the CLI
        ChallengeDataset(tmp_path)[7]
    with pytest.raises(ValueError, match="non-negative integer"):
        read_challenge_volume(tmp_path / "x.hdf5", -1)
    pd.testing.assert_frame_equal(
        read_challenge_metadata(tmp_path / "metadata.csv"), pd.DataFrame(metadata)
    )
    with pytest.raises(FileNotFoundError, match=r"x\.hdf5"):
        ChallengeDataset(tmp_path / "nowhere")


def test_truncated_files(tmp_path: Path) -> None:
    volumes, positions, metadata = _data()
    paths = write_challenge_dataset(tmp_path, volumes, positions, metadata)
    x = paths["x"].read_bytes()
    bad_x = tmp_path / "bad.hdf5"
    bad_x.write_bytes(x[: len(x) // 2])
    with pytest.raises(OSError, match=r"bad\.hdf5.*truncated"):
        read_challenge_volume(bad_x, 0)

    lines = paths["y"].read_text().splitlines(keepends=True)
    bad_y = tmp_path / "bad.csv"
    bad_y.write_text("".join(lines[:10]) + lines[10][:8])  # cut mid-row
    with pytest.raises(ValueError, match=r"bad\.csv"):
        read_challenge_positions(bad_y, 0)
    bad_y.write_text("".join(lines[:2501]))  # header + 2500 rows: cut between rows
    with pytest.raises(ValueError, match=r"image 1 has 500 rows.*truncated"):
        read_challenge_positions(bad_y, 1)
    bad_y.write_text("image_index,Z,X\n0,1,2\n")
    with pytest.raises(ValueError, match=r"missing columns \['Y'\]"):
        read_challenge_positions(bad_y, 0)

    corrupt = lines.copy()
    corrupt[4] = "0,1.5,,\n"  # a row with only Z filled
    bad_y.write_text("".join(corrupt))
    with pytest.raises(ValueError, match=r"only some of Z, X, Y filled \(CSV line 5\)"):
        read_challenge_positions(bad_y, 0)


def test_failure_while_publishing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    volumes, positions, metadata = _data()
    out = tmp_path / "ds"

    def boom(self: pd.DataFrame, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), ChallengeDatasetWriter(out) as writer:
        writer.add(volumes[0], positions[0], metadata[0])
        monkeypatch.setattr(pd.DataFrame, "to_csv", boom)  # metadata.csv fails on exit
    assert not out.exists()
