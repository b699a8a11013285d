"""Figures: PR curves, slice overlays, g(r). Functions take ``ax=None`` and return the Axes."""

from voxpick.plot.overlay import classify, plot_orthogonal, plot_slice
from voxpick.plot.pr import plot_pr
from voxpick.plot.structure import plot_gr
from voxpick.plot.zprofile import plot_z_profile

__all__ = ["classify", "plot_gr", "plot_orthogonal", "plot_pr", "plot_slice", "plot_z_profile"]
