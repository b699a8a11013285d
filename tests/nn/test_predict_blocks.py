"""Block-by-block prediction: the cores tile the volume; a kept halo is the block's own output."""

import numpy as np
import pytest
import torch

from voxpick.ml import ModelSpec, build_model
from voxpick.nn.predict import predict_blocks, predict_channels


def tiny_net(seed=0):
    torch.manual_seed(seed)
    return build_model(ModelSpec(channels=(4, 8, 8), strides=(2, 2), num_res_units=0)).eval()


@pytest.mark.parametrize("border", [0, 4])
def test_cores_tile_the_volume_and_stitch_to_predict_channels(border):
    net = tiny_net()
    image = np.random.default_rng(0).random((37, 50, 29), dtype=np.float32)
    common = {"device": torch.device("cpu"), "size_multiple": 4, "tile": 16, "margin": 8}
    whole = predict_channels(image, net, border=border, **common)
    seen = np.zeros(image.shape, dtype=int)
    for where, maps, core in predict_blocks(image, net, border=border, keep=5, **common):
        assert maps.shape[1:] == tuple(w.stop - w.start for w in where)
        seen[where][core] += 1
        np.testing.assert_array_equal(
            maps[(slice(None), *core)], whole[(slice(None), *where)][(slice(None), *core)]
        )
        # the halo around the core lies in the volume and is at most `keep` deep
        for w, c, n in zip(where, core, image.shape, strict=True):
            assert 0 <= w.start and w.stop <= n
            assert c.start <= 5 and (w.stop - w.start) - c.stop <= 5
    assert np.all(seen == 1)


def test_a_halo_deeper_than_the_margin_is_refused():
    with pytest.raises(ValueError, match="keep=9"):
        next(predict_blocks(np.zeros((16, 16, 16), np.float32), tiny_net(),
                            device=torch.device("cpu"), size_multiple=4, tile=8, margin=8,
                            keep=9))  # fmt: skip


def test_a_window_reaching_into_the_padding_mirrors_the_volume():
    # 30 voxels pad to 32 (multiple 8): the last window holds 2 mirrored voxels, as np.pad does
    net = tiny_net(1)
    image = np.random.default_rng(2).random((30, 30, 30), dtype=np.float32)
    got = predict_channels(image, net, device=torch.device("cpu"), size_multiple=8, tile=64,
                           margin=8)  # fmt: skip
    padded = np.pad(image, [(0, 2)] * 3, mode="reflect")
    with torch.inference_mode():
        want = net(torch.from_numpy(padded)[None, None])[0].numpy()[:, :30, :30, :30]
    np.testing.assert_allclose(got, want, atol=1e-5)
