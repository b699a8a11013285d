import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from voxpick.plot import plot_gr


def test_plot_gr_in_diameters_with_cutoff_and_legend():
    g = pd.DataFrame({"r": [2.0, 6.0, 10.0], "g": [0.0, 3.0, 1.0]})
    ax = plot_gr({"detections": g, "truth": g}, diameter=8.0, cutoff=11.2)
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [0.25, 0.75, 1.25])
    assert ax.get_xlabel() == "r / diameter"
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["detections", "truth", "neighbour cutoff"]
    cut = next(ln for ln in ax.get_lines() if ln.get_label() == "neighbour cutoff")
    assert cut.get_xdata()[0] == pytest.approx(1.4)


def test_plot_gr_errors():
    with pytest.raises(ValueError, match="lacks columns"):
        plot_gr(pd.DataFrame({"r": [1.0]}))
    with pytest.raises(TypeError, match="expected a DataFrame"):
        plot_gr([1, 2])
