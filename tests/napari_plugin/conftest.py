"""Qt for the napari tests: offscreen, and skipped cleanly where OpenGL cannot start.

Qt's default platform (xcb) aborts the whole process without a display, so the offscreen
platform is set before any QApplication exists. The offscreen platform draws OpenGL (which
napari's canvas needs) only through an X server: with pytest-xvfb and the Debian package
``xvfb`` installed, an Xvfb server is started for the session; without one the viewer tests
skip with the reason.
"""

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def opengl(qapp):
    """Skip unless Qt can create an OpenGL context (napari's canvas needs one)."""
    from qtpy.QtGui import QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        pytest.skip(
            f"Qt ({os.environ.get('QT_QPA_PLATFORM')}) cannot create an OpenGL context: no X "
            "server. Install the Debian package xvfb (pytest-xvfb then starts one) or run "
            "under xvfb-run."
        )
    return context


@pytest.fixture
def viewer(opengl, make_napari_viewer):
    """A napari viewer (not shown) with a working canvas."""
    return make_napari_viewer()
