"""Optional extras and the lock: what happens without them, and that the lock covers pyproject."""

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements" / "lock.txt"

#: Import name of every optional package, by the extra that brings it.
OPTIONAL = {
    "distributed": "cluster",
    "copick": "cryoet",
    "ome_zarr": "cryoet",
    "mrcfile": "cryoet",
    "starfile": "cryoet",
    "imodmodel": "cryoet",
    "trackpy": "track",
    "napari": "napari",
}


def _project() -> dict:
    with PYPROJECT.open("rb") as fh:
        return tomllib.load(fh)["project"]


def _lock() -> dict[str, Version]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{LOCK.name}: {line!r} is not a NAME==VERSION pin"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def _block(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make ``import name`` (and of its submodules) fail as if the package were not installed."""
    for key in [k for k in sys.modules if k.startswith(name + ".")]:
        monkeypatch.setitem(sys.modules, key, None)
    monkeypatch.setitem(sys.modules, name, None)


def _fix(extra: str) -> str:
    return rf"pip install 'voxpick\[{extra}\]'"


# --- pyproject and the lock ---------------------------------------------------------------


def test_optional_packages_are_extras_not_requirements():
    project = _project()
    required = {canonicalize_name(Requirement(r).name) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    for module, extra in OPTIONAL.items():
        dist = canonicalize_name(module.replace("_", "-"))
        assert dist not in required, f"{dist} is optional: it belongs in the {extra!r} extra"
        assert dist in {canonicalize_name(Requirement(r).name) for r in extras[extra]}
    assert extras["all"] == ["voxpick[cluster,cryoet,track,napari]"]


def test_lock_pins_every_requirement_within_its_range():
    project = _project()
    pins = _lock()
    reqs = list(project["dependencies"])
    for group in project["optional-dependencies"].values():
        reqs += [r for r in group if not r.startswith("voxpick")]
    for text in reqs:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in {LOCK.name}: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{LOCK.name} pins {req.name}=={pins[name]}, outside {text!r}: run `make lock`"
        )
    assert pins[canonicalize_name("torch")] == Version("2.13.0")  # the CPU build from disk


# --- a clear error for each missing optional package ---------------------------------------


def test_missing_mrcfile(monkeypatch, tmp_path):
    from voxpick.io import read_mrc, read_volume, write_mrc

    _block(monkeypatch, "mrcfile")
    path = tmp_path / "t.mrc"
    path.write_bytes(bytes(2048))
    match = rf"mrcfile.*{_fix('cryoet')}"
    with pytest.raises(ImportError, match=match):
        read_mrc(path)
    with pytest.raises(ImportError, match=match):
        read_volume(path)
    with pytest.raises(ImportError, match=match):
        write_mrc(tmp_path / "w.mrc", np.zeros((4, 4, 4), np.float32), voxel_size=10.0)
    assert not (tmp_path / "w.mrc").exists()


def test_missing_copick(monkeypatch, tmp_path):
    from voxpick.io import list_runs, open_project

    _block(monkeypatch, "copick")
    config = tmp_path / "copick.json"
    config.write_text("{}")
    match = rf"copick.*{_fix('cryoet')}"
    with pytest.raises(ImportError, match=match):
        open_project(config)
    with pytest.raises(ImportError, match=match):
        list_runs(str(config))


def test_missing_ome_zarr(monkeypatch, tmp_path):
    from voxpick.io import write_ome_zarr

    _block(monkeypatch, "ome_zarr")
    with pytest.raises(ImportError, match=rf"ome-zarr.*{_fix('cryoet')}"):
        write_ome_zarr(tmp_path / "v.ome.zarr", np.zeros((8, 8, 8), np.uint8), voxel_size=1.0)


def test_missing_distributed(monkeypatch):
    from voxpick import locate

    _block(monkeypatch, "distributed")
    volume = np.random.default_rng(0).normal(10, 1, (24, 24, 24)).astype(np.float32)
    with pytest.raises(ImportError, match=rf"distributed.*{_fix('cluster')}"):
        locate(volume, diameter=4, method="classical", scheduler="tcp://127.0.0.1:1")


def test_every_module_imports_without_the_extras():
    """Importing any voxpick module (the CLI included) needs none of the optional packages."""
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        for name in {sorted(OPTIONAL)!r}:
            sys.modules[name] = None
        import voxpick
        for info in pkgutil.walk_packages(voxpick.__path__, "voxpick."):
            # the napari widgets are loaded by napari itself, so napari is there when they are
            if not info.name.endswith("__main__") and info.name != "voxpick.napari.widget":
                importlib.import_module(info.name)
        import voxpick.cli.app
        assert callable(voxpick.locate)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr[-3000:]
