"""The napari plugin: open voxpick tables as Points layers, locate or pick from the viewer.

* Readers (:mod:`voxpick.napari.reader`, :mod:`voxpick.napari.layers`): detection tables and
  cryo-ET picks as napari layer data; plain functions, usable without napari or Qt.
* Widgets (:mod:`voxpick.napari.widget`): run :func:`voxpick.locate` or
  :func:`voxpick.cryoet.pick` on an image layer in a background thread and add the result as
  Points. Needs napari and a Qt binding: ``pip install 'voxpick[napari]' pyqt6``.

napari finds the plugin through the manifest ``napari.yaml`` shipped in this package. See
``docs/napari.md``.
"""

from voxpick.napari.layers import LayerData, detections_layer, picks_layers
from voxpick.napari.reader import get_reader, read_tables

__all__ = ["LayerData", "detections_layer", "get_reader", "picks_layers", "read_tables"]
