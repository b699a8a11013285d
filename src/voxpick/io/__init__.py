"""Reading and writing volumes and particle positions.

- Challenge dataset format (x HDF5 + y CSV + metadata CSV): :mod:`voxpick.io.challenge`.
- TIFF stacks with voxel size: :mod:`voxpick.io.tiff`.
- Generic positions tables (CSV/Parquet, columns z, y, x): :mod:`voxpick.io.positions`.
- Any supported volume file by suffix: :func:`read_volume`.
- Cryo-ET: MRC (:mod:`voxpick.io.mrc`), OME-Zarr (:mod:`voxpick.io.omezarr`), copick projects
  (:mod:`voxpick.io.copick_project`) and CZII submission CSVs in Angstrom
  (:mod:`voxpick.io.czii_csv`). MRC files need ``mrcfile``, copick projects ``copick`` and
  writing OME-Zarr ``ome-zarr``: optional packages (``pip install 'voxpick[cryoet]'``), imported
  only when used; reading OME-Zarr needs only ``zarr``.

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
from voxpick.io.copick_project import (
    list_runs,
    open_project,
    particle_objects,
    read_picks,
    read_tomogram,
    write_picks,
)
from voxpick.io.czii_csv import (
    picks_to_angstrom,
    picks_to_voxels,
    read_submission,
    write_submission,
)
from voxpick.io.mrc import read_mrc, write_mrc
from voxpick.io.omezarr import read_ome_zarr, write_ome_zarr
from voxpick.io.positions import read_positions, write_positions
from voxpick.io.tiff import read_tiff, read_tiff_with_voxel_size, write_tiff
from voxpick.io.volume import read_volume

__all__ = [
    "ROWS_PER_IMAGE",
    "ChallengeDataset",
    "ChallengeDatasetWriter",
    "ChallengeIndexError",
    "atomic_path",
    "list_runs",
    "open_project",
    "parse_dim_order",
    "particle_objects",
    "picks_to_angstrom",
    "picks_to_voxels",
    "read_challenge_metadata",
    "read_challenge_positions",
    "read_challenge_volume",
    "read_mrc",
    "read_ome_zarr",
    "read_picks",
    "read_positions",
    "read_submission",
    "read_tiff",
    "read_tiff_with_voxel_size",
    "read_tomogram",
    "read_volume",
    "write_challenge_dataset",
    "write_mrc",
    "write_ome_zarr",
    "write_picks",
    "write_positions",
    "write_submission",
    "write_tiff",
]
