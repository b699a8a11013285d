import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.patches import Ellipse

from voxpick.plot import classify, plot_orthogonal, plot_slice


def ellipses(ax):
    return [p for p in ax.patches if isinstance(p, Ellipse)]


def test_cross_section_of_an_anisotropic_particle():
    vol = np.zeros((20, 30, 30))
    diam = (8.0, 4.0, 6.0)  # semi-axes 4, 2, 3
    pos = np.array([[10.0, 15, 15], [12.0, 5, 5], [15.0, 20, 20]])  # 0, 2 and 5 from z = 10
    ax = plot_slice(vol, pos, diameter=diam, axis=0, index=10)
    (full, shrunk) = ellipses(ax)  # the particle 5 away (> semi-axis 4) is not drawn
    assert (full.width, full.height) == pytest.approx((6.0, 4.0))  # x then y extent
    factor = np.sqrt(1 - (2 / 4) ** 2)
    assert (shrunk.width, shrunk.height) == pytest.approx((6.0 * factor, 4.0 * factor))
    assert full.center == pytest.approx((15.0, 15.0))
    # a z-x slice shows the z elongation as the height
    ax = plot_slice(vol, pos, diameter=diam, axis=1, index=15)
    (e,) = ellipses(ax)
    assert (e.width, e.height) == pytest.approx((6.0, 8.0))
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "z"


def test_truth_colours_found_false_and_missed():
    vol = np.zeros((16, 32, 32))
    truth = np.array([[8.0, 8, 8], [8.0, 20, 20]])
    det = np.array([[8.0, 8, 9], [8.0, 8, 26]])  # first found, second false; 2nd truth missed
    found, hit = classify(det, truth, diameter=6.0)
    assert found.tolist() == [True, False] and hit.tolist() == [True, False]
    ax = plot_slice(vol, det, diameter=6.0, truth=truth, axis=0, index=8)
    by_colour = {}
    for e in ellipses(ax):
        by_colour.setdefault(matplotlib.colors.to_hex(e.get_edgecolor()), []).append(e.center)
    assert by_colour[matplotlib.colors.to_hex("tab:orange")] == [(9.0, 8.0)]
    assert by_colour[matplotlib.colors.to_hex("red")] == [(26.0, 8.0)]
    assert by_colour[matplotlib.colors.to_hex("cyan")] == [(20.0, 20.0)]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["found (1)", "false (1)", "missed (1)"]


def test_anisotropic_matching_uses_the_ellipsoid():
    truth = np.array([[10.0, 10, 10]])
    det = np.array([[13.0, 10, 10]])  # 3 voxels off in z: inside half of a 8-voxel z diameter
    assert classify(det, truth, diameter=(8.0, 4.0, 4.0))[0].tolist() == [True]
    assert classify(det, truth, diameter=4.0)[0].tolist() == [False]


def test_orthogonal_panels_through_a_point():
    vol = np.random.default_rng(0).random((10, 20, 30))
    det = np.array([[4.0, 7, 12]])
    axes = plot_orthogonal(vol, det, diameter=4.0, point=(4, 7, 12), voxel_size=(2, 1, 1))
    assert len(axes) == 3
    assert [a.get_title() for a in axes] == ["z = 4", "y = 7", "x = 12"]
    assert [a.images[0].get_array().shape for a in axes] == [(20, 30), (10, 30), (10, 20)]
    assert all(len(ellipses(a)) == 1 for a in axes)
    assert axes[1].get_aspect() == pytest.approx(2.0)  # z voxels twice as deep
    assert axes[0].figure is axes[2].figure
    with pytest.raises(ValueError, match="outside the volume along y"):
        plot_orthogonal(vol, det, diameter=4.0, point=(4, 70, 12))


def test_orthogonal_uses_given_axes():
    from matplotlib.figure import Figure

    fig = Figure()
    given = fig.subplots(3, 1)
    axes = plot_orthogonal(np.zeros((8, 8, 8)), None, diameter=3.0, axes=given)
    assert list(axes) == list(given)
