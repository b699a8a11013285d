"""Reading and writing volumes and particle positions.

- Challenge dataset format (x HDF5 + y CSV + metadata CSV): :mod:`voxpick.io.challenge`.
- TIFF stacks with voxel size: :mod:`voxpick.io.tiff`.
- Generic positions tables (CSV/Parquet, columns z, y, x): :mod:`voxpick.io.positions`.
- Any supported volume file by suffix: :func:`read_volume`; the voxel size a file records:
  :func:`read_calibration` (:mod:`voxpick.io.calibration`).
- Cryo-ET: MRC (:mod:`voxpick.io.mrc`), OME-Zarr (:mod:`voxpick.io.omezarr`), copick projects
  (:mod:`voxpick.io.copick_project`), CZII submission CSVs in Angstrom
  (:mod:`voxpick.io.czii_csv`), RELION STAR and IMOD files of picks
  (:mod:`voxpick.io.pick_exports`). MRC files need ``mrcfile``, copick projects ``copick``,
  STAR files ``starfile``, IMOD models ``imodmodel`` and writing OME-Zarr ``ome-zarr``: optional
  packages (``pip install 'voxpick[cryoet]'``), imported only when used; reading OME-Zarr
  needs only ``zarr``.

Every writer is atomic: a file is either complete or absent (:mod:`voxpick.io.atomic`).
"""

from voxpick.io.atomic import atomic_path
from voxpick.io.calibration import Calibration, read_calibration, read_voxel_size
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
    write_picks_csv,
    write_submission,
)
from voxpick.io.mrc import read_mrc, write_mrc
from voxpick.io.omezarr import read_ome_zarr, write_ome_zarr
from voxpick.io.pick_exports import (
    point2model_command,
    read_star,
    write_imod_model,
    write_imod_points,
    write_star,
)
from voxpick.io.positions import read_positions, write_positions
from voxpick.io.tiff import read_tiff, read_tiff_with_voxel_size, write_tiff
from voxpick.io.volume import read_volume

__all__ = [
    "ROWS_PER_IMAGE",
    "Calibration",
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
    "point2model_command",
    "read_calibration",
    "read_challenge_metadata",
    "read_challenge_positions",
    "read_challenge_volume",
    "read_mrc",
    "read_ome_zarr",
    "read_picks",
    "read_positions",
    "read_star",
    "read_submission",
    "read_tiff",
    "read_tiff_with_voxel_size",
    "read_tomogram",
    "read_volume",
    "read_voxel_size",
    "write_challenge_dataset",
    "write_imod_model",
    "write_imod_points",
    "write_mrc",
    "write_ome_zarr",
    "write_picks",
    "write_picks_csv",
    "write_positions",
    "write_star",
    "write_submission",
    "write_tiff",
]
