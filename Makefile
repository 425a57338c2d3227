# The two commands of the README: `make book` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first: pip picks a wheel this machine can use (on Linux, PyPI's is the CUDA build: see the README
# for the CPU-only wheel); an existing torch in the venv is kept. CI: `make install TORCH_SPEC=torch==2.13.0`.
TORCH_SPEC ?= torch
# Chapters executed at a time by `make book` (book/execute_chapters.py).
BOOK_JOBS ?= 2

.PHONY: book test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[book,test]"

# TQDM_DISABLE: progress bars are for live readers; on the built pages they would be frozen text.
# The build also writes the Colab notebooks into _build/html/colab (book/_ext/colab_links.py).
book: install
	TQDM_DISABLE=1 $(BIN)/python book/execute_chapters.py --jobs $(BOOK_JOBS)
	TQDM_DISABLE=1 $(BIN)/jupyter-book build . -W -n --keep-going
	@echo "The book is in _build/html/index.html"

test: install
	$(BIN)/python -m pytest

clean:
	rm -rf _build
