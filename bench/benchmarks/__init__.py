"""Scripts that write docs/benchmarks.md, one section each; ``python -m bench`` runs them all."""
