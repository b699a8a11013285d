import numpy as np
import pytest

from voxpick.simulate import CHALLENGE_METADATA_COLUMNS, simulate_dataset, simulate_volume
from voxpick.simulate.noise import noise_levels


def _masks(sim, core_frac=0.5, far=3.0):
    """Voxels deep inside particles, and voxels far from every particle."""
    shape = sim.volume.shape
    occupied = np.zeros(shape, bool)
    core = np.zeros(shape, bool)
    zz, yy, xx = np.indices(shape)
    for z, y, x, r in sim.truth[["z", "y", "x", "r"]].to_numpy():
        d2 = (zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2
        core |= d2 < (core_frac * r) ** 2
        occupied |= d2 < (r + far) ** 2
    edge = np.zeros(shape, bool)
    m = int(sim.metadata["r"]) + 4
    edge[m:-m, m:-m, m:-m] = True  # ignore faces: particles outside the view blur in
    return core & edge, ~occupied & edge


@pytest.mark.parametrize(
    ("snr", "cnr", "invert"), [(8.0, 4.0, False), (4.0, 2.0, False), (6.0, 3.0, True)]
)
def test_volume_statistics_match_requested_snr_and_cnr(snr, cnr, invert):
    brightness = 60.0 if invert else 150.0
    sim = simulate_volume(
        64,
        radius=7.0,
        volfrac=0.08,
        particle_size=1.5,
        brightness=brightness,
        snr=snr,
        cnr=cnr,
        brightness_spread=0.0,
        blur_sigma=0.0,
        invert=invert,
        rng=11,
    )
    core, background = _masks(sim)
    assert core.sum() > 500 and background.sum() > 5000
    v = sim.volume.astype(float)
    f_mean, f_sigma = v[core].mean(), v[core].std()
    b_mean, b_sigma = v[background].mean(), v[background].std()
    measured_snr = f_mean / f_sigma
    measured_cnr = abs(f_mean - b_mean) / np.sqrt((f_sigma**2 + b_sigma**2) / 2)
    assert measured_snr == pytest.approx(snr, rel=0.10)
    assert measured_cnr == pytest.approx(cnr, rel=0.10)
    assert sim.metadata["b_mean"] == pytest.approx(b_mean, rel=0.05)
    assert sim.metadata["f_sigma"] == pytest.approx(f_sigma, rel=0.10)
    assert sim.metadata["b_sigma"] == pytest.approx(b_sigma, rel=0.10)


def test_noise_levels_solve_the_definitions():
    for snr, cnr, inv in [(3, 3, False), (10, 1, False), (2, 2.5, False), (5, 4, True)]:
        b, fs, bs = noise_levels(100.0, snr=snr, cnr=cnr, invert=inv)
        assert 100.0 / fs == pytest.approx(snr)
        assert abs(100.0 - b) / np.sqrt((fs**2 + bs**2) / 2) == pytest.approx(cnr)
        assert (b > 100.0) == inv
    with pytest.raises(ValueError, match="cnr=5"):
        noise_levels(100.0, snr=3, cnr=5)


def test_truth_is_exact_and_subvoxel():
    sim = simulate_volume(48, radius=5.0, volfrac=0.2, snr=50, cnr=20, particle_size=1.0, rng=4)
    t = sim.truth
    assert len(t) == sim.metadata["n_particles"] > 10
    assert list(t.columns[:4]) == ["z", "y", "x", "r"]
    assert np.all((t[["z", "y", "x"]] >= -0.5) & (t[["z", "y", "x"]] < 47.5))
    frac = t[["z", "y", "x"]].to_numpy() % 1.0
    assert 0.2 < frac.std() < 0.4  # sub-voxel, not snapped to the grid
    # at high SNR each particle's intensity-weighted centroid is within a fraction of a voxel
    v = sim.volume.astype(float) - sim.metadata["b_mean"]
    inner = t[(t[["z", "y", "x"]] > 8).all(axis=1) & (t[["z", "y", "x"]] < 40).all(axis=1)]
    zz, yy, xx = np.indices(v.shape)
    errs = []
    for z, y, x in inner[["z", "y", "x"]].to_numpy():
        m = (zz - z) ** 2 + (yy - y) ** 2 + (xx - x) ** 2 < 3.5**2
        w = np.clip(v[m], 0, None)
        c = np.array([(zz[m] * w).sum(), (yy[m] * w).sum(), (xx[m] * w).sum()]) / w.sum()
        errs.append(np.linalg.norm(c - [z, y, x]))
    assert np.median(errs) < 0.3


def test_psf_elongates_particles_along_z():
    sim = simulate_volume(
        64, radius=5.0, volfrac=0.05, particle_size=0.2, snr=100, cnr=50, psf_aspect=3.0, rng=2
    )
    assert sim.metadata["psf_sigma_z"] > 2.5 * sim.metadata["psf_sigma_x"]
    v = sim.volume.astype(float)
    # autocorrelation width is larger along z than along x
    f = np.fft.rfftn(v - v.mean())
    ac = np.fft.irfftn(np.abs(f) ** 2, s=v.shape, axes=(0, 1, 2))
    ac /= ac[0, 0, 0]
    assert ac[4, 0, 0] > ac[0, 0, 4] + 0.1


def test_reproducible_from_metadata_seed_and_metadata_columns():
    a = simulate_volume(32, radius=4.0, volfrac=0.3, rng=np.random.default_rng(5))
    b = simulate_volume(32, radius=4.0, volfrac=0.3, rng=a.metadata["seed"])
    np.testing.assert_array_equal(a.volume, b.volume)
    for col in (*CHALLENGE_METADATA_COLUMNS, "n_particles", "seed"):
        assert col in a.metadata


def test_gradient_and_dark_particles():
    sim = simulate_volume(48, radius=5.0, volfrac=0.2, gradient=0.5, snr=20, cnr=10, rng=1)
    v = sim.volume.astype(float)
    assert v[-5:].mean() < 0.7 * v[:5].mean()
    dark = simulate_volume(
        48, radius=5.0, volfrac=0.2, brightness=50, invert=True, snr=20, cnr=10, rng=1
    )
    core, background = _masks(dark)
    assert dark.volume[core].mean() < dark.volume[background].mean() - 20


def test_polydisperse_truth_radii_and_oversampling_changes_image():
    sim = simulate_volume(48, radius=5.0, volfrac=0.3, polydispersity=0.1, rng=3)
    assert sim.truth["r"].std() > 0.2
    a = simulate_volume(32, radius=4.0, oversample=1, snr=1e3, cnr=10, rng=3)
    b = simulate_volume(32, radius=4.0, oversample=3, snr=1e3, cnr=10, rng=3)
    np.testing.assert_allclose(a.truth[["z", "y", "x"]], b.truth[["z", "y", "x"]])
    assert np.abs(a.volume.astype(int) - b.volume.astype(int)).max() > 0


def test_dataset_draws_parameters_in_ranges():
    from voxpick.simulate import ParameterRanges

    ranges = ParameterRanges.from_values(volfrac=(0.2, 0.3), radius=4.0, snr=(4, 6), cnr=(1, 3))
    sims = list(simulate_dataset(3, shape=24, ranges=ranges, rng=0))
    assert len(sims) == 3
    for s in sims:
        assert 0.2 <= s.metadata["volfrac"] <= 0.3 and s.metadata["r"] == 4.0
        assert s.volume.shape == (24, 24, 24)
    assert len({s.metadata["seed"] for s in sims}) == 3
    with pytest.raises(ValueError, match="volfrac"):
        ParameterRanges.from_values(volfrac=(0.5, 0.1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"volfrac": 0.7}, "volfrac=0.7"),
        ({"radius": -2.0}, "radius=-2.0"),
        ({"radius": 20.0}, "smaller than the particle diameter"),
        ({"snr": 2.0, "cnr": 5.0}, "cnr=5.0"),
        ({"layout": "foam"}, "layout='foam'"),
        ({"brightness": float("nan")}, "brightness=nan"),
    ],
)
def test_bad_simulation_input_is_a_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_volume(32, **kwargs)


def test_particle_size_is_the_radius_as_in_the_challenge():
    # the challenge's simulator: pixel size = particle_size * 1000 / r nm; 0.2 um FWHM PSF
    sim = simulate_volume(32, radius=8, volfrac=0.1, particle_size=0.25, blur_sigma=0.0, rng=0)
    assert sim.metadata["psf_sigma_y"] / 8 == pytest.approx(0.34, abs=0.005)
    assert sim.metadata["psf_sigma_z"] == pytest.approx(2.5 * sim.metadata["psf_sigma_x"])
    # the default extra blur (0.5 px) adds in quadrature: still about 0.34 r
    default = simulate_volume(32, radius=8, volfrac=0.1, particle_size=0.25, rng=0)
    assert default.metadata["psf_sigma_x"] / 8 == pytest.approx(0.345, abs=0.005)
    # the PSF in voxels scales as r / particle_size: halving the radius in um doubles it
    half = simulate_volume(32, radius=8, volfrac=0.1, particle_size=0.125, blur_sigma=0.0, rng=0)
    assert half.metadata["psf_sigma_x"] == pytest.approx(2 * sim.metadata["psf_sigma_x"])
