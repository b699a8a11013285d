"""Progress displays: rich bars in a terminal, lines in a notebook without ipywidgets."""

from __future__ import annotations

import io

import pytest

import voxpick
from voxpick import progress
from voxpick.simulate import simulate_volume


def test_line_progress_prints_start_tenths_and_end():
    stream = io.StringIO()
    with progress.LineProgress(stream) as bar:
        task = bar.add_task("blocks", total=20)
        for _ in range(20):
            bar.advance(task)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("blocks 0/20 ...")
    assert lines[-1].startswith("blocks 20/20 done")
    assert 10 <= len(lines) <= 12  # a line per tenth, not per step


def test_a_notebook_without_ipywidgets_gets_lines(monkeypatch):
    monkeypatch.setattr(progress, "_in_notebook_without_widgets", lambda: True)
    assert isinstance(progress.progress_display(), progress.LineProgress)
    assert not isinstance(progress.progress_display(enabled=False), progress.LineProgress)
    monkeypatch.setattr(progress, "_in_notebook_without_widgets", lambda: False)
    from rich.progress import Progress

    assert isinstance(progress.progress_display(), Progress)


def test_stage_in_a_notebook_prints_its_lines(monkeypatch, capsys):
    monkeypatch.setattr(progress, "_in_notebook_without_widgets", lambda: True)

    class Jupyter:
        is_terminal, is_jupyter = False, True

        def __init__(self, **_):
            pass

    monkeypatch.setattr("rich.console.Console", Jupyter)
    with progress.stage("auto: estimating parameters"):
        pass
    err = capsys.readouterr().err
    assert "auto: estimating parameters ..." in err and "done" in err


@pytest.mark.parametrize("enabled", [True, False])
def test_in_memory_locate_shows_its_progress(enabled, capsys):
    sim = simulate_volume(32, radius=4, volfrac=0.2, rng=5)
    voxpick.locate(sim.volume, diameter=8, method="classical", progress=enabled)
    err = capsys.readouterr().err
    assert ("blocks" in err and "1/1" in err) == enabled
