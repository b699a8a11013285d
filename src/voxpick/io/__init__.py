"""Reading and writing volumes and particle positions.

- Challenge dataset format (x HDF5 + y CSV + metadata CSV): :mod:`voxpick.io.challenge`.
- TIFF stacks with voxel size: :mod:`voxpick.io.tiff`.
- Generic positions tables (CSV/Parquet, columns z, y, x): :mod:`voxpick.io.positions`.
- Any supported volume file by suffix: :func:`read_volume`.

Every writer is atomic: a file is either complete or absent (:mod:`voxpick.io.atomic`).
"""

from voxpick.io.atomic import atomic_path
from voxpick.io.challenge import (
    ROWS_PER_IMAGE,
    ChallengeDatasetWriter,
    ChallengeIndexError,
    parse_dim_order,
    write_challenge_dataset,
)
from voxpick.io.challenge_read import (
    ChallengeDataset,
    read_challenge_metadata,
    read_challenge_positions,
    read_challenge_volume,
)
from voxpick.io.positions import read_positions, write_positions
from voxpick.io.tiff import read_tiff, read_tiff_with_voxel_size, write_tiff
from voxpick.io.volume import read_volume

__all__ = [
    "ROWS_PER_IMAGE",
    "ChallengeDataset",
    "ChallengeDatasetWriter",
    "ChallengeIndexError",
    "atomic_path",
    "parse_dim_order",
    "read_challenge_metadata",
    "read_challenge_positions",
    "read_challenge_volume",
    "read_positions",
    "read_tiff",
    "read_tiff_with_voxel_size",
    "read_volume",
    "write_challenge_dataset",
    "write_positions",
    "write_tiff",
]
