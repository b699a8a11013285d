"""The band-pass roughness is computed without filtering, equal to the filtered one."""

import numpy as np
import pytest

from voxpick.detect.filters import log_filter, log_roughness


@pytest.mark.parametrize(
    ("shape", "sigma", "z_blur_var"),
    [((96, 96, 96), (2.0, 2.0, 2.0), 0.0), ((40, 57, 33), (3.0, 1.5, 1.5), 1.3),
     ((10, 96, 96), (1.0, 2.0, 2.0), 0.5)],
)  # fmt: skip
def test_roughness_without_filtering_equals_the_filters(shape, sigma, z_blur_var):
    volume = np.random.default_rng(0).random(shape, dtype=np.float32)
    filtered = log_filter(volume, sigma, z_blur_var=z_blur_var)
    assert log_roughness(shape, sigma, z_blur_var=z_blur_var) == filtered.roughness
    # it depends on the shape and the filter, not on the voxels
    assert log_filter(volume * 3 + 1, sigma, z_blur_var=z_blur_var).roughness == filtered.roughness
    assert log_roughness(shape, sigma) != log_roughness(shape, (4.0, 4.0, 4.0))
