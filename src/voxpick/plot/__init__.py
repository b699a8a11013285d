"""Figures: PR curves and slice overlays. Functions take ``ax=None`` and return the Axes."""

from voxpick.plot.overlay import plot_slice
from voxpick.plot.pr import plot_pr

__all__ = ["plot_pr", "plot_slice"]
