"""A second stage that tells look-alike classes apart from a few labelled particles.

The picker's class shares come from a network trained on a few particles per class; classes
of nearly the same size (rods of different lengths, round and elongated particles) are where
it errs. :class:`ClassRefiner` adds what the shape of each particle says:

1. **Descriptors** (:func:`particle_descriptors`): rotation-invariant numbers of the density
   about a centre, so that no orientation search is needed: radial profiles (mean density in
   spherical shells) at two smoothings, the eigenvalues of the second-moment (inertia) tensor of
   the density within two spheres and two density levels (elongation and flatness) and the
   density's mass there, and the shell-averaged power spectrum of the crop (shape detail,
   independent of position and orientation). The geometry scales with the largest class
   radius.
2. **Descriptor model**: a multinomial logistic regression with an L2 penalty on the
   standardised descriptors, fitted on the labelled particles of the training tomograms (and,
   with a picker, on its candidates there that hit a particle: the centres it will be given).
3. **Combination**: ``log p(k) = a * log(share_k) + b * log q(k) + const``, where ``share`` is
   the picker's class share and ``q`` the descriptor model's probability; ``a`` and ``b`` are
   fitted by maximum likelihood (with a pull towards 1) on the candidates of separate
   calibration tomograms, since on its own training tomograms the network is over-confident.
   Without calibration data ``a = b = 1``.

``pick(volume, model=picker, classifier=refiner)`` uses the combined probabilities in place of
the class shares (``score = objectness * p(class)``); choose the thresholds again with the
refiner on (:func:`voxpick.cryoet.choose_thresholds`). See ``docs/cryoet.md`` ("Look-alike
classes").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage, optimize, special
from scipy.spatial import cKDTree

from voxpick.cryoet.data import apply_levels, tomogram_levels
from voxpick.cryoet.store import PickerModel, load_picker
from voxpick.io.atomic import atomic_path
from voxpick.validation import check_number, check_volume

__all__ = [
    "REFINER_FORMAT",
    "ClassRefiner",
    "class_refiner_from_dict",
    "fit_class_refiner",
    "load_class_refiner",
    "particle_descriptors",
]

#: Format tag of a saved :class:`ClassRefiner` (one JSON file).
REFINER_FORMAT = "voxpick-class-refiner-1"

#: Smallest probability a log is taken of.
_TINY = 1e-6

#: Density level (units of the normalised tomogram) of the second, thresholded inertia tensor.
_LEVEL = 0.2


class _Geometry:
    """Crop size, shells and masks of the descriptors for a largest class radius ``radius``."""

    def __init__(self, radius: float) -> None:
        self.outer = max(3, round(1.4 * radius))  # reach of the profiles and of the outer sphere
        self.inner = max(2, round(radius))
        self.half = self.outer + 2  # crop half-width: the smoothing's reach beyond the sphere
        n = np.arange(-self.half, self.half + 1, dtype=np.float64)
        grid = np.stack(np.meshgrid(n, n, n, indexing="ij")).reshape(3, -1)
        dist = np.sqrt((grid**2).sum(axis=0))
        self.shell = np.rint(dist).astype(np.int64)
        self.sigmas = (max(0.75, 0.135 * radius), max(1.0, 0.2 * radius))
        self.outer_voxels = np.flatnonzero(dist <= self.outer)
        self.outer_mask = (dist <= self.outer).reshape((2 * self.half + 1,) * 3)
        self.inner_in_outer = dist[self.outer_voxels] <= self.inner
        z, y, x = grid[:, self.outer_voxels]
        # 1, first and second moments of the voxels of the outer sphere
        self.monomials = np.stack(
            [np.ones_like(z), z, y, x, z * z, z * y, z * x, y * y, y * x, x * x]
        )
        self.n_shells = self.outer + 1
        self.n_spectrum = self.half - 2

    @property
    def size(self) -> int:
        """Number of descriptors."""
        return len(self.sigmas) * (self.n_shells + 4 * 4) + self.n_spectrum

    def shell_means(self, values: np.ndarray, n: int) -> np.ndarray:
        keep = self.shell < n
        sums = np.bincount(self.shell[keep], weights=values.ravel()[keep], minlength=n)
        counts = np.bincount(self.shell[keep], minlength=n)
        return np.asarray(sums / np.maximum(counts, 1))

    def inertia(self, weights: np.ndarray) -> np.ndarray:
        """Sorted eigenvalues of the second-moment tensor and the mass of each row of weights.

        ``weights`` is ``(M, n)`` over the voxels of the outer sphere; returns ``(M, 4)``.
        """
        moments = weights @ self.monomials.T  # (M, 10)
        out = np.zeros((len(weights), 4))
        for i, m in enumerate(moments):
            if m[0] <= 1e-9:
                continue
            mu = m[1:4] / m[0]
            second = np.array([[m[4], m[5], m[6]], [m[5], m[7], m[8]], [m[6], m[8], m[9]]])
            tensor = second / m[0] - np.outer(mu, mu)
            out[i, :3] = np.sort(np.linalg.eigvalsh(tensor))
            out[i, 3] = m[0]
        return out

    def describe(self, crop: np.ndarray) -> np.ndarray:
        """Descriptors of one crop (normalised tomogram, particles dark)."""
        out = []
        for sigma in self.sigmas:
            dens = -ndimage.gaussian_filter(crop, sigma, mode="nearest").ravel()
            out.append(self.shell_means(dens, self.n_shells))
            inside = dens[self.outer_voxels]
            full, dense = np.clip(inside, 0, None), np.clip(inside - _LEVEL, 0, None)
            inner = self.inner_in_outer
            out.append(self.inertia(np.stack([full * inner, dense * inner, full, dense])).ravel())
        masked = crop * self.outer_mask
        power = np.abs(np.fft.fftshift(np.fft.fftn(masked))) ** 2
        out.append(np.log(self.shell_means(power, self.n_spectrum) + 1e-12))
        return np.concatenate(out)


def _crop(image: np.ndarray, centre: np.ndarray, half: int) -> np.ndarray:
    """Box of half-width ``half`` about the voxel nearest ``centre``, zero (the median) outside."""
    c = np.rint(centre).astype(np.int64)
    lo, hi = c - half, c + half + 1
    src_lo = np.maximum(lo, 0)
    src_hi = np.minimum(hi, image.shape)
    out = np.zeros((2 * half + 1,) * 3, dtype=np.float64)
    if np.any(src_hi <= src_lo):
        return out
    dst = tuple(slice(a - b, c_ - b) for a, c_, b in zip(src_lo, src_hi, lo, strict=True))
    out[dst] = image[tuple(slice(a, b) for a, b in zip(src_lo, src_hi, strict=True))]
    return out


def particle_descriptors(
    volume: Any, positions: Any, *, radius: float, levels: tuple[float, float] | None = None
) -> np.ndarray:
    """Compute rotation-invariant shape descriptors of the particles at ``positions``.

    Parameters
    ----------
    volume : array_like
        Tomogram (z, y, x), particles dark, at the voxel size ``radius`` is given in.
    positions : array_like
        ``(N, 3)`` centres (z, y, x), voxels.
    radius : float
        Largest class radius, voxels: sets the crop, the shells and the smoothing.
    levels : tuple of float, optional
        Normalisation levels of the whole tomogram (:func:`voxpick.cryoet.data.tomogram_levels`);
        default: computed from ``volume``.

    Returns
    -------
    numpy.ndarray
        ``(N, D)`` float64 descriptors (see the module notes).
    """
    vol = check_volume(volume)
    radius = check_number(radius, name="radius", lo=1.0, hi=200.0, hint="Voxels, e.g. 7.")
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3) if len(positions) else None
    geo = _Geometry(radius)
    if pos is None:
        return np.zeros((0, geo.size))
    if not np.isfinite(pos).all():
        raise ValueError("positions hold NaN or infinite values: expected finite (z, y, x).")
    lv = tomogram_levels(vol) if levels is None else levels
    rows = [geo.describe(apply_levels(_crop(vol, p, geo.half), lv).astype(np.float64)) for p in pos]
    return np.stack(rows)


def _softmax_fit(x: np.ndarray, y: np.ndarray, k: int, lam: float) -> np.ndarray:
    """Weights ``(D + 1, K)`` of an L2-penalised multinomial logistic regression."""
    d = x.shape[1]
    onehot = np.eye(k)[y]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        wm = w.reshape(d + 1, k)
        z = x @ wm[:-1] + wm[-1]
        lse = special.logsumexp(z, axis=1)
        resid = np.exp(z - lse[:, None]) - onehot
        value = float((lse - (z * onehot).sum(axis=1)).sum() + lam * (wm[:-1] ** 2).sum())
        grad = np.vstack([x.T @ resid + 2 * lam * wm[:-1], resid.sum(axis=0)])
        return value, grad.ravel()

    res = optimize.minimize(loss, np.zeros((d + 1) * k), jac=True, method="L-BFGS-B")
    return np.asarray(res.x.reshape(d + 1, k))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    return np.asarray(z - special.logsumexp(z, axis=1, keepdims=True))


@dataclass
class ClassRefiner:
    """Class probabilities from shape descriptors combined with a picker's class shares.

    Build one with :func:`fit_class_refiner`; use it with
    ``voxpick.cryoet.pick(..., classifier=refiner)`` or :meth:`class_probabilities`.

    Attributes
    ----------
    classes : tuple of str
        Class names, in the picker's order.
    radius : float
        Largest class radius, voxels at the picker's voxel size (the descriptors' scale).
    mean, scale : numpy.ndarray
        Standardisation of the descriptors.
    weights : numpy.ndarray
        ``(D + 1, K)`` descriptor model (last row: intercepts).
    network_weight, descriptor_weight : float
        ``a`` and ``b`` of the combination (module notes).
    info : dict
        How it was fitted (counts, calibration accuracy).
    """

    classes: tuple[str, ...]
    radius: float
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    network_weight: float = 1.0
    descriptor_weight: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    def descriptor_log_probabilities(
        self, volume: Any, positions: Any, *, levels: tuple[float, float] | None = None
    ) -> np.ndarray:
        """Log-probabilities ``(N, K)`` of the descriptor model alone."""
        desc = particle_descriptors(volume, positions, radius=self.radius, levels=levels)
        z = ((desc - self.mean) / self.scale) @ self.weights[:-1] + self.weights[-1]
        return _log_softmax(z)

    def class_probabilities(
        self,
        volume: Any,
        positions: Any,
        *,
        shares: np.ndarray | None = None,
        classes: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Return the combined class probabilities of the particles at ``positions``.

        Parameters
        ----------
        volume : array_like
            Tomogram (z, y, x) at the picker's voxel size, particles dark.
        positions : array_like
            ``(N, 3)`` centres, voxels.
        shares : numpy.ndarray, optional
            ``(N, K)`` class shares of the picker; without them, the descriptor model alone.
        classes : sequence of str, optional
            The class names of ``shares``' columns, checked against the refiner's.

        Returns
        -------
        numpy.ndarray
            ``(N, K)`` probabilities, rows summing to 1.
        """
        if classes is not None and tuple(classes) != self.classes:
            raise ValueError(
                f"the refiner was fitted for classes {list(self.classes)}, the picker has "
                f"{list(classes)}: fit a refiner with this picker (fit_class_refiner)."
            )
        n = len(positions)
        if n == 0:
            return np.zeros((0, len(self.classes)))
        logq = self.descriptor_log_probabilities(volume, positions)
        if shares is None:
            return np.asarray(np.exp(logq))
        sh = np.asarray(shares, dtype=np.float64)
        if sh.shape != logq.shape:
            raise ValueError(
                f"shares has shape {sh.shape}: expected {logq.shape} (one row per position, "
                "one column per class)."
            )
        z = self.network_weight * np.log(np.clip(sh, _TINY, 1.0)) + self.descriptor_weight * logq
        return np.asarray(np.exp(_log_softmax(z)))

    def as_dict(self) -> dict[str, Any]:
        """Return the refiner as a JSON-serialisable dictionary (see class_refiner_from_dict)."""
        return {
            "format": REFINER_FORMAT, "classes": list(self.classes), "radius": self.radius,
            "mean": self.mean.tolist(), "scale": self.scale.tolist(),
            "weights": self.weights.tolist(), "network_weight": self.network_weight,
            "descriptor_weight": self.descriptor_weight, "info": self.info,
        }  # fmt: skip

    def save(self, path: str | Path) -> Path:
        """Write the refiner to one JSON file, atomically; return its path."""
        out = Path(path)
        if out.suffix != ".json":
            out = out.with_suffix(".json")
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps(self.as_dict(), indent=1))
        return out


def load_class_refiner(path: str | Path) -> ClassRefiner:
    """Read a refiner written by :meth:`ClassRefiner.save`."""
    p = Path(path)
    if p.suffix != ".json":
        p = p.with_suffix(".json")
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no such class refiner; write one with ClassRefiner.save.")
    try:
        doc = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{p}: not a JSON class refiner ({err}).") from err
    return class_refiner_from_dict(doc, source=str(p))


def class_refiner_from_dict(doc: Any, *, source: str = "the refiner") -> ClassRefiner:
    """Build a refiner from :meth:`ClassRefiner.as_dict` output (``source`` names it in errors)."""
    if not isinstance(doc, dict) or doc.get("format") != REFINER_FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ValueError(f"{source}: format {got!r}, expected {REFINER_FORMAT!r}.")
    weights = np.asarray(doc["weights"], dtype=np.float64)
    mean = np.asarray(doc["mean"], dtype=np.float64)
    classes = tuple(str(c) for c in doc["classes"])
    if weights.shape != (len(mean) + 1, len(classes)):
        raise ValueError(
            f"{source}: weights of shape {weights.shape} do not fit {len(classes)} classes."
        )
    return ClassRefiner(
        classes=classes, radius=float(doc["radius"]), mean=mean,
        scale=np.asarray(doc["scale"], dtype=np.float64), weights=weights,
        network_weight=float(doc["network_weight"]),
        descriptor_weight=float(doc["descriptor_weight"]), info=dict(doc.get("info", {})),
    )  # fmt: skip


class _Recorder:
    """Stands in for a refiner in :func:`voxpick.cryoet.pick`: keeps the picker's centres."""

    def __init__(self) -> None:
        self.points = np.zeros((0, 3))
        self.shares = np.zeros((0, 0))
        self.volume: np.ndarray | None = None

    def class_probabilities(
        self, volume: Any, positions: Any, *, shares: np.ndarray, classes: Sequence[str]
    ) -> np.ndarray:
        self.volume, self.points, self.shares = volume, np.asarray(positions), shares
        return shares


def _check_data(tomograms: Sequence[Any], picks: Sequence[pd.DataFrame], what: str) -> None:
    if isinstance(tomograms, np.ndarray) or not isinstance(tomograms, Sequence):
        raise TypeError(f"{what}: tomograms must be a list of 3D arrays, got {type(tomograms)}.")
    if len(tomograms) != len(picks) or not tomograms:
        raise ValueError(
            f"{what}: {len(tomograms)} tomograms and {len(picks)} pick tables: expected one "
            "table of labelled particles per tomogram, at least one."
        )
    for i, tab in enumerate(picks):
        missing = {"particle_type", "z", "y", "x"} - set(getattr(tab, "columns", ()))
        if missing:
            raise ValueError(
                f"{what}: pick table {i} lacks columns {sorted(missing)}: expected "
                "particle_type, z, y, x (voxels)."
            )


def _match(points: np.ndarray, truth: pd.DataFrame, radii: dict[str, float]) -> np.ndarray:
    """Truth class index hit by each point (within half its class radius), -1 for none."""
    names = list(radii)
    out = np.full(len(points), -1, dtype=np.int64)
    if len(truth) == 0 or len(points) == 0:
        return out
    tree = cKDTree(truth[["z", "y", "x"]].to_numpy(float))
    dist, j = tree.query(points)
    kind = truth["particle_type"].to_numpy()[j]
    reach = np.array([0.5 * radii.get(str(t), 0.0) for t in kind])
    for i in np.flatnonzero(dist <= reach):
        out[i] = names.index(str(kind[i]))
    return out


def _candidates(volume: np.ndarray, picker: PickerModel, tta: bool) -> _Recorder:
    from voxpick.cryoet.picking import pick

    rec = _Recorder()
    pick(volume, model=picker, thresholds=0.0, classifier=rec, tta=tta)  # type: ignore[arg-type]
    return rec


def fit_class_refiner(
    tomograms: Sequence[Any],
    picks: Sequence[pd.DataFrame],
    *,
    picker: PickerModel | str | Path | None = None,
    radii: dict[str, float] | None = None,
    calibration: tuple[Sequence[Any], Sequence[pd.DataFrame]] | None = None,
    regularization: float = 1.0,
    tta: bool = False,
) -> ClassRefiner:
    """Fit a :class:`ClassRefiner` on labelled tomograms (a few particles per class suffice).

    Parameters
    ----------
    tomograms : sequence of array_like
        Training tomograms (z, y, x) at the picker's voxel size, particles dark.
    picks : sequence of pandas.DataFrame
        Their particles: ``particle_type, z, y, x`` (voxels), one table per tomogram.
    picker : PickerModel, str or pathlib.Path, optional
        The picker whose shares the refiner will correct: its classes and radii are used, and
        its candidates that hit a particle join the training set. Without it, the classes are
        those of ``radii`` and the refiner uses descriptors alone.
    radii : mapping, optional
        ``{class: radius in voxels}``; required without ``picker``.
    calibration : (tomograms, picks), optional
        Other labelled tomograms on which the combination weights are fitted (the picker's
        candidates there); needs ``picker``. Without it both weights are 1.
    regularization : float
        L2 penalty of the descriptor model (per standardised weight).
    tta : bool
        Run the picker with test-time augmentation (as ``pick`` will be run).

    Returns
    -------
    ClassRefiner
    """
    _check_data(tomograms, picks, "fit_class_refiner")
    lam = check_number(regularization, name="regularization", lo=1e-6, hi=1e6, hint="E.g. 1.")
    model = None
    if picker is not None:
        model = picker if isinstance(picker, PickerModel) else load_picker(picker, device="cpu")
        rad = {str(k): float(v) for k, v in model.radius_voxels().items()}
    elif radii is None:
        raise ValueError("fit_class_refiner needs picker= or radii={class: radius in voxels}.")
    else:
        rad = {str(k): float(v) for k, v in radii.items()}
    if calibration is not None and model is None:
        raise ValueError("calibration= fits how far to trust the picker: it needs picker=.")
    names = list(rad)
    unknown = set().union(*(set(map(str, t["particle_type"])) for t in picks)) - set(names)
    if unknown:
        raise ValueError(f"pick tables name classes {sorted(unknown)} unknown to {names}.")
    big = max(rad.values())
    feats, labels = [], []
    for vol_in, truth in zip(tomograms, picks, strict=True):
        vol = check_volume(vol_in)
        levels = tomogram_levels(vol)
        pos = truth[["z", "y", "x"]].to_numpy(float)
        feats.append(particle_descriptors(vol, pos, radius=big, levels=levels))
        labels.append(np.array([names.index(str(t)) for t in truth["particle_type"]]))
        if model is not None:
            rec = _candidates(vol, model, tta)
            hit = _match(rec.points, truth, rad)
            keep = hit >= 0
            feats.append(particle_descriptors(vol, rec.points[keep], radius=big, levels=levels))
            labels.append(hit[keep])
    x, y = np.concatenate(feats), np.concatenate(labels)
    missing = [n for i, n in enumerate(names) if not np.any(y == i)]
    if missing:
        raise ValueError(f"no labelled particle of classes {missing}: give at least one of each.")
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights = _softmax_fit((x - mean) / scale, y, len(names), lam)
    refiner = ClassRefiner(
        classes=tuple(names), radius=big, mean=mean, scale=scale, weights=weights,
        info={"n_particles": len(y), "regularization": lam,
              "counts": {n: int(np.sum(y == i)) for i, n in enumerate(names)}},
    )  # fmt: skip
    if calibration is not None and model is not None:
        cal_t, cal_p = calibration
        _check_data(cal_t, cal_p, "calibration")
        _calibrate(refiner, model, cal_t, cal_p, rad, tta)
    return refiner


def _calibrate(
    refiner: ClassRefiner,
    picker: PickerModel,
    tomograms: Sequence[Any],
    picks: Sequence[pd.DataFrame],
    radii: dict[str, float],
    tta: bool,
    prior: float = 1.0,
) -> None:
    """Fit the combination weights on the picker's candidates that hit a particle."""
    logs, logq, ys = [], [], []
    for vol_in, truth in zip(tomograms, picks, strict=True):
        vol = check_volume(vol_in)
        rec = _candidates(vol, picker, tta)
        hit = _match(rec.points, truth, radii)
        keep = hit >= 0
        logs.append(np.log(np.clip(rec.shares[keep], _TINY, 1.0)))
        logq.append(refiner.descriptor_log_probabilities(vol, rec.points[keep]))
        ys.append(hit[keep])
    ls, lq, y = np.concatenate(logs), np.concatenate(logq), np.concatenate(ys)
    if len(y) == 0:
        raise ValueError("calibration: the picker found none of the labelled particles.")
    rows = np.arange(len(y))

    def nll(w: np.ndarray) -> float:
        lp = _log_softmax(w[0] * ls + w[1] * lq)
        return float(-lp[rows, y].sum() + prior * ((w[0] - 1) ** 2 + (w[1] - 1) ** 2))

    res = optimize.minimize(nll, np.array([1.0, 1.0]), method="Nelder-Mead")
    a, b = (float(v) for v in res.x)
    refiner.network_weight, refiner.descriptor_weight = a, b

    def accuracy(z: np.ndarray) -> float:
        return float(np.mean(z.argmax(axis=1) == y))

    refiner.info["calibration"] = {
        "n_candidates": len(y),
        "accuracy_network": accuracy(ls), "accuracy_descriptors": accuracy(lq),
        "accuracy_combined": accuracy(a * ls + b * lq),
        "log_likelihood_network": float(_log_softmax(ls)[rows, y].mean()),
        "log_likelihood_combined": float(_log_softmax(a * ls + b * lq)[rows, y].mean()),
    }  # fmt: skip
