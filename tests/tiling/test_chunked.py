"""Block-by-block runs against the whole-volume detector, on every input kind and scheduler."""

from __future__ import annotations

from functools import partial

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import zarr

import voxpick.tiling.chunked as chunked
from voxpick.api import locate
from voxpick.io import read_positions
from voxpick.simulate import simulate_volume

locate_classical = partial(locate, method="classical")
locate_chunked = partial(locate, chunks=256)

ZYX = ["z", "y", "x"]


def interior(df: pd.DataFrame, shape, margin) -> pd.DataFrame:
    """Rows whose owner voxel is at least ``margin`` from every face of the volume, sorted."""
    p = np.floor(df[ZYX].to_numpy() + 0.5)
    ok = np.all((p >= margin) & (p < np.asarray(shape) - margin), axis=1)
    return df[ok].sort_values(ZYX).reset_index(drop=True)


def near_internal_border(df: pd.DataFrame, chunks, shape, within) -> int:
    """How many detections lie within ``within`` voxels of a border between two cores."""
    p = df[ZYX].to_numpy()
    hits = np.zeros(len(p), bool)
    for ax in range(3):
        for edge in range(chunks[ax], shape[ax], chunks[ax]):
            hits |= np.abs(p[:, ax] - (edge - 0.5)) < within
    return int(hits.sum())


@pytest.fixture(scope="module")
def aniso():
    # odd, non-cubic shape; particles elongated along z (anisotropic diameter)
    return simulate_volume((53, 75, 83), radius=3.5, volfrac=0.45, psf_aspect=2.0, rng=11)


@pytest.fixture(scope="module")
def small():
    return simulate_volume((41, 50, 47), radius=3, volfrac=0.35, rng=12)


def compare(whole, tiled, shape, diameter, *, tol=1e-5):
    """Same particles, same numbers, away from the volume's own faces (see docs/scale.md)."""
    margin = np.ceil(np.broadcast_to(np.asarray(diameter, float), 3)) + 2
    a, b = interior(whole, shape, margin), interior(tiled, shape, margin)
    assert len(a) == len(b) > 50
    assert list(a.columns) == list(b.columns)
    diff = np.abs(a[ZYX].to_numpy() - b[ZYX].to_numpy())
    # float32 FFTs of different sizes round differently (about 2e-7 of the response): positions
    # agree to a few 1e-6 voxel (median ~4e-7), small particles (flatter peaks) to ~1e-4
    assert np.median(diff) < tol / 5 and diff.max() < tol
    np.testing.assert_allclose(b["score"], a["score"], rtol=1e-4)
    np.testing.assert_allclose(b["background"], a["background"], rtol=1e-4, atol=1e-3)
    # and over the whole volume nearly everything agrees too
    assert abs(len(whole) - len(tiled)) <= 0.02 * len(whole)


def test_auto_parameters_match_the_whole_volume(aniso):
    d = (9, 7, 7)
    whole = locate_classical(aniso.volume, diameter=d)
    tiled = locate_chunked(
        aniso.volume, diameter=d, method="classical", chunks=(20, 24, 28), progress=False
    )
    for key in ("noise", "z_blur_px", "threshold"):
        assert tiled.attrs[key] == pytest.approx(whole.attrs[key], rel=1e-12), key
    assert tiled.attrs["chunks"] == (20, 24, 30)  # multiples of half a diameter (4, 3, 3)
    assert tiled.attrs["n_blocks"] == 3 * 4 * 3
    assert near_internal_border(tiled, tiled.attrs["chunks"], aniso.volume.shape, 2.0) > 40
    compare(whole, tiled, aniso.volume.shape, d)
    # no duplicates: every pair of detections at least half the separation apart
    p = tiled[ZYX].to_numpy() / np.asarray(d)
    dist = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1)) + np.eye(len(p)) * 9
    assert dist.min() > 0.2


def test_fixed_parameters_and_z_deconvolution(aniso):
    kw = {"threshold": 3.5, "noise": 12.0, "z_blur": 1.2, "min_relative": 0.0}
    whole = locate_classical(aniso.volume, diameter=(9, 7, 7), **kw)
    tiled = locate_chunked(
        aniso.volume, diameter=(9, 7, 7), method="classical", chunks=24, progress=False, **kw
    )
    assert tiled.attrs["overlap"][0] > tiled.attrs["overlap"][1]  # z halo covers the Wiener tail
    assert (tiled["snr"] >= 3.5).all() and (tiled["score"] >= 1.0).all()
    compare(whole, tiled, aniso.volume.shape, (9, 7, 7))


def test_units_and_dark_particles(small):
    vol = 255 - small.volume
    whole = locate_classical(vol, diameter=0.6, voxel_size=0.1, invert=True)
    tiled = locate_chunked(
        vol, diameter=0.6, voxel_size=0.1, invert=True, chunks=16, progress=False
    )
    compare(whole, tiled, vol.shape, 6, tol=3e-4)


def test_numpy_dask_zarr_and_paths_give_identical_tables(small, tmp_path):
    ref = locate_chunked(small.volume, diameter=6, chunks=24, progress=False)
    z = zarr.open_array(
        str(tmp_path / "v.zarr"),
        mode="w",
        shape=small.volume.shape,
        chunks=(16, 16, 16),
        dtype="uint8",
    )
    z[...] = small.volume
    np.save(tmp_path / "v.npy", small.volume)
    inputs = [
        da.from_array(small.volume, chunks=(10, 30, 20)),
        z,
        tmp_path / "v.zarr",
        str(tmp_path / "v.npy"),
    ]
    for obj in inputs:
        pd.testing.assert_frame_equal(
            locate_chunked(obj, diameter=6, chunks=24, progress=False), ref
        )
    single = locate_chunked(
        small.volume, diameter=6, chunks=24, scheduler="synchronous", progress=True
    )
    pd.testing.assert_frame_equal(single, ref)


def test_distributed_cluster(small, tmp_path):
    distributed = pytest.importorskip("distributed")
    ref = locate_chunked(small.volume, diameter=6, chunks=24, progress=False)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got = locate_chunked(small.volume, diameter=6, chunks=24, client=client, progress=False)
        pd.testing.assert_frame_equal(got, ref)
        out = tmp_path / "p.csv"
        dz = da.from_array(small.volume, chunks=20)
        got = locate_chunked(
            dz, diameter=6, chunks=24, scheduler=cluster.scheduler_address, out=out, progress=False
        )
        pd.testing.assert_frame_equal(got, ref)
        pd.testing.assert_frame_equal(read_positions(out), ref)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_interrupted_run_resumes_and_gives_the_same_table(small, tmp_path, monkeypatch, suffix):
    kw = {"diameter": 6, "chunks": 16, "progress": False, "scheduler": "synchronous"}
    ref = locate_chunked(small.volume, **kw)
    out = tmp_path / f"picks{suffix}"
    parts = tmp_path / f"picks{suffix}.parts"
    real = chunked.find_in_block
    calls = []

    def crash_on_fifth(data, **k):
        calls.append(1)
        if len(calls) == 5:
            raise MemoryError("simulated crash")
        return real(data, **k)

    monkeypatch.setattr(chunked, "find_in_block", crash_on_fifth)
    with pytest.raises(MemoryError, match="simulated crash"):
        locate_chunked(small.volume, out=out, **kw)
    assert not out.exists()
    done = sorted(p.name for p in parts.glob("b*"))
    assert len(done) == 4 and (parts / "manifest.json").is_file()
    (parts / done[1]).unlink()  # lose one more, as if killed mid-way
    assert not list(parts.glob(".*"))  # no half-written part left behind

    calls.clear()
    monkeypatch.setattr(
        chunked, "find_in_block", lambda data, **k: (calls.append(1), real(data, **k))[1]
    )
    got = locate_chunked(small.volume, out=out, **kw)
    n_blocks = ref.attrs["n_blocks"]
    assert len(calls) == n_blocks - 3  # only the blocks without a part ran
    pd.testing.assert_frame_equal(got, ref)
    pd.testing.assert_frame_equal(read_positions(out), ref)
    assert not parts.exists()


def test_resume_refuses_parts_of_another_run(small, tmp_path):
    out = tmp_path / "p.csv"
    parts = tmp_path / "p.csv.parts"
    parts.mkdir()
    (parts / "manifest.json").write_text('{"method": "other"}\n')
    with pytest.raises(ValueError, match=r"different run .*Delete the directory"):
        locate_chunked(small.volume, diameter=6, chunks=24, out=out, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "magic"}, ValueError, "method='magic' is unknown"),
        ({"out": "p.txt"}, ValueError, "expected .csv or .parquet"),
        ({"overlap": 2}, ValueError, "narrower than one particle diameter"),
        ({"scheduler": "gpu"}, ValueError, "scheduler='gpu' is not usable"),
        ({"chunks": -3}, ValueError, "chunks=-3"),
        ({"threshold": -1.0}, ValueError, "threshold=-1.0"),
        ({"diameter": 500}, ValueError, "larger than the volume"),
    ],
)
def test_bad_arguments_fail_before_any_block(small, kwargs, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = {"diameter": 6, "method": "classical", "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        locate_chunked(small.volume, **args)
    assert not list(tmp_path.iterdir())


def test_unet_method_block_by_block():
    from scipy.spatial import cKDTree

    from voxpick.api import locate

    sim = simulate_volume((48, 64, 56), radius=4, volfrac=0.4, snr=8, cnr=5, rng=0)
    whole = locate(sim.volume, diameter=8, method="unet")
    tiled = locate_chunked(sim.volume, diameter=8, method="unet", chunks=32, progress=False)
    assert tiled.attrs["n_blocks"] == 8 and list(tiled.columns) == list(whole.columns)
    # per-block intensity normalisation: close to, not bit-equal with, the whole-volume run
    assert abs(len(tiled) - len(whole)) <= 0.02 * len(whole)
    dist, _ = cKDTree(tiled[ZYX].to_numpy()).query(whole[ZYX].to_numpy())
    assert np.mean(dist < 0.5) > 0.97


def test_voxpick_locate_routes_dask_and_zarr_arrays_block_by_block(tmp_path):
    import dask.array as da
    import zarr

    import voxpick
    from voxpick.simulate import simulate_volume

    sim = simulate_volume((40, 52, 48), radius=4, volfrac=0.4, snr=8, cnr=4, rng=5)
    whole = voxpick.locate(sim.volume, diameter=8)
    lazy = voxpick.locate(da.from_array(sim.volume, chunks=24), diameter=8, chunks=24)
    store = zarr.open_array(
        tmp_path / "v.zarr", mode="w", shape=sim.volume.shape, chunks=(16, 16, 16), dtype="u1"
    )
    store[:] = sim.volume
    on_disk = voxpick.locate(store, diameter=8, chunks=24)
    for found in (lazy, on_disk):
        assert list(found.columns[:4]) == ["z", "y", "x", "score"]
        assert abs(len(found) - len(whole)) <= 0.02 * len(whole)
