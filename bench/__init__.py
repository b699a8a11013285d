"""voxpick's benchmarks, training recipes, experiments and figure scripts.

Run from the repository root as modules, for example::

    python -m bench                                  # every benchmark, in docs order
    python -m bench --quick                          # every benchmark's smoke run
    python -m bench.benchmarks.accuracy --quick      # one benchmark
    python -m bench.recipes.train_default --help     # the recipe of the shipped U-Net

* :mod:`bench.common`: helpers shared by the scripts (paths, the seed split, docs writer, ...).
* :mod:`bench.recipes`: the scripts that produce the shipped weights.
* :mod:`bench.benchmarks`: the scripts that write docs/benchmarks.md, one section each.
* :mod:`bench.experiments`: diagnostics and experiments whose outcome is recorded in docs/.
* :mod:`bench.figures`: screenshots and figures for the docs.

See bench/README.md.
"""
