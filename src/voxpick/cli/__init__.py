"""Command-line interface (``voxpick``)."""
