"""Block-by-block runs of any detector, for volumes larger than memory (dask, zarr).

- :func:`run_detector`: a detector of the contract over blocks (see ``docs/scale.md``).
- :func:`plan_blocks`: cores that tile the volume, halos, and the ownership rule.
"""

from voxpick.tiling.blocks import Block, owner_voxel, plan_blocks
from voxpick.tiling.chunked import find_in_block, run_detector

__all__ = ["Block", "find_in_block", "owner_voxel", "plan_blocks", "run_detector"]
