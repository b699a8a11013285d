"""Experiment: does fitting the image model rescue the hardest condition? (not shipped)

Usage::

    python bench/forward_model_fit.py [--volumes 1] [--rounds 3]

At the challenge's hardest condition (volume fraction 0.55, SNR = CNR = 3, particle_size
0.21-0.30 um) the confocal PSF spreads each particle over about two diameters along z. This
script asks whether a forward-model fit, given the simulator's exact PSF, background and
brightness (an oracle no user has), gets further than the U-Net. The image is modelled as the
background plus one blurred-sphere template per particle (exact for hard spheres, which do not
overlap). Starting from the U-Net's detections, it alternates (a) a Gauss-Newton step per
particle on its position and brightness, with the others fixed and no two centres closer than
0.8 diameter; (b) removing particles whose removal raises the squared residual by less than
``0.3 * brightness**2 * sum(template**2)``; (c) adding particles greedily where the residual's
matched filter gains more than that. For reference it also starts from the truth.

Run on the first hardest-condition volume(s) of the threshold-validation set of
``bench/train_default.py`` (seed 4242). Prints the recall of every U-Net peak down to a height
of 0.01 (what any re-selection of its peaks could reach), then precision/recall (matching at
< r; *interior*: leaving out truth and detections within r of a face) and the mean squared
residual after each round; the outcome is recorded in docs/ml.md
("Tried ... and not adopted"). Slow: about 6 minutes per volume and start on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.signal import fftconvolve
from scipy.spatial import cKDTree

from train_default import VAL_SEED, conditions, simulate_condition
from voxpick.metrics import evaluate
from voxpick.ml import load_model, locate_unet
from voxpick.simulate.render import render_occupancy


class Scene:
    """Residual image and particles of the forward model (canvas padded by a template half)."""

    def __init__(self, volume, *, r, sigma, background, amp, min_sep):
        self.amp0, self.min_sep = amp, min_sep
        self.h = np.array([math.ceil(r + 3 * s) for s in sigma])
        box = tuple(int(2 * x + 1) for x in self.h)
        occ = render_occupancy(box, self.h[None].astype(float), np.array([r]), np.ones(1),
                               oversample=4)  # fmt: skip
        self.t0 = ndimage.gaussian_filter(occ.astype(np.float64), sigma, mode="constant",
                                          truncate=3.0)  # fmt: skip
        self.n0 = float((self.t0**2).sum())
        self.shape = np.array(volume.shape) + 2 * self.h
        self.inner = tuple(slice(p, p + s) for p, s in zip(self.h, volume.shape, strict=True))
        self.mask = np.zeros(self.shape)
        self.mask[self.inner] = 1.0
        self.res = np.zeros(self.shape)
        self.res[self.inner] = volume.astype(np.float64) - background
        self.pts = np.zeros((0, 3))
        self.amps = np.zeros(0)

    def _place(self, p):
        q = np.rint(p).astype(int)
        t = ndimage.shift(self.t0, p - q, order=1, mode="constant")
        sl, tsl = [], []
        for k in range(3):
            lo, hi = q[k] - self.h[k], q[k] + self.h[k] + 1
            a, b = max(0, lo), min(self.shape[k], hi)
            sl.append(slice(a, b))
            tsl.append(slice(a - lo, b - lo))
        return t, tuple(sl), tuple(tsl)

    def apply(self, p, a, sign):
        t, sl, tsl = self._place(p)
        self.res[sl] -= sign * a * t[tsl] * self.mask[sl]

    def add(self, p, a):
        self.apply(p, a, +1)
        self.pts = np.vstack([self.pts, p])
        self.amps = np.append(self.amps, a)

    def gain(self, i):
        """Rise of the squared residual if particle ``i`` were removed."""
        t, sl, tsl = self._place(self.pts[i])
        tm, res = self.amps[i] * t[tsl] * self.mask[sl], self.res[sl]
        return float(((res + tm) ** 2).sum() - (res**2).sum())

    def gauss_newton(self, rng):
        for i in rng.permutation(len(self.pts)):
            tree = cKDTree(self.pts)
            p, a = self.pts[i].copy(), self.amps[i]
            self.apply(p, a, -1)
            t, sl, tsl = self._place(p)
            m = self.mask[sl]
            grads = np.gradient(t)
            jac = np.stack([t[tsl] * m] + [-a * g[tsl] * m for g in grads]).reshape(4, -1)
            res = (self.res[sl] - a * t[tsl] * m).ravel()
            step = np.linalg.solve(jac @ jac.T + 1e-9 * np.eye(4), jac @ res)
            dp = step[1:] / max(1.0, float(np.abs(step[1:]).max()))
            if not any(j != i for j in tree.query_ball_point(p + dp, self.min_sep)):
                p = p + dp
                a = float(np.clip(a + step[0], 0.3 * self.amp0, 2.0 * self.amp0))
            self.pts[i], self.amps[i] = p, a
            self.apply(p, a, +1)

    def remove_weak(self, cut):
        keep = []
        for i in range(len(self.pts)):
            if self.gain(i) < cut:
                self.apply(self.pts[i], self.amps[i], -1)
            else:
                keep.append(i)
        self.pts, self.amps = self.pts[keep], self.amps[keep]

    def add_greedy(self, cut, batch=30):
        flipped = self.t0[::-1, ::-1, ::-1]
        norm = fftconvolve(self.mask, flipped**2, mode="same")
        valid = norm > 0.3 * self.n0
        while True:
            gain = 2 * self.amp0 * fftconvolve(self.res, flipped, mode="same")
            gain -= self.amp0**2 * norm
            gain[~valid] = -np.inf
            fresh: list[np.ndarray] = []
            for flat in np.argsort(gain, axis=None)[::-1][:5000]:
                if gain.flat[flat] < cut or len(fresh) >= batch:
                    break
                p = np.array(np.unravel_index(flat, gain.shape), float)
                if len(self.pts) and cKDTree(self.pts).query_ball_point(p, self.min_sep):
                    continue
                if any(np.linalg.norm(f - p) < 2.5 * self.min_sep for f in fresh):
                    continue  # its neighbours' gains are stale until the next pass
                self.add(p, self.amp0)
                fresh.append(p)
            if not fresh:
                return


def score(scene, sim, r):
    pos = scene.pts - scene.h
    inside = np.all((pos >= -0.5) & (pos < np.array(sim.volume.shape) - 0.5), axis=1)
    found = pd.DataFrame(pos[inside], columns=["z", "y", "x"])
    ev = evaluate(sim.truth, found, diameter=2 * r)
    inner = evaluate(sim.truth, found, diameter=2 * r, border=r, canvas_size=sim.volume.shape)
    mse = float((scene.res[scene.inner] ** 2).mean())
    return (
        f"n {len(found)}/{len(sim.truth)} P {ev.precision:.3f} R {ev.recall:.3f} "
        f"interior P {inner.precision:.3f} R {inner.recall:.3f} mse {mse:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--volumes", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    model = load_model(device="cpu")
    hard = [c for c in conditions(VAL_SEED, 18, 6) if c["group"] != "general"]
    for c in hard[: args.volumes]:
        sim = simulate_condition(c)
        md = sim.metadata
        r = md["r"]
        sigma = (md["psf_sigma_z"], md["psf_sigma_y"], md["psf_sigma_x"])
        amp = md["brightness"] - md["b_mean"]
        unet = locate_unet(sim.volume, diameter=2 * r, model=model)
        print(f"r {r:.1f} particle_size {c['particle_size']:.2f} psf sigma {np.round(sigma, 1)}")
        pool = locate_unet(sim.volume, diameter=2 * r, model=model, threshold=0.01)
        ev = evaluate(sim.truth, pool, diameter=2 * r)
        print(f"  U-Net peaks down to 0.01: {len(pool)} found, recall {ev.recall:.3f}")
        for start, init in (("U-Net", unet), ("truth", sim.truth)):
            t0 = time.time()
            scene = Scene(sim.volume, r=r, sigma=sigma, background=md["b_mean"], amp=amp,
                          min_sep=0.8 * 2 * r)  # fmt: skip
            for p in init[["z", "y", "x"]].to_numpy():
                scene.add(p + scene.h, amp)
            print(f"  from {start}: start {score(scene, sim, r)}", flush=True)
            cut = 0.3 * amp**2 * scene.n0
            rng = np.random.default_rng(0)
            for k in range(args.rounds):
                scene.gauss_newton(rng)
                scene.remove_weak(cut)
                scene.add_greedy(cut)
                print(f"  from {start}: round {k + 1} {score(scene, sim, r)} "
                      f"({time.time() - t0:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
