"""napari widgets: locate or pick particles in an image layer, in a background thread.

The widgets are thin: they take the volume shown in an image layer, run
:func:`voxpick.locate` or :func:`voxpick.cryoet.pick` on it in a napari thread worker (the
viewer stays responsive; napari's activity panel shows the progress) and add the result as
Points layers built by :mod:`voxpick.napari.layers`, in the image layer's coordinates (its
``scale`` and ``translate``). Lengths are in the units of the image layer's scale: voxels for
an image opened without one.
"""

import queue
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

import numpy as np

try:
    import napari
    from magicgui import magic_factory
    from napari.layers import Image
    from napari.qt.threading import GeneratorWorker, create_worker
    from napari.utils import progress as progress_bar
except ImportError as err:  # napari missing, or installed without a Qt binding
    raise ImportError(
        f"the voxpick napari widgets need napari and a Qt binding ({err}): "
        "pip install 'voxpick[napari]' pyqt6"
    ) from err

from voxpick.api import locate
from voxpick.cryoet.store import DEFAULT_PICKER
from voxpick.detect import detector_names
from voxpick.napari.layers import LayerData, detections_layer, picks_layers
from voxpick.validation import as_triple, diameter_for_volume

__all__ = [
    "RunFailedError", "follow_progress", "locate_widget", "pick_widget", "place_on_image",
    "shown_volume", "thicken_slice",
]  # fmt: skip

T = TypeVar("T")
Progress = Callable[[int, int], None]


class RunFailedError(Exception):
    """A run started by a widget raised a ``RuntimeError`` (the original is its ``__cause__``).

    napari's thread workers (superqt) take a ``RuntimeError`` from the work for a sign of a
    deleted Qt object and only print a warning: the user would never see it. This error is
    reported like any other.
    """


def shown_volume(image: Image, point: Sequence[float]) -> tuple[Any, tuple[int, ...]]:
    """Return the 3D volume an image layer shows, and the indices of its leading axes.

    Parameters
    ----------
    image : napari.layers.Image
        A grey-level layer of 3 or more dimensions, the last three (z, y, x); a multiscale
        layer gives its full-resolution level.
    point : sequence of float
        The viewer's current world position (``viewer.dims.point``): it chooses the frame (or
        other leading index) of a layer with more than 3 dimensions.

    Returns
    -------
    volume : array_like
        The (z, y, x) volume, not copied (a dask or zarr array stays one).
    leading : tuple of int
        Data indices of the leading axes (empty for a 3D layer).

    Raises
    ------
    ValueError
        An RGB layer or one with fewer than 3 dimensions.
    """
    if image.rgb:
        raise ValueError(
            f"image layer {image.name!r} is RGB: expected a grey-level volume (z, y, x). "
            "Split the channels (layer context menu > Split RGB) and choose one."
        )
    data = image.data[0] if image.multiscale else image.data
    if data.ndim < 3:
        raise ValueError(
            f"image layer {image.name!r} has {data.ndim} dimensions {tuple(data.shape)}: "
            "expected a volume (z, y, x), or a stack of them whose last three axes are z, y, x."
        )
    n_lead = data.ndim - 3
    here = np.asarray(image.world_to_data(point), dtype=float)[:n_lead]
    leading = tuple(
        int(np.clip(np.round(v), 0, n - 1)) for v, n in zip(here, data.shape, strict=False)
    )
    return (data[leading] if leading else data), leading


def place_on_image(layer: LayerData, image: Image, leading: tuple[int, ...]) -> LayerData:
    """Put layer data from a (z, y, x) volume into an image layer's coordinates.

    Parameters
    ----------
    layer : tuple
        ``(data, kwargs, type)`` with ``(N, 3)`` data in voxels of the volume.
    image : napari.layers.Image
        The layer the volume came from.
    leading : tuple of int
        The indices of the image's leading axes (:func:`shown_volume`).

    Returns
    -------
    tuple
        The same layer with the leading indices as its first columns and the image's
        ``scale`` and ``translate``.
    """
    data, kwargs, kind = layer
    if leading:
        data = np.column_stack([np.tile(np.asarray(leading, float), (len(data), 1)), data])
    kwargs = {**kwargs, "scale": tuple(image.scale), "translate": tuple(image.translate)}
    return data.reshape(len(data), image.ndim), kwargs, kind


def follow_progress(work: Callable[[Progress], T]) -> Generator[tuple[int, int], None, T]:
    """Run ``work(report)`` in a thread and yield each ``(done, total)`` it reports.

    Parameters
    ----------
    work : callable
        Called with one argument, a ``report(done, total)`` callback; its result is returned.

    Yields
    ------
    tuple of int
        ``(done, total)`` as reported.

    Returns
    -------
    object
        What ``work`` returned; an exception it raised is raised here (a ``RuntimeError`` as
        :class:`RunFailedError`, which napari's workers report instead of dropping).
    """
    reports: queue.Queue[tuple[int, int] | None] = queue.Queue()
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = work(lambda done, total: reports.put((done, total)))
        except BaseException as err:  # handed on to the caller's thread below
            outcome["error"] = err
        finally:
            reports.put(None)

    thread = threading.Thread(target=target, name="voxpick-napari-work", daemon=True)
    thread.start()
    while (report := reports.get()) is not None:
        yield report
    thread.join()
    error = outcome.get("error")
    if isinstance(error, RuntimeError):
        raise RunFailedError(f"{type(error).__name__}: {error}") from error
    if error is not None:
        raise error
    result: T = outcome["result"]
    return result


def thicken_slice(viewer: napari.Viewer, image: Image, half_z: float) -> None:
    """Show points on the slices their spheres cut: a thick slice of ``half_z`` voxels each side.

    Sets the viewer's margins along the image's z axis (world units) when they are both 0, so
    that the Points layers' ``projection_mode="rescale_spherical"`` draws each particle as the
    disc its sphere cuts from the slice shown; images are unaffected (their projection is
    none). A thickness the user chose is left alone.

    Parameters
    ----------
    viewer : napari.Viewer
    image : napari.layers.Image
        The layer whose last three axes are z, y, x.
    half_z : float
        Half the particle diameter along z, voxels of ``image``.
    """
    axis = viewer.dims.ndim - 3
    if axis < 0 or viewer.dims.margin_left[axis] or viewer.dims.margin_right[axis]:
        return
    margin = float(half_z * abs(image.scale[-3]))
    left, right = list(viewer.dims.margin_left), list(viewer.dims.margin_right)
    left[axis] = right[axis] = margin
    viewer.dims.margin_left, viewer.dims.margin_right = tuple(left), tuple(right)


def _run(
    viewer: napari.Viewer,
    work: Callable[[Progress], T],
    layers: Callable[[T], list[LayerData]],
    *,
    desc: str,
) -> GeneratorWorker:
    """Run ``work`` in a napari thread worker with a progress bar; add its layers when done."""
    bar = progress_bar(total=0, desc=desc)  # indeterminate until work reports a total

    def advance(report: tuple[int, int]) -> None:
        done, total = report
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def add(result: T) -> None:
        for data, kwargs, kind in layers(result):
            getattr(viewer, f"add_{kind}")(data, **kwargs)

    worker: GeneratorWorker = create_worker(follow_progress, work, _start_thread=False)
    worker.yielded.connect(advance)
    worker.returned.connect(add)
    worker.finished.connect(bar.close)
    worker.start()
    return worker


def _locate(
    image: Image,
    viewer: napari.Viewer,
    diameter: float = 8.0,
    z_diameter: float = 0.0,
    method: str = "auto",
    invert: bool = False,
) -> GeneratorWorker:
    """Locate particles in the volume shown and add them as a Points layer.

    Parameters
    ----------
    image : napari.layers.Image
        The volume (the frame shown, for a stack of volumes).
    viewer : napari.Viewer
        The viewer to add the layer to (given by napari).
    diameter : float
        Particle diameter in the units of the image layer's scale (voxels by default).
    z_diameter : float
        Diameter along z when particles look elongated; 0: the same as ``diameter``.
    method : str
        Detector: ``auto``, ``classical`` or ``unet`` (see :func:`voxpick.locate`).
    invert : bool
        Particles are darker than the background.

    Returns
    -------
    napari.qt.threading.GeneratorWorker
        The running worker; the layer ``"{image} particles"`` is added when it returns.
    """
    volume, leading = shown_volume(image, viewer.dims.point)
    d: float | tuple[float, float, float] = diameter
    if z_diameter > 0:
        d = (z_diameter, diameter, diameter)
    voxel_size = tuple(float(s) for s in image.scale[-3:])
    diameter_for_volume(volume.shape, d, voxel_size)  # a bad diameter fails here, not in a thread
    name = f"{image.name} particles"

    def work(report: Progress) -> Any:
        return locate(volume, diameter=d, voxel_size=voxel_size, method=method, invert=invert)

    def layers(found: Any) -> list[LayerData]:
        thicken_slice(viewer, image, found.attrs["diameter_px"][0] / 2)
        return [place_on_image(detections_layer(found, name=name), image, leading)]

    return _run(viewer, work, layers, desc=f"voxpick: locating particles in {image.name}")


def _pick(
    image: Image,
    viewer: napari.Viewer,
    model: str = DEFAULT_PICKER,
    voxel_size: float = 0.0,
    tta: bool = False,
) -> GeneratorWorker:
    """Pick cryo-ET particles of every class in the tomogram shown; add a layer per class.

    Parameters
    ----------
    image : napari.layers.Image
        The tomogram, particles dark as in cryo-ET.
    viewer : napari.Viewer
        The viewer to add the layers to (given by napari).
    model : str
        A shipped picker's name or the path ``DIR/NAME`` of a trained one.
    voxel_size : float
        Angstrom per voxel; 0: the image layer's scale when it has one, else the picker's own.
    tta : bool
        Also predict the tomogram turned about each axis (4 times slower, steadier classes).

    Returns
    -------
    napari.qt.threading.GeneratorWorker
        The running worker; the layers ``"{image} {class}"`` are added when it returns.
    """
    from voxpick.cryoet import load_picker, pick

    volume, leading = shown_volume(image, viewer.dims.point)
    scale = tuple(float(s) for s in image.scale[-3:])
    vs: Any = None
    if voxel_size > 0:
        vs = float(voxel_size)
    elif any(s != 1 for s in scale):
        vs = scale

    def work(report: Progress) -> Any:
        picker = load_picker(model)
        return picker, pick(volume, model=picker, voxel_size=vs, tta=tta, progress=report)

    def layers(result: Any) -> list[LayerData]:
        picker, found = result
        radius = {c.name: c.radius_A for c in picker.classes}
        vs_A = as_triple(vs or picker.voxel_size, name="voxel_size")
        thicken_slice(viewer, image, max(radius.values()) / vs_A[0])
        tables = picks_layers(found, voxel_size=vs_A, radius_A=radius, name=image.name)
        return [place_on_image(t, image, leading) for t in tables]

    return _run(viewer, work, layers, desc=f"voxpick: picking particles in {image.name}")


#: The "Locate particles" widget of the plugin (a magicgui factory).
locate_widget = magic_factory(
    _locate,
    call_button="Locate",
    diameter={"min": 0.0, "max": 1e6, "step": 0.1},
    z_diameter={"min": 0.0, "max": 1e6, "step": 0.1, "label": "z diameter (0: same)"},
    method={"choices": lambda _widget: list(detector_names())},
)

#: The "Pick cryo-ET particles" widget of the plugin (a magicgui factory).
pick_widget = magic_factory(
    _pick,
    call_button="Pick",
    voxel_size={"min": 0.0, "max": 1e4, "step": 0.001, "label": "voxel size (A, 0: auto)"},
)
