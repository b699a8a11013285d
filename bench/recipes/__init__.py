"""Scripts that produce the weights shipped in ``src/voxpick/nn/weights``."""
