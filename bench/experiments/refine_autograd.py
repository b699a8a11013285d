"""Experiment: refine's own Gauss-Newton against PyTorch autograd (CPU) on the same objective.

Usage (from the repository root)::

    python -m bench.experiments.refine_autograd [--size 128] [--threads 2]

One simulated volume at volume fraction 0.55, SNR = CNR = 3, r 6 px, particle_size 0.25 um
(challenge convention), the simulator's own image model (PSF, background, noise: the same
objective for both), every particle starting 0.3 voxel (RMS per axis) off its true position.
Fitted: positions and brightness (sizes fixed). Both minimise the same weighted squared
residual of the same renderer (anti-aliased spheres on 2^3 sub-samples, FFT Gaussian blur):

* refine's block Gauss-Newton (:class:`voxpick.refinement.fit.Fitter`), to its tolerance;
* PyTorch autograd of the same rendering (particles in chunks, ``index_add_`` onto the grid,
  FFT blur), minimised by L-BFGS (strong Wolfe line search), run until it reaches the
  objective Gauss-Newton ended at, or 200 function evaluations.

Prints seconds per gradient (objective and gradient once) and seconds to converge; the outcome
is recorded in docs/refine.md ("Speed").
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np


def main() -> None:
    import torch

    from bench.common.refine_eval import true_model
    from voxpick.refinement.fisher import template_gram, template_jacobian
    from voxpick.refinement.fit import Fitter, Particles
    from voxpick.refinement.model import Canvas
    from voxpick.simulate import simulate_volume

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sim = simulate_volume(
        args.size, radius=6.0, volfrac=0.55, particle_size=0.25, snr=3.0, cnr=3.0, rng=23
    )
    model, truth, sizes, _ = true_model(sim)
    rng = np.random.default_rng(0)
    start = truth + rng.normal(0.0, 0.3, truth.shape)
    canvas = Canvas(sim.volume.astype(np.float32), (0, 0, 0), model)
    print(f"{len(truth)} particles, canvas {canvas.shape}", flush=True)

    # --- Gauss-Newton -----------------------------------------------------------------------
    fitter = Fitter(canvas, template_gram(template_jacobian(model)), fit_size=False)
    parts = Particles(start, np.full(len(truth), model.brightness), sizes)
    fitter.run(parts.copy(), iterations=1, tol=0.0)  # compile
    state = fitter.evaluate(parts)
    fitter.update_weights(state)
    weights = fitter.weights.copy()
    t0 = time.perf_counter()
    for _ in range(3):
        g = canvas.pull(weights * state.residual, parts.pos, parts.amp, parts.size)
        state = fitter.evaluate(parts)
    per_grad_gn = (time.perf_counter() - t0) / 3
    t0 = time.perf_counter()
    fitted = fitter.run(parts.copy(), iterations=60, tol=5e-3)
    t_gn = time.perf_counter() - t0
    fitter.weights = weights
    target = fitter.evaluate(fitted).chi2
    err_gn = np.sqrt(((fitted.pos - truth) ** 2).mean())
    del g

    # --- PyTorch autograd -------------------------------------------------------------------
    k = model.oversample
    h = float(model.semi_axes[0])
    shape = canvas.shape
    half = math.ceil(h * sizes.max() + 1.5)
    grid = torch.arange(-half, half + 1, dtype=torch.float32)
    sub = (torch.arange(k, dtype=torch.float32) + 0.5) / k - 0.5
    offs = torch.stack(torch.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    subs = torch.stack(torch.meshgrid(sub, sub, sub, indexing="ij"), -1).reshape(-1, 3)
    transfer = torch.from_numpy(canvas._transfer)
    data = torch.from_numpy(canvas.data - canvas.background)
    w = torch.from_numpy(weights)
    inner = canvas.inner
    margin = torch.tensor(canvas.margin, dtype=torch.float32)
    scale = k * h
    size_t = torch.from_numpy(sizes.astype(np.float32))
    strides = torch.tensor([shape[1] * shape[2], shape[2], 1])

    def objective(pos: torch.Tensor, amp: torch.Tensor) -> torch.Tensor:
        occ = torch.zeros(int(np.prod(shape)), dtype=torch.float32)
        c = pos + margin
        for lo in range(0, len(c), 128):
            cc = c[lo : lo + 128]
            base = torch.floor(cc).detach()
            vox = base[:, None, :] + offs[None]  # (n, V, 3) voxel centres
            d = vox[:, :, None, :] + subs[None, None] - cc[:, None, None, :]
            rho = torch.sqrt((d * d).sum(-1) + 1e-12) / h
            cover = torch.clamp((size_t[lo : lo + 128, None, None] - rho) * scale + 0.5, 0, 1)
            val = cover.mean(-1) * amp[lo : lo + 128, None]
            idx = vox.long().clamp(min=0)
            idx = torch.minimum(idx, torch.tensor(shape) - 1)
            occ.index_add_(0, (idx * strides).sum(-1).reshape(-1), val.reshape(-1))
        grid3 = occ.reshape(shape)
        blurred = torch.fft.irfftn(torch.fft.rfftn(grid3) * transfer, s=shape)
        r = data - blurred[inner]
        return (w * r * r).sum()

    pos = torch.tensor(start, dtype=torch.float32, requires_grad=True)
    amp = torch.full((len(truth),), float(model.brightness), requires_grad=True)
    t0 = time.perf_counter()
    for _ in range(2):
        loss = objective(pos, amp)
        loss.backward()
    per_grad_torch = (time.perf_counter() - t0) / 2
    optimiser = torch.optim.LBFGS([pos, amp], max_iter=200, line_search_fn="strong_wolfe",
                                  tolerance_change=0.0, tolerance_grad=0.0)  # fmt: skip
    calls = [0]
    reached = [math.inf]

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        value = objective(pos, amp)
        value.backward()
        calls[0] += 1
        if value.item() <= target * 1.0005:
            reached[0] = min(reached[0], time.perf_counter() - t0)
        return value

    t0 = time.perf_counter()
    optimiser.step(closure)
    t_torch = time.perf_counter() - t0
    err_torch = float(np.sqrt(((pos.detach().numpy() - truth) ** 2).mean()))
    print(
        f"Gauss-Newton: {per_grad_gn:.2f} s per gradient, converged in {t_gn:.1f} s "
        f"(objective {target:.0f}, RMS error {err_gn:.3f} px)\n"
        f"autograd L-BFGS: {per_grad_torch:.2f} s per gradient, {calls[0]} evaluations in "
        f"{t_torch:.1f} s, reached the Gauss-Newton objective after {reached[0]:.1f} s "
        f"(RMS error {err_torch:.3f} px)"
    )


if __name__ == "__main__":
    main()
