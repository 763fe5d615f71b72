# probscope — set-up and checks. `make run` opens the window; `make test` runs every check.
# Both create .venv on first use; stamps depend on pyproject.toml so a second call installs nothing.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
QT_STAMP   := $(VENV)/.qt-system-libs

# Shared libraries Qt needs even offscreen; installed only when missing (CI runs as root).
QT_DEBS := libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 fonts-dejavu-core \
           libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
           libxcb-render-util0 libxcb-image0

.PHONY: run test lint bench package package-test install-desktop clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(RUN_STAMP)

$(QT_STAMP): | $(RUN_STAMP)
	@if ! QT_QPA_PLATFORM=offscreen $(BIN)/python -c "from PySide6.QtWidgets import QApplication; QApplication([])" >/dev/null 2>&1; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Qt's system libraries: $(QT_DEBS)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(QT_DEBS) >/dev/null; \
	  else \
	    echo "Qt cannot start: install these packages with your package manager: $(QT_DEBS)"; exit 1; \
	  fi; \
	fi
	touch $@

run: $(RUN_STAMP) $(QT_STAMP)
	$(BIN)/probscope

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(TEST_STAMP) $(QT_STAMP) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(TEST_STAMP)
	$(BIN)/python -m benchmarks

# Menu entry, icon and .keras/.h5 file types for the current user (XDG paths).
XDG_DATA ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
install-desktop: $(RUN_STAMP)
	install -Dm644 packaging/linux/io.github.probscope.desktop $(XDG_DATA)/applications/io.github.probscope.desktop
	sed -i 's|^Exec=probscope|Exec=$(abspath $(BIN))/probscope|' $(XDG_DATA)/applications/io.github.probscope.desktop
	install -Dm644 resources/icons/probscope.svg $(XDG_DATA)/icons/hicolor/scalable/apps/io.github.probscope.svg
	install -Dm644 packaging/linux/io.github.probscope.xml $(XDG_DATA)/mime/packages/io.github.probscope.xml
	install -Dm644 packaging/linux/io.github.probscope.metainfo.xml $(XDG_DATA)/metainfo/io.github.probscope.metainfo.xml
	-update-mime-database $(XDG_DATA)/mime 2>/dev/null
	-update-desktop-database $(XDG_DATA)/applications 2>/dev/null
	@echo "Installed: probscope is in the applications menu; .keras/.h5 files open with it."

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
