"""ganlib's dependencies resolve against what Colab has installed, without changing any of it.

On Colab, ``%pip install ganlib`` runs inside a live kernel: a dependency that upgrades torch, numpy,
matplotlib, ipywidgets or tqdm replaces a module that is already imported (the reason for issue 27:
ganlib required ipywidgets>=8, Colab ships 7.7.1). This asks pip, with ``--dry-run --report``, what it
would do to install this checkout next to Colab's versions pinned as requirements, and checks that it
resolves and would install ganlib alone.

Why not ``pip install --dry-run --ignore-installed``: pip then needs the metadata of torch 2.11.0 and of
every CUDA library it depends on, and where the registry serves no separate metadata files (as here),
pip downloads the wheels for it: about 2 GB a run, measured. So Colab's packages are laid out as
installed distributions (their metadata only, without their own dependencies, which Colab already has)
in an empty virtual environment, and pip resolves for that environment (``pip --python``): a pin that
ganlib's requirements contradict is a ResolutionImpossible, a package pip would replace shows up in the
report, and anything else ganlib needed would be resolved for real from the registry.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

# Colab's GPU runtime, from googlecolab/backend-info's pip-freeze.gpu.txt (commit a724079, 2026-08-19,
# "Upgrade to Python 3.13"). Colab's torch is the CUDA 12.8 build, 2.11.0+cu128, installed from PyTorch's
# own index; the pin is the public version, which PyPI has.
COLAB_PINS = {
    "torch": "2.11.0+cu128",
    "numpy": "2.1.3",
    "matplotlib": "3.10.0",
    "ipywidgets": "7.7.1",
    "tqdm": "4.67.3",
    "ipython": "7.34.0",
}
RESOLVE_TIMEOUT_S = 300  # building ganlib's metadata in isolation fetches setuptools: seconds, not minutes


def _public(version: str) -> str:
    return version.split("+")[0]


def _colab_stand_in(folder: Path) -> Path:
    """An empty virtual environment whose site-packages lists Colab's pins as installed; its python."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    for name, version in COLAB_PINS.items():
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
        (info / "INSTALLER").write_text("colab-stand-in\n", encoding="utf-8")
        (info / "RECORD").write_text("", encoding="utf-8")
    return python


def _dry_run(python: Path, source: Path) -> subprocess.CompletedProcess:
    pins = [f"{name}=={_public(version)}" for name, version in COLAB_PINS.items()]
    command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "--quiet",
               "--report", "-", str(source), *pins]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run(command, capture_output=True, text=True, timeout=RESOLVE_TIMEOUT_S, env=env)


def test_ganlib_installs_next_to_colabs_packages_without_changing_them(tmp_path, package_registry,
                                                                       checkout_copy):
    python = _colab_stand_in(tmp_path / "colab")
    result = _dry_run(python, checkout_copy)
    assert result.returncode == 0, f"pip cannot install ganlib next to Colab's {COLAB_PINS}:\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    would_install = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    assert set(would_install) == {"ganlib"}, f"installing ganlib on Colab would also install or replace " \
                                             f"{sorted(set(would_install) - {'ganlib'})}"
    print(f"pip --dry-run next to Colab's pins: would install {would_install}")


def test_ganlib_requires_only_what_it_imports():
    """No dependency ganlib does not import: ipywidgets and mlxtend are gone, ipywidgets is an extra."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~; \[]", requirement)[0] for requirement in project["dependencies"]}
    assert names == {"torch", "numpy", "matplotlib", "tqdm"}, names
    assert "ipywidgets>=7.7" in project["optional-dependencies"]["widgets"]


def test_the_check_refuses_a_requirement_colab_cannot_keep(tmp_path, package_registry, checkout_copy):
    """The same dry run fails for a ganlib that asks for ipywidgets>=8 (the requirement issue 27 removed)."""
    broken = tmp_path / "broken"
    shutil.copytree(checkout_copy, broken)
    pyproject = broken / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    assert "dependencies = [\n" in text
    pyproject.write_text(text.replace("dependencies = [\n", 'dependencies = [\n    "ipywidgets>=8.0",\n', 1),
                         encoding="utf-8")
    result = _dry_run(_colab_stand_in(tmp_path / "colab"), broken)
    assert result.returncode != 0 and "ResolutionImpossible" in result.stderr, result.stderr[-2000:]
