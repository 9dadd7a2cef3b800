# Sessionroom: `make demo` runs the demo room, `make test` runs the whole test suite.
# Both create .venv and install what is needed; as root on Debian they also install the
# Debian packages the real parts need (Mosquitto, libvlc).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := mosquitto mosquitto-clients libvlc5 vlc-plugin-base tmux python3-venv \
	chromium chromium-driver

.PHONY: demo test lint system-packages install

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

system-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "Missing Debian packages:" $$missing; \
	  echo "Install them with: sudo apt-get install" $$missing; \
	  exit 1; \
	fi

demo: system-packages install
	$(BIN)/sessionroom demo

lint: install
	$(BIN)/ruff check controller tests bench playlists
	$(BIN)/ruff format --check controller tests bench playlists
	$(BIN)/mypy

test: system-packages lint
	$(BIN)/pytest
