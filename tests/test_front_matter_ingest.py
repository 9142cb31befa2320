"""`assistant ingest` (the real console script) over a folder holding a YAML alias bomb, a
file over max_file_bytes and a bad title next to a good file: each bad file is reported
and skipped, and the good one is indexed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_documents import ALIAS_BOMB

ASSISTANT = Path(sys.executable).parent / "assistant"


def test_ingest_skips_each_hostile_file_and_indexes_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text(
        '---\ntitle: "Tin in Perak"\n---\n\nThe Butterworth smelter produced 20,000 tonnes of tin.\n',
        encoding="utf-8",
    )
    (folder / "bomb.md").write_text(ALIAS_BOMB, encoding="utf-8")
    (folder / "long_title.md").write_text(f"---\ntitle: {'T' * 5000}\n---\n\nBody text.\n", encoding="utf-8")
    line = b"Refined tin output rose in Perak as the smelter added a furnace line.\n"
    (folder / "huge.txt").write_bytes(line * (30 * 1024 * 1024 // len(line) + 1))
    data_dir = tmp_path / "data"

    result = subprocess.run(
        [str(ASSISTANT), "--data-dir", str(data_dir), "ingest", str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSISTANT_DATA_DIR": str(data_dir), "COLUMNS": "400"},
        cwd=tmp_path,
        timeout=240,
    )

    assert result.returncode == 0, result.stderr
    skipped = {
        Path(line.split(": ", 1)[0].removeprefix("Skipped ")).name: line
        for line in result.stderr.splitlines()
        if line.startswith("Skipped ")
    }
    assert set(skipped) == {"bomb.md", "long_title.md", "huge.txt"}, result.stderr
    assert "alias" in skipped["bomb.md"]
    assert "title is 5000 characters long" in skipped["long_title.md"]
    assert "ASSISTANT_MAX_FILE_BYTES" in skipped["huge.txt"]
    assert "Files: 1 added" in result.stdout and "3 skipped with errors" in result.stdout
