# Two commands for a newcomer: `make run` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
TORCH_VERSION := 2.13.0

# Offline by default: no telemetry, no model hub.
export ANONYMIZED_TELEMETRY := False
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test install ingest chat lint eval bench clean

run: ingest ## Set up, ingest corpus/ and serve the chat on http://127.0.0.1:7860
	$(BIN)/assistant serve --host 127.0.0.1 --port 7860

test: ingest ## Set up, run the whole test suite, then the quality gates of both question sets
	$(BIN)/python -m pytest -n 2 --dist loadfile
	$(BIN)/assistant eval --out evals/reports/latest
	$(BIN)/assistant eval --set evals/user-questions.jsonl --out evals/reports/latest-user-questions

install: $(INSTALLED)

# The CPU build of torch goes in first: left to sentence-transformers, pip would fetch
# a multi-GB CUDA build.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(INSTALLED)

ingest: install ## Index corpus/ incrementally (unchanged files are not embedded again)
	$(BIN)/assistant ingest corpus --prune

chat: ingest
	$(BIN)/assistant chat

eval: ingest ## Measure answer quality on evals/golden.jsonl (report in evals/reports/)
	$(BIN)/assistant eval

bench: ingest ## Speed benchmarks (results in benchmarks/results/)
	$(BIN)/python benchmarks/bench_ask.py
	$(BIN)/python benchmarks/bench_http.py

lint: install
	$(BIN)/ruff check assistant tests benchmarks
	$(BIN)/ruff format --check assistant tests benchmarks
	$(BIN)/mypy assistant

clean:
	rm -rf $(VENV) .assistant .pytest_cache
