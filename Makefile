# probscope — set-up and checks. `make run` opens the window; `make test` runs every check.
# Both create .venv on first use; stamps depend on pyproject.toml so a second call installs nothing.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
PACKAGE_STAMP := $(VENV)/.installed-package

# Shared libraries Qt's X11 window needs (the bundle carries them too); the qt-libs target asks
# the dynamic linker which are missing (packaging/linux/qt_system_libs.py) and installs those.
QT_DEBS := libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 fonts-dejavu-core \
           libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xinerama0 libxcb-randr0 \
           libxcb-render-util0 libxcb-image0

.PHONY: run test lint bench package package-test validate-desktop install-desktop clean qt-libs xvfb \
        digits-fonts digits

# $(call apt_install,PACKAGES,WHY): Debian packages installed as root with apt-get (as in CI);
# anyone else is told which to install, and the target fails.
define apt_install
if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "$(2): installing $(1)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1) >/dev/null; \
	  else \
	    echo "$(2): install these packages with your package manager: $(1)"; exit 1; \
	  fi
endef

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(RUN_STAMP)

$(PACKAGE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[package]"
	touch $@ $(RUN_STAMP)

# Not a stamp: ldd takes milliseconds, and a library removed later must be noticed.
qt-libs: | $(RUN_STAMP)
	@$(BIN)/python packaging/linux/qt_system_libs.py --install

# The tests open the real window on a virtual X server as well as offscreen.
xvfb:
	@if ! command -v Xvfb >/dev/null 2>&1; then \
	  $(call apt_install,xvfb xauth,The window tests run on a virtual X server); \
	fi

run: $(RUN_STAMP) qt-libs
	$(BIN)/probscope

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: $(TEST_STAMP) qt-libs xvfb lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(TEST_STAMP)
	$(BIN)/python -m benchmarks

# The fonts the bundled digit model is trained and evaluated with (app/training/digits/train.py):
# Debian packages downloaded and unpacked into DIGITS_FONTS, so no root and no system change.
# Lato, Carlito, Cantarell, Linux Biolinum, B612 and Old Standard are held out of training.
DIGITS_FONTS ?= $(abspath build/digit-fonts)
DIGITS_FONT_DEBS := fonts-dejavu-core fonts-dejavu-extra fonts-liberation fonts-freefont-ttf \
  fonts-urw-base35 fonts-roboto-unhinted fonts-open-sans fonts-crosextra-carlito fonts-lato \
  fonts-comic-neue fonts-linuxlibertine fonts-cantarell fonts-inter fonts-paratype fonts-cabin \
  fonts-firacode fonts-hack fonts-inconsolata fonts-sil-gentium fonts-sil-andika fonts-ebgaramond \
  fonts-oldstandard fonts-b612 fonts-jetbrains-mono fonts-league-spartan fonts-quicksand \
  fonts-comfortaa fonts-jura fonts-play fonts-oxygen fonts-noto-mono fonts-adf-gillius \
  fonts-adf-universalis fonts-adf-accanthis fonts-tuffy fonts-humor-sans fonts-yanone-kaffeesatz \
  fonts-ocr-b fonts-gfs-didot fonts-arapey fonts-century-catalogue \
  fonts-dkg-handwriting fonts-breip fonts-bwht fonts-dancingscript fonts-kaushanscript fonts-kristi \
  fonts-rufscript fonts-seto fonts-kiloji fonts-klee fonts-leckerli-one fonts-lobster
digits-fonts: $(DIGITS_FONTS)/.unpacked
# Re-made when the Makefile (so the list) changes: only packages not yet downloaded are fetched.
$(DIGITS_FONTS)/.unpacked: Makefile
	@mkdir -p $(DIGITS_FONTS)/debs
	cd $(DIGITS_FONTS)/debs && missing=$$(for p in $(DIGITS_FONT_DEBS); do \
	  ls $${p}_*.deb >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then apt-get download $$missing; fi
	for d in $(DIGITS_FONTS)/debs/*.deb; do dpkg-deb -x $$d $(DIGITS_FONTS); done
	@echo "fonts in $(DIGITS_FONTS): $$(find $(DIGITS_FONTS) -name '*.[ot]tf' | wc -l)"
	@touch $@

# Retrains the bundled digit model and refits its card: the commands of the README's model
# section, in order (about 30 minutes on 2 cores).
digits: $(RUN_STAMP) digits-fonts
	export PROBSCOPE_FONT_DIRS=$(DIGITS_FONTS); \
	$(BIN)/python -m app.training.digits.train --samples 200000 --epochs 4 --towers 2 --seed 20240611 && \
	$(BIN)/python -m app.training.digits.convert && \
	$(BIN)/probscope calibrate --data resources/digits/calibration.npz --alpha 0.05 --save && \
	$(BIN)/probscope ood --data resources/digits/calibration.npz --ood-data resources/digits/ood.npz --score energy --tpr 0.966 --save && \
	$(BIN)/python -m app.training.digits.samples && \
	$(BIN)/python -m app.training.digits.evaluate --stress --n 10000

# The desktop bundle (PyInstaller, one folder): dist/probscope/probscope runs without Python.
BUNDLE := dist/probscope/probscope
# Qt's xcb plugin links libraries a headless build machine may lack: they are installed first
# (as root with apt) so that the bundle carries them, else the user's desktop must have them.
package: $(PACKAGE_STAMP) qt-libs
	@if command -v dpkg-query >/dev/null 2>&1; then \
	  missing=$$(for p in $(QT_DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	  if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Qt's libraries for the bundle:" $$missing; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif [ -n "$$missing" ]; then \
	    echo "note: not installed here, so not bundled (the desktop must have them):" $$missing; \
	  fi; \
	fi
	$(BIN)/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/probscope.spec
	@du -sh dist/probscope

# Runs the bundle with no Python environment (builds it first if there is none), and validates
# the desktop files.
package-test: validate-desktop qt-libs
	@test -x $(BUNDLE) || $(MAKE) package
	packaging/smoke_test.sh $(BUNDLE)

# desktop-file-validate and appstreamcli come from Debian's desktop-file-utils and appstream.
DESKTOP_DEBS := desktop-file-utils appstream
validate-desktop:
	@if ! command -v desktop-file-validate >/dev/null 2>&1 || ! command -v appstreamcli >/dev/null 2>&1; then \
	  $(call apt_install,$(DESKTOP_DEBS),The desktop files are validated by Debian's validators); \
	fi
	@out=$$(desktop-file-validate packaging/linux/io.github.probscope.desktop) || { echo "$$out"; exit 1; }; \
	  if [ -n "$$out" ]; then echo "$$out"; fi; \
	  if echo "$$out" | grep -qE "(error|warning):"; then exit 1; fi; \
	  echo "desktop-file-validate: packaging/linux/io.github.probscope.desktop is valid"
	appstreamcli validate --no-net packaging/linux/io.github.probscope.metainfo.xml

# Menu entry, icon and .keras/.h5 file types for the current user (XDG paths). The menu entry
# runs the bundle when dist/probscope/probscope exists, else this checkout's .venv; choose with
# `make install-desktop PROBSCOPE_EXEC=/path/to/probscope`.
XDG_DATA ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)
VENV_EXEC := $(abspath $(BIN))/probscope
PROBSCOPE_EXEC ?= $(if $(wildcard $(BUNDLE)),$(abspath $(BUNDLE)),$(VENV_EXEC))
install-desktop: $(if $(filter $(VENV_EXEC),$(PROBSCOPE_EXEC)),$(RUN_STAMP))
	install -Dm644 packaging/linux/io.github.probscope.desktop $(XDG_DATA)/applications/io.github.probscope.desktop
	sed -i 's|^Exec=probscope|Exec=$(PROBSCOPE_EXEC)|' $(XDG_DATA)/applications/io.github.probscope.desktop
	install -Dm644 resources/icons/probscope.svg $(XDG_DATA)/icons/hicolor/scalable/apps/io.github.probscope.svg
	install -Dm644 packaging/linux/io.github.probscope.xml $(XDG_DATA)/mime/packages/io.github.probscope.xml
	install -Dm644 packaging/linux/io.github.probscope.metainfo.xml $(XDG_DATA)/metainfo/io.github.probscope.metainfo.xml
	-update-mime-database $(XDG_DATA)/mime 2>/dev/null
	-update-desktop-database $(XDG_DATA)/applications 2>/dev/null
	@echo "Installed: probscope ($(PROBSCOPE_EXEC)) is in the applications menu; .keras/.h5 files open with it."

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
