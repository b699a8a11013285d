"""The renderer, the image model measured from a volume, and the Fisher information."""

from __future__ import annotations

import numpy as np
import pytest

from voxpick.refinement.estimate import estimate_model, measurement_box
from voxpick.refinement.fisher import particle_covariance
from voxpick.refinement.model import Canvas, ImageModel
from voxpick.refinement.render import pull_back, render, render_tangent
from voxpick.simulate import simulate_volume
from voxpick.simulate.render import render_occupancy


def test_spheres_render_as_the_simulator_draws_them():
    centres = np.array([[20.3, 19.7, 20.1], [9.2, 27.5, 13.9]])
    radii = np.array([5.0, 5.5])
    levels = np.array([100.0, 80.0])
    ours = render((40, 40, 40), centres, radii / 5.0, levels, (5.0, 5.0, 5.0))
    theirs = render_occupancy((40, 40, 40), centres, radii, levels, oversample=2)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)


@pytest.mark.parametrize("semi_axes", [(5.0, 5.0, 5.0), (7.0, 5.0, 4.5)])
def test_tangent_and_pull_back_are_the_derivative_and_its_transpose(semi_axes):
    rng = np.random.default_rng(0)
    centres = np.array([[20.3, 19.7, 20.1], [11.2, 27.5, 13.9]])
    sizes = np.array([1.0, 1.1])
    amps = np.array([1.0, 0.8])
    steps = rng.normal(size=(2, 5))
    eps = 1e-4

    def shifted(sign):
        s = sign * eps * steps
        return render((40, 40, 40), centres + s[:, :3], sizes + s[:, 4], amps + s[:, 3], semi_axes)

    numeric = (shifted(1).astype(float) - shifted(-1)) / (2 * eps)
    tangent = render_tangent((40, 40, 40), centres, sizes, amps, steps, semi_axes)
    # central differences cross the kinks of the anti-aliasing ramp: compare in sum
    assert np.abs(numeric - tangent).sum() < 0.02 * np.abs(tangent).sum()
    q = rng.normal(size=(40, 40, 40)).astype(np.float32)
    grad = pull_back(q, centres, sizes, amps, semi_axes)
    assert (grad * steps).sum() == pytest.approx(float((q * tangent).sum()), rel=1e-4)


@pytest.fixture(scope="module")
def sim():
    return simulate_volume(80, radius=5, volfrac=0.4, particle_size=0.3, snr=6, cnr=3, rng=2)


def test_image_model_is_measured_from_the_volume(sim):
    md = sim.metadata
    rng = np.random.default_rng(1)
    pos = sim.positions + rng.normal(0, 0.4, sim.positions.shape)  # detections, not the truth
    box = measurement_box(sim.volume.shape, (10.0, 10.0, 10.0))
    data = sim.volume[box].astype(np.float32)
    model = estimate_model(
        data, box, sim.volume.shape, pos, (10.0, 10.0, 10.0), limits=(0.0, 255.0)
    )
    true_sigma = (md["psf_sigma_z"], md["psf_sigma_y"], md["psf_sigma_x"])
    np.testing.assert_allclose(model.psf_sigma, true_sigma, rtol=0.12)
    assert model.size == pytest.approx(1.0, abs=0.03)  # radius 5 voxels, as told
    assert model.size_spread == 0.0  # monodisperse
    assert model.background[0] == pytest.approx(md["b_mean"], abs=0.1 * md["b_mean"])
    # brightness above the background (with 10% spread and clipping at 255)
    assert model.brightness == pytest.approx(md["brightness"] - md["b_mean"], rel=0.3)
    # shot noise: variance grows with intensity
    assert model.noise[1] > 0


def test_local_fisher_matches_the_full_fisher_matrix():
    sim = simulate_volume(36, radius=5, volfrac=0.45, particle_size=0.3, snr=5, cnr=3, rng=3)
    md, t = sim.metadata, sim.truth
    model = ImageModel(
        semi_axes=(5.0, 5.0, 5.0), size=1.0, size_spread=0.0,
        psf_sigma=(md["psf_sigma_z"], md["psf_sigma_y"], md["psf_sigma_x"]),
        background=(md["b_mean"], 0.0, 0.0, 0.0), brightness=md["brightness"] - md["b_mean"],
        noise=(1 / 12, md["f_sigma"] ** 2 / md["brightness"]), shape=sim.volume.shape,
    )  # fmt: skip
    canvas = Canvas(sim.volume.astype(np.float32), (0, 0, 0), model)
    pos, amp = sim.positions, t["brightness"].to_numpy() - md["b_mean"]
    size = np.ones(len(t))
    weights = 1.0 / model.variance(canvas.expected(pos, amp, size))
    columns = []
    for i in range(len(t)):
        for j in range(4):
            step = np.zeros((len(t), 5))
            step[i, j] = 1.0
            columns.append(canvas.tangent(pos, amp, size, step).ravel())
    jac = np.array(columns)
    exact = np.linalg.inv((jac * weights.ravel()) @ jac.T)
    exact_sd = np.sqrt(np.diag(exact).reshape(-1, 4)[:, :3])
    cov = particle_covariance(model, weights, pos, amp, free_size=False)
    ours = np.sqrt(cov[:, [0, 1, 2], [0, 1, 2]])
    isolated = np.sqrt(1.0 / np.diag((jac * weights.ravel()) @ jac.T).reshape(-1, 4)[:, :3])
    inner = np.all((pos > 5) & (pos < 30), axis=1)
    ratio = ours[inner] / exact_sd[inner]
    assert 0.9 < np.median(ratio) < 1.1 and ratio.min() > 0.75
    # neighbours matter: one particle alone would claim far too small an uncertainty
    assert np.median(isolated[inner] / exact_sd[inner]) < 0.85
