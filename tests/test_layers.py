"""The code's layers hold: the import-linter contracts in pyproject.toml (surfaces compose
downward, nothing below the service imports it or a surface, the shared types import
nothing from the project, keys and feedback never load the index, no import cycles).
The second test makes sure the contracts can fail: an upward import breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the package found in `project`, with that project's contracts."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(project / "pyproject.toml")],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layer_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_them(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "assistant", tmp_path / "assistant", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    keys = tmp_path / "assistant" / "keys.py"
    keys.write_text(keys.read_text(encoding="utf-8") + "\nfrom assistant.index import CorpusIndex\n")
    types = tmp_path / "assistant" / "types.py"
    types.write_text(types.read_text(encoding="utf-8") + "\nfrom assistant.server.api import create_app\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    report = " ".join(result.stdout.split())  # long contract names wrap at the terminal's width
    assert "Keys, feedback and the state database load neither the index nor Chroma BROKEN" in report
    assert "The shared types are at the bottom: they import nothing from the project BROKEN" in report
    assert "Nothing below the service imports it, evaluation or a surface BROKEN" in report
