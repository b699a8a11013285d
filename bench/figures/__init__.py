"""Scripts that make screenshots and figures for the docs."""
