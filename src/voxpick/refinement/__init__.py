"""Refine: fit the image model to found particles, subtract it, find what was missed.

* :func:`refine` (also ``voxpick.refine``): the stage, whole volume or block by block.
* :mod:`~voxpick.refinement.model`: the image model (:class:`ImageModel`) and its rendering.
* :mod:`~voxpick.refinement.estimate`: measuring the model from the volume.
* :mod:`~voxpick.refinement.fit`: the least-squares fit; :mod:`~voxpick.refinement.moves`:
  adding and removing particles; :mod:`~voxpick.refinement.fisher`: uncertainties and the
  Cramer-Rao bound.

See ``docs/refine.md``.
"""

from voxpick.refinement.model import ImageModel
from voxpick.refinement.run import refine

__all__ = ["ImageModel", "refine"]
