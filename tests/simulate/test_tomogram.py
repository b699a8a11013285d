from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from scipy.spatial.distance import pdist

from voxpick.metrics.czii import CZII_PARTICLES
from voxpick.simulate import CZII_LIKE_CLASSES, ParticleClass, czii_layout, simulate_tomogram
from voxpick.simulate.particles import lobe_geometry, particle_patch, place_particles

CZII_CSV = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "cryoet-czii-picks"
    / "czii_train_picks.csv"
)
SPHERE = ParticleClass("sphere", 60.0, "sphere")


def _ball_mask(shape, truth, scale=1.0):
    zz, yy, xx = np.indices(shape)
    mask = np.zeros(shape, bool)
    for z, y, x, r in truth[["z", "y", "x", "radius_A"]].to_numpy():
        mask |= (zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 <= (scale * r / 10.0) ** 2
    return mask


def test_output_shape_dtype_normalisation_and_truth_columns():
    shape = (40, 64, 80)  # non-cubic: axis order must be kept
    vol, truth = simulate_tomogram(shape, counts=2, rng=0)
    assert vol.shape == shape and vol.dtype == np.float32
    assert np.isfinite(vol).all()
    assert abs(float(vol.mean())) < 1e-4 and abs(float(vol.std()) - 1.0) < 1e-4
    assert list(truth.columns) == [
        "particle_type", "z", "y", "x", "z_A", "y_A", "x_A", "radius_A",
    ]  # fmt: skip
    assert len(truth) == 12
    assert set(truth.particle_type) == {c.name for c in CZII_LIKE_CLASSES}
    for axis, n in zip("zyx", shape, strict=True):
        assert truth[axis].between(-0.5, n - 0.5).all()
        np.testing.assert_allclose(truth[f"{axis}_A"], truth[axis] * 10.0)
    # sub-voxel centres
    assert not np.allclose(truth[["z", "y", "x"]], np.rint(truth[["z", "y", "x"]]))
    assert truth.attrs["seed"] == 0 and truth.attrs["voxel_size"] == 10.0


def test_default_classes_match_czii_names_and_radii():
    assert [(c.name, c.radius_A) for c in CZII_LIKE_CLASSES] == [
        (p.name, p.radius_A) for p in CZII_PARTICLES
    ]
    shapes = {c.name: c.shape for c in CZII_LIKE_CLASSES}
    assert shapes["virus-like-particle"] == "shell" and shapes["ribosome"] == "lobed"
    assert shapes["thyroglobulin"] == "ellipsoid"


def test_reproducible_with_seed_and_generator():
    a, ta = simulate_tomogram(48, counts=1, rng=5)
    b, tb = simulate_tomogram(48, counts=1, rng=5)
    c, tc = simulate_tomogram(48, counts=1, rng=6)
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(ta, tb)
    assert not np.allclose(a, c)
    assert not np.allclose(ta[["z", "y", "x"]], tc[["z", "y", "x"]])
    d, td = simulate_tomogram(48, counts=1, rng=np.random.default_rng(3))
    e, _ = simulate_tomogram(48, counts=1, rng=td.attrs["seed"])
    np.testing.assert_array_equal(d, e)


def test_particles_are_dark_and_centres_are_local_minima():
    counts = {"apo-ferritin": 12, "beta-amylase": 12, "thyroglobulin": 8}
    vol, truth = simulate_tomogram((80, 128, 128), counts=counts, snr=20.0, rng=1)
    far = ~_ball_mask(vol.shape, truth, scale=1.5)
    shapes = {c.name: c.shape for c in CZII_LIKE_CLASSES}
    values, minima = [], []
    smoothed = {}
    for _, row in truth.iterrows():
        r = row.radius_A / 10.0
        if r not in smoothed:  # the CTF enhances edges; at the particle's scale, centres darkest
            smoothed[r] = ndimage.gaussian_filter(vol, 0.5 * r)
        smooth = smoothed[r]
        background = smooth[far]
        c = np.rint(row[["z", "y", "x"]].to_numpy(dtype=float)).astype(int)
        values.append((smooth[tuple(c)] - background.mean()) / background.std())
        h = int(r / 2)
        box = smooth[c[0] - h : c[0] + h + 1, c[1] - h : c[1] + h + 1, c[2] - h : c[2] + h + 1]
        centre = np.array([row.z, row.y, row.x])
        whole = (centre > r + 2).all() and (centre < np.array(vol.shape) - r - 3).all()
        if whole and shapes[row.particle_type] in ("sphere", "ellipsoid"):
            minima.append(smooth[tuple(c)] <= box.min() + 0.5 * smooth.std())
    truth["value"] = values
    solid = truth[truth.particle_type != "virus-like-particle"]
    per_class = solid.groupby("particle_type")["value"].mean()
    assert (per_class < -2.0).all(), per_class
    assert len(minima) >= 8 and np.mean(minima) >= 0.8
    # shells: dark wall, lighter centre
    smooth = ndimage.gaussian_filter(vol, 1.0)
    background = smooth[far]
    assert len(truth[truth.particle_type == "virus-like-particle"]) >= 1
    vlp = truth[truth.particle_type == "virus-like-particle"]
    centre = tuple(np.rint(vlp[["z", "y", "x"]].to_numpy()).astype(int).T)
    wall = vlp.copy()
    wall["x"] = wall["x"] + 0.85 * wall["radius_A"] / 10.0
    wall = wall[wall.x < vol.shape[2] - 1]
    widx = tuple(np.rint(wall[["z", "y", "x"]].to_numpy()).astype(int).T)
    assert smooth[widx].mean() < background.mean() - 2.0 * background.std()
    assert smooth[centre].mean() > smooth[widx].mean() + 2.0 * background.std()


def test_shells_are_hollow():
    vlp = ParticleClass("vlp", 135.0, "shell", thickness=0.25)
    for kw in ({"defocus_um": None, "bfactor": 0.0, "max_tilt": None}, {}):
        vol, truth = simulate_tomogram(64, classes=[vlp], counts=3, snr=None, rng=2, **kw)
        for z, y, x in np.rint(truth[["z", "y", "x"]].to_numpy()).astype(int):
            wall = vol[z, y, min(x + 12, 63)] if x + 12 < 64 else vol[z, y, max(x - 12, 0)]
            assert vol[z, y, x] > wall + 0.5


def test_no_overlap_at_realistic_crowding():
    vol, truth = simulate_tomogram((64, 128, 128), density_scale=12.0, rng=3)
    centres = truth[["z", "y", "x"]].to_numpy()
    radii = truth["radius_A"].to_numpy() / 10.0
    d = pdist(centres)
    i, j = np.triu_indices(len(radii), 1)
    assert (d >= radii[i] + radii[j] - 1e-9).all()
    fraction = (4 / 3 * np.pi * radii**3).sum() / vol.size
    assert fraction > 0.12  # labelled CZII picks fill ~2%; crowded cytoplasm 20-30%


def test_placement_reaches_dense_packing_with_mixed_radii():
    radii = np.repeat([3.0, 6.0, 13.5], [300, 60, 5])
    pos = place_particles((64, 96, 96), radii, min_gap=0.5, rng=0)
    fraction = (4 / 3 * np.pi * radii**3).sum() / (64 * 96 * 96)
    assert fraction > 0.22
    i, j = np.triu_indices(len(radii), 1)
    assert (pdist(pos) >= radii[i] + radii[j] + 0.5 - 1e-9).all()
    with pytest.raises(RuntimeError, match="density_scale"):
        place_particles((32, 32, 32), np.full(200, 5.0), rng=0, max_rounds=20)


def _fourier_power(vol):
    power = np.abs(np.fft.rfftn(vol)) ** 2
    kz = np.fft.fftfreq(vol.shape[0])[:, None, None]
    kx = np.fft.rfftfreq(vol.shape[2])[None, None, :]
    angle = np.degrees(np.arctan2(np.abs(kz), np.abs(kx)))  # 90 on the k_z axis
    return np.broadcast_to(power, power.shape), np.broadcast_to(angle, power.shape)


def test_missing_wedge_is_empty_in_fourier_space():
    vol, _ = simulate_tomogram((64, 64, 80), counts=2, max_tilt=60.0, rng=4)
    power, angle = _fourier_power(vol)
    inside = power[angle > 61.0]  # missing: within 90 - 60 degrees of the k_z axis
    measured = power[(angle < 59.0) & (power > 0)]
    assert inside.mean() < 1e-8 * measured.mean()
    full, _ = simulate_tomogram((64, 64, 80), counts=2, max_tilt=None, rng=4)
    power, angle = _fourier_power(full)
    assert power[angle > 61.0].mean() > 0.3 * power[angle < 59.0].mean()
    # the wedge smears particles along z (the beam) more than along x
    clean, truth = simulate_tomogram(
        64, classes=[SPHERE], counts=1, snr=None, defocus_um=None, bfactor=0.0, max_tilt=40.0,
        rng=1,
    )  # fmt: skip
    z, y, x = np.rint(truth[["z", "y", "x"]].to_numpy()[0]).astype(int)
    assert abs(clean[(z + 9) % 64, y, x]) > abs(clean[z, y, (x + 9) % 64])


def test_snr_sets_the_noise_level():
    kw = {"classes": [SPHERE], "counts": 25, "rng": 7}
    clean, truth = simulate_tomogram(64, snr=None, **kw)
    mask = _ball_mask(clean.shape, truth)
    noise_std = []
    for snr in (0.5, 2.0, 8.0):
        noisy, t = simulate_tomogram(64, snr=snr, **kw)
        pd.testing.assert_frame_equal(truth, t, check_like=True)
        a = float((noisy * clean).sum() / (clean * clean).sum())
        resid = noisy - a * clean
        measured = float(np.mean((a * clean[mask]) ** 2) / resid.var())
        assert measured == pytest.approx(snr, rel=0.05)
        assert float(resid.std()) == pytest.approx(t.attrs["noise_std"], rel=0.02)
        noise_std.append(t.attrs["noise_std"])
    assert noise_std[0] > noise_std[1] > noise_std[2]


def test_shapes_ellipsoid_is_oblong_and_lobes_fit():
    r = 8.0
    grid = np.arange(-10, 11, dtype=float)
    offsets = (grid[:, None, None], grid[None, :, None], grid[None, None, :])
    rot = np.eye(3)
    ell = particle_patch(ParticleClass("e", 80.0, "ellipsoid", aspect=2.0), offsets, r, rot)
    assert ell[:, 10, 10].sum() == pytest.approx(2 * r, abs=1.0)  # long axis along z here
    assert ell[10, :, 10].sum() == pytest.approx(r, abs=1.0)
    for lobes in (2, 3, 4):
        centres, radii = lobe_geometry(lobes)
        assert np.max(np.linalg.norm(centres, axis=1) + radii) == pytest.approx(1.0)
        np.testing.assert_allclose((radii[:, None] ** 3 * centres).sum(0), 0.0, atol=1e-12)
        patch = particle_patch(ParticleClass("l", 80.0, "lobed", lobes=lobes), offsets, r, rot)
        d2 = grid[:, None, None] ** 2 + grid[None, :, None] ** 2 + grid[None, None, :] ** 2
        assert patch[d2 > (r + 1) ** 2].max() == 0.0 and patch.sum() > 100


def test_explicit_layout_is_used_verbatim():
    layout = pd.DataFrame(
        {"particle_type": ["ribosome", "apo-ferritin"], "z": [20.25, 40.0], "y": [30.5, 10.0],
         "x": [50.75, 60.0]}
    )  # fmt: skip
    _, truth = simulate_tomogram((64, 64, 96), layout=layout, rng=0)
    np.testing.assert_allclose(truth[["z", "y", "x"]], layout[["z", "y", "x"]])
    assert list(truth.particle_type) == ["ribosome", "apo-ferritin"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"shape": (10, 20)}, ValueError, "shape"),
        ({"max_tilt": 0.0}, ValueError, "max_tilt"),
        ({"snr": -1.0}, ValueError, "snr"),
        ({"voxel_size": 100.0}, ValueError, "under 1 voxel"),
        ({"counts": {"ribosom": 2}}, ValueError, "ribosom"),
        ({"counts": -1}, ValueError, "counts"),
        ({"rng": "abc"}, TypeError, "rng"),
        ({"classes": []}, TypeError, "classes"),
        ({"layout": pd.DataFrame({"z": [1.0]})}, ValueError, "particle_type"),
        ({"layout": [[1, 2, 3]]}, TypeError, "DataFrame"),
        (
            {"layout": pd.DataFrame({"particle_type": ["x"], "z": [1], "y": [1], "x": [1]})},
            ValueError,
            "no class",
        ),
    ],
)
def test_bad_arguments_give_clear_errors(kwargs, error, match):
    shape = kwargs.pop("shape", 32)
    with pytest.raises(error, match=match):
        simulate_tomogram(shape, **kwargs)


def test_bad_particle_classes():
    with pytest.raises(ValueError, match="shape='cube'"):
        ParticleClass("a", 50.0, "cube")
    with pytest.raises(ValueError, match="lobes=5"):
        ParticleClass("a", 50.0, "lobed", lobes=5)
    with pytest.raises(ValueError, match="radius_A"):
        ParticleClass("a", -1.0)
    with pytest.raises(ValueError, match="thickness"):
        ParticleClass("a", 50.0, "shell", thickness=1.0)
    with pytest.raises(ValueError, match="duplicate"):
        simulate_tomogram(32, classes=[SPHERE, SPHERE])
    layout = pd.DataFrame({"particle_type": ["sphere"], "z": [1.0], "y": [1.0], "x": [1.0]})
    with pytest.raises(ValueError, match="both"):
        simulate_tomogram(32, classes=[SPHERE], layout=layout, counts=1)


def test_czii_layout_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="czii_train_picks"):
        czii_layout(tmp_path / "nope.csv")


@pytest.mark.data
@pytest.mark.skipif(not CZII_CSV.is_file(), reason="../shared/data/cryoet-czii-picks is absent")
def test_czii_layout_drives_the_simulation():
    everything = czii_layout(CZII_CSV)
    assert everything["experiment"].nunique() == 7
    with pytest.raises(ValueError, match="experiments"):
        simulate_tomogram((92, 315, 315), layout=everything, voxel_size=20.024)
    with pytest.raises(ValueError, match="TS_5_4"):
        czii_layout(CZII_CSV, experiment="nope")
    # half resolution keeps the test fast: (184, 630, 630) at 10.012 A -> (92, 315, 315)
    layout = czii_layout(CZII_CSV, experiment="TS_5_4", voxel_size=20.024)
    raw = pd.read_csv(CZII_CSV)
    raw = raw[raw.experiment == "TS_5_4"]
    np.testing.assert_allclose(layout["x"], raw["x"].to_numpy() / 20.024)
    vol, truth = simulate_tomogram((92, 315, 315), layout=layout, voxel_size=20.024, rng=0)
    assert len(truth) == len(raw) and vol.shape == (92, 315, 315)
    np.testing.assert_allclose(truth["x_A"], raw["x"].to_numpy())
    np.testing.assert_allclose(truth["z_A"], raw["z"].to_numpy())
