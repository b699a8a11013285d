"""Chunked, resumable particle location for volumes larger than memory (dask, zarr).

- :func:`locate_chunked`: the whole run (see ``docs/scale.md``).
- :func:`open_volume`: numpy, dask, zarr arrays and TIFF / zarr / OME-Zarr paths, read box by box.
- :func:`plan_blocks`: cores that tile the volume, halos, and the ownership rule.
"""

from voxpick.tiling.blocks import Block, owner_voxel, plan_blocks
from voxpick.tiling.chunked import locate_chunked
from voxpick.tiling.source import VolumeSource, is_zarr_path, open_volume

__all__ = [
    "Block",
    "VolumeSource",
    "is_zarr_path",
    "locate_chunked",
    "open_volume",
    "owner_voxel",
    "plan_blocks",
]
