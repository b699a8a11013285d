"""Helpers shared by the recipes, benchmarks and experiments (each helper in one place)."""
