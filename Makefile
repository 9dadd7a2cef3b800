# Sessionroom: `make demo` runs the demo room, `make test` runs the whole test suite.
# Both create .venv and install what is needed; as root on Debian they also install the
# Debian packages the real parts need (Mosquitto, libvlc; for the tests also tmux, Chromium,
# ffmpeg, which makes the display tests' video; npm, when missing, for three.js and the
# display tests' WebXR emulator).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME_PACKAGES := mosquitto mosquitto-clients libvlc5 vlc-plugin-base python3-venv
TEST_PACKAGES := $(RUNTIME_PACKAGES) tmux chromium chromium-driver ffmpeg systemd

THREE_VERSION := 0.180.0
DISPLAY_VENDOR := controller/display/vendor
IWER_VERSION := 2.5.0
TEST_VENDOR := tests/vendor

.PHONY: demo test lint bench install

# npm from Debian when the machine has none (as root); a NodeSource Node.js brings its own.
ensure_npm = if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian packages: npm"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	fi;

install: $(VENV)/.installed $(DISPLAY_VENDOR)/node_modules/three/package.json

# three.js for 360° video in a headset's browser (WebXR), from the npm registry. Without
# npm (installed from Debian as root when missing) the displays still work; 360° video
# then plays flat.
$(DISPLAY_VENDOR)/node_modules/three/package.json:
	@$(ensure_npm) \
	if command -v npm >/dev/null; then \
	  npm install --silent --no-save --no-package-lock --no-audit --no-fund \
	    --prefix $(DISPLAY_VENDOR) three@$(THREE_VERSION); \
	else \
	  echo "npm not found: displays show 360° video flat (install npm for WebXR)"; \
	fi

# For the tests only: IWER (Meta's Immersive Web Emulation Runtime) emulates a headset's
# WebXR in headless Chromium, which has no XR device; the test injects it into the page,
# the display never serves it.
$(TEST_VENDOR)/node_modules/iwer/package.json:
	@$(ensure_npm) \
	npm install --silent --no-save --no-package-lock --no-audit --no-fund \
	  --prefix $(TEST_VENDOR) iwer@$(IWER_VERSION)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# Install the Debian packages named in $(1) that are missing (as root), or say how to.
define debian_packages
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "Missing Debian packages:" $$missing; \
	  echo "Install them with: sudo apt-get install" $$missing; \
	  exit 1; \
	fi
endef

demo:
	$(call debian_packages,$(RUNTIME_PACKAGES))
	$(MAKE) --no-print-directory install
	$(BIN)/sessionroom demo

lint: install
	$(BIN)/ruff check controller tests bench playlists
	$(BIN)/ruff format --check controller tests bench playlists
	$(BIN)/mypy
	$(BIN)/mypy --strict bench

test:
	$(call debian_packages,$(TEST_PACKAGES))
	$(MAKE) --no-print-directory lint $(TEST_VENDOR)/node_modules/iwer/package.json
	$(BIN)/pytest

bench:
	$(call debian_packages,$(RUNTIME_PACKAGES))
	$(MAKE) --no-print-directory install
	$(BIN)/python -m bench
