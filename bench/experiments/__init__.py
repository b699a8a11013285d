"""Diagnostics and experiments not run by ``python -m bench``; their outcome is in docs/."""
