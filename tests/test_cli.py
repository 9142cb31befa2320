"""The real `assistant` console script in subprocesses, over a tiny corpus in a tmp data dir.

Each subprocess loads the libraries (and, to answer, the model), so every invocation runs
once per module (in a fixture) and several tests read its result.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from assistant.cli.app import app
from assistant.config import Settings
from assistant.documents import load_file
from assistant.keys import create_key
from assistant.store import Feedback, add_feedback
from tests.conftest import CITATION_KEYS

ASSISTANT = Path(sys.executable).parent / "assistant"

TIN = "How much refined tin did the Butterworth smelter produce in 2023?"
FILES = {
    "tin.md": (
        '---\ntitle: "Tin in Perak"\nsource: "https://example.org/tin"\n'
        'publisher: "Example Mining Office"\ndate: "2024-05-02"\n---\n\n'
        "The Butterworth smelter produced 20,000 tonnes of refined tin in 2023.\n\n"
        "Most of the refined tin is shipped to Japan, Korea and the Netherlands.\n\n"
        "The smelter was founded in 1887 on Penang island.\n"
    ),
    "palm.md": (
        '---\ntitle: "Palm Oil Levies"\nsource: "https://example.org/palm"\n'
        'publisher: "Example Plantation Board"\ndate: "2023-11-20"\n---\n\n'
        "Crude palm oil exports pay a windfall levy when the reference price exceeds "
        "3,000 ringgit per tonne.\n\n"
        "Sabah and Sarawak grow more than half of the oil palms in the country.\n"
    ),
    "chips.md": (
        '---\ntitle: "Chips in Penang"\nsource: "https://example.org/chips"\n'
        'publisher: "Example Investment Agency"\ndate: "2022-08-15"\n---\n\n'
        "Penang assembles and tests semiconductors for American chip makers.\n\n"
        "Kulim hosts wafer fabs that make power chips for electric cars.\n"
    ),
}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_text(self) -> str:
        """stderr with line wrapping undone."""
        return " ".join(self.stderr.split())


@dataclass
class Workspace:
    root: Path
    corpus: Path
    data_dir: Path

    def run(self, *args: str) -> Run:
        env = {**os.environ, "ASSISTANT_DATA_DIR": str(self.data_dir), "COLUMNS": "400"}
        result = subprocess.run(
            [str(ASSISTANT), "--data-dir", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.root,
            timeout=240,
        )
        return Run(result.returncode, result.stdout, result.stderr)

    def run_in_terminal(self, *args: str) -> Run:
        """Run with stderr on a pseudo-terminal, where progress displays are drawn; `stderr`
        is everything the terminal was sent, frame by frame."""
        env = {**os.environ, "ASSISTANT_DATA_DIR": str(self.data_dir), "COLUMNS": "200", "TERM": "xterm"}
        controller, terminal = pty.openpty()
        shown: list[bytes] = []

        def read() -> None:
            while True:
                try:
                    data = os.read(controller, 4096)
                except OSError:  # the child closed the terminal
                    return
                if not data:
                    return
                shown.append(data)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            result = subprocess.run(
                [str(ASSISTANT), "--data-dir", str(self.data_dir), *args],
                stdout=subprocess.PIPE,
                stderr=terminal,
                text=True,
                env=env,
                cwd=self.root,
                timeout=240,
            )
        finally:
            os.close(terminal)
            reader.join(timeout=10)
            os.close(controller)
        return Run(result.returncode, result.stdout, b"".join(shown).decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("cli")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in FILES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return Workspace(root, corpus, root / "data")


@pytest.fixture(scope="module")
def first_ingest(workspace: Workspace) -> Run:
    return workspace.run("ingest", str(workspace.corpus))


@pytest.fixture(scope="module")
def second_ingest(workspace: Workspace, first_ingest: Run) -> Run:
    """Re-ingest the same corpus, plus a path that does not exist, with --strict."""
    return workspace.run("ingest", str(workspace.corpus), str(workspace.root / "no-such-dir"), "--strict")


def counts(stdout: str) -> dict[str, int]:
    """{'files added': 3, 'chunks embedded': 3, ...} from the ingest report."""
    found: dict[str, int] = {}
    for kind in ("Files", "Chunks"):
        line = next(line for line in stdout.splitlines() if line.startswith(f"{kind}:"))
        for number, label in re.findall(r"(\d+) ([a-z]+)", line):
            found[f"{kind.lower()} {label}"] = int(number)
    return found


def test_ingest_prints_counts(first_ingest: Run) -> None:
    assert first_ingest.returncode == 0, first_ingest.stderr
    found = counts(first_ingest.stdout)
    assert found["files added"] == 3
    assert found["files updated"] == found["files unchanged"] == found["files deleted"] == 0
    assert found["files skipped"] == 0
    assert found["chunks added"] == found["chunks embedded"] >= 3
    assert "Skipped" not in first_ingest.stderr


def test_second_ingest_adds_and_embeds_nothing(first_ingest: Run, second_ingest: Run) -> None:
    found = counts(second_ingest.stdout)
    assert found["files added"] == 0 and found["files updated"] == 0
    assert found["files unchanged"] == 3
    assert found["chunks added"] == 0 and found["chunks embedded"] == 0
    assert found["chunks unchanged"] == counts(first_ingest.stdout)["chunks added"]


def test_ingest_of_a_nonexistent_path_is_reported(workspace: Workspace, second_ingest: Run) -> None:
    missing = str(workspace.root / "no-such-dir")
    assert f"Skipped {missing}: path does not exist" in second_ingest.error_text
    assert counts(second_ingest.stdout)["files skipped"] == 1
    assert second_ingest.returncode == 1  # --strict


def test_sources_json(workspace: Workspace, first_ingest: Run) -> None:
    result = workspace.run("sources", "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert sorted(Path(item["path"]).name for item in listed) == sorted(FILES)
    by_name = {Path(item["path"]).name: item for item in listed}
    assert by_name["tin.md"]["title"] == "Tin in Perak"
    assert by_name["tin.md"]["source"] == "https://example.org/tin"
    assert by_name["tin.md"]["publisher"] == "Example Mining Office"
    assert by_name["tin.md"]["date"] == "2024-05-02"
    assert sum(item["chunks"] for item in listed) == counts(first_ingest.stdout)["chunks added"]
    # Newest first.
    assert [item["date"] for item in listed] == ["2024-05-02", "2023-11-20", "2022-08-15"]


def test_ask_json(workspace: Workspace, first_ingest: Run) -> None:
    # Short dates (YYYY, YYYY-MM) are accepted as filters; the tin document is 2024-05-02.
    # (One subprocess for both checks: each loads the model, about 20 s.)
    result = workspace.run("ask", "--json", "--date-from", "2024", "--date-to", "2024-05", TIN)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert {"answer", "refused", "citations", "timings_ms"} <= set(data)
    assert data["refused"] is False
    assert "20,000 tonnes" in data["answer"]
    assert data["citations"]
    for citation in data["citations"]:
        assert set(citation) >= CITATION_KEYS
        assert f"[{citation['n']}]" in data["answer"]
        assert citation["title"] == "Tin in Perak"
        assert citation["source"] == "https://example.org/tin"
        assert citation["publisher"] == "Example Mining Office"
        assert citation["date"] == "2024-05-02"
        assert citation["page"] is None
        assert isinstance(citation["score"], float)
        text = load_file(Path(citation["path"])).page_content
        assert text[citation["start"] : citation["end"]] == citation["quote"]
    assert {"condense", "retrieve", "answer", "total"} <= set(data["timings_ms"])


def test_ask_file_answers_each_line(workspace: Workspace, first_ingest: Run) -> None:
    questions = workspace.root / "questions.jsonl"
    lines = [
        {"id": "plain", "question": "What is the windfall levy on crude palm oil?"},
        {
            "id": "follow",
            "question": "Where is it shipped?",
            "history": [
                {"role": "user", "content": TIN},
                {
                    "role": "assistant",
                    "content": "The smelter produced 20,000 tonnes of refined tin.",
                },
            ],
        },
        {"id": "blank", "question": "   "},
    ]
    questions.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = workspace.run("ask", "--json", "--file", str(questions))
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [o["id"] for o in outputs] == ["plain", "follow", "blank"]

    plain, follow, blank = outputs
    assert not plain["refused"] and "windfall levy" in plain["answer"]
    assert "error" not in plain
    assert follow["standalone_question"] != "Where is it shipped?"
    assert TIN in follow["standalone_question"]
    assert "Japan, Korea and the Netherlands" in follow["answer"]
    for output in (plain, follow):
        assert {"answer", "refused", "citations", "timings_ms"} <= set(output)
        assert all(set(c) >= CITATION_KEYS for c in output["citations"])
    assert "empty" in blank["error"]
    assert "answer" not in blank


def test_ask_with_a_missing_file(workspace: Workspace, first_ingest: Run) -> None:
    missing = workspace.root / "nope.jsonl"
    result = workspace.run("ask", "--file", str(missing))
    assert result.returncode == 1
    assert f"Error: No such file: {missing}" in result.error_text
    assert result.stdout == ""


def test_delete_of_an_unknown_source(workspace: Workspace, first_ingest: Run) -> None:
    result = workspace.run("delete", "https://example.org/not-indexed")
    assert result.returncode == 1
    assert "Error: No indexed document matches 'https://example.org/not-indexed'" in result.error_text
    assert result.stdout == ""


# --- in-process invocations, the read-only data directory, and the ingest status --------


def invoke(*args: str) -> Result:
    """The `assistant` command in this process (Click's runner), for what needs no index."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


HELP_PAGES = [
    [],
    ["ingest"],
    ["sources"],
    ["ask"],
    ["eval"],
    ["keys"],
    ["keys", "create"],
    ["feedback"],
    ["feedback", "list"],
]


@pytest.mark.parametrize("command", HELP_PAGES, ids=lambda command: " ".join(command) or "assistant")
def test_help_shows_flags_without_a_value_type(command: list[str]) -> None:
    """A flag takes no value: help used to read `--json <bool>`, `--help <bool>`."""
    result = invoke(*command, "--help")
    assert result.exit_code == 0, result.output
    assert "--help" in result.stdout
    assert "<bool>" not in result.stdout


def test_help_still_shows_the_type_of_options_that_take_a_value() -> None:
    result = invoke("ask", "--help")
    assert result.exit_code == 0, result.output
    assert re.search(r"--file\s+<path>", result.stdout)
    assert re.search(r"--date-from\s+<str>", result.stdout)
    assert re.search(r"--json\s+Print the Answer as JSON", result.stdout)


@pytest.mark.parametrize(
    ("option", "value"), [("--date-from", "today"), ("--date-to", "2024-13-01"), ("--date-to", "")]
)
def test_ask_with_a_bad_date_says_so_in_one_line(option: str, value: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = invoke("--data-dir", str(data_dir), "ask", option, value, TIN)
    assert result.exit_code == 2
    assert result.stderr == f'Error: {option}: "{value}" is not a date (use YYYY-MM-DD, YYYY-MM or YYYY).\n'
    assert result.stdout == ""
    assert not data_dir.exists()  # refused before anything was opened


@pytest.fixture
def read_only_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A data directory with a key and a feedback row in it, then made read-only.

    As tests/test_index.py does: root writes through chmod, so as root the directory is a
    tmpfs mount, filled while writable and then remounted read-only (skipped where mounting
    is not allowed); other users get chmod 555.
    """
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "tmpfs", str(data_dir)], capture_output=True, text=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"running as root and cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        settings = Settings(data_dir=data_dir)
        create_key(settings, "site", ["https://example.com"])
        add_feedback(settings, Feedback("down", TIN, "No idea.", [], []))
        if as_root:
            subprocess.run(["mount", "-o", "remount,ro", str(data_dir)], check=True)
        else:
            data_dir.chmod(0o555)
        yield Workspace(tmp_path, tmp_path, data_dir)
    finally:
        if as_root:
            subprocess.run(["umount", str(data_dir)], check=True)
        else:
            data_dir.chmod(0o755)


@pytest.mark.parametrize(
    "command",
    [["keys", "list"], ["keys", "revoke", "site"], ["feedback", "list"], ["sources"]],
    ids=" ".join,
)
def test_read_only_data_dir_is_a_one_line_error(read_only_workspace: Workspace, command: list[str]) -> None:
    """`sources` said so already; the key and feedback commands printed a traceback."""
    result = read_only_workspace.run(*command)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: Data directory {read_only_workspace.data_dir} is read-only (")
    assert lines[0].endswith("Choose a writable one with --data-dir or ASSISTANT_DATA_DIR.")
    assert result.stdout == ""


def test_ingest_in_a_terminal_says_when_it_loads_the_embedding_model(tmp_path: Path) -> None:
    """The model loads on the first text to embed and takes 20-30 s on a slow machine; the
    progress line says so instead of sitting at 0/? without a word. An ingest that embeds
    nothing does not load it, and does not say it does."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tin.md").write_text(FILES["tin.md"], encoding="utf-8")
    workspace = Workspace(tmp_path, corpus, tmp_path / "data")

    first = workspace.run_in_terminal("ingest", str(corpus))
    assert first.returncode == 0, first.stderr
    assert "Loading the embedding model" in first.stderr
    assert counts(first.stdout)["chunks embedded"] >= 1

    again = workspace.run_in_terminal("ingest", str(corpus))
    assert again.returncode == 0, again.stderr
    assert counts(again.stdout)["chunks embedded"] == 0
    assert "Indexing" in again.stderr  # the progress line was drawn
    assert "Loading the embedding model" not in again.stderr


def test_feedback_list_shows_the_rating(tmp_path: Path) -> None:
    """`[up]` and `[down]` were read as Rich markup tags and vanished; text in brackets in
    a question or comment is shown as typed."""
    settings = Settings(data_dir=tmp_path / "data")
    add_feedback(
        settings, Feedback("down", "Is [bold]tin[/bold] exported?", "No.", [], [], comment="see [b]")
    )
    add_feedback(settings, Feedback("up", TIN, "20,000 tonnes [1].", [], []))
    result = invoke("--data-dir", str(settings.data_dir), "feedback", "list")
    assert result.exit_code == 0, result.output
    newest, oldest = result.stdout.splitlines()
    assert re.fullmatch(r"#2 \S+ \S+ \[up\] " + re.escape(TIN), newest)
    assert re.fullmatch(r"#1 \S+ \S+ \[down\] Is \[bold\]tin\[/bold\] exported\? — see \[b\]", oldest)


def test_a_key_name_in_use_says_names_are_not_reused(tmp_path: Path) -> None:
    """The message used to say "revoke it first", but a revoked key keeps its name."""
    data = str(tmp_path / "data")
    assert invoke("--data-dir", data, "keys", "create", "--name", "site", "--server").exit_code == 0
    again = invoke("--data-dir", data, "keys", "create", "--name", "site", "--server")
    assert again.exit_code != 0
    assert "A key named 'site' exists; pick another name" in again.stderr
    assert "revoke it first" not in again.stderr
    assert invoke("--data-dir", data, "keys", "revoke", "site").exit_code == 0
    after = invoke("--data-dir", data, "keys", "create", "--name", "site", "--server")
    assert after.exit_code != 0
    assert "A revoked key was named 'site', and names are not reused" in after.stderr
    other = invoke("--data-dir", data, "keys", "create", "--name", "site-2", "--server")
    assert other.exit_code == 0 and other.stdout.strip().splitlines()[-1].startswith("mia_")
