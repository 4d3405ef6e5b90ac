# The two commands a newcomer needs (see README):  make demo   and   make test
# Each creates .venv and installs what it needs; system packages (mosquitto, systemd-analyze)
# are installed from Debian when missing and we are root.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench install system-deps clean messages

# The console's catalogs: each committed .po compiled to its .mo whenever it changes (the install does it once).
CATALOGS := $(patsubst %.po,%.mo,$(wildcard edge/office/console/locale/*/LC_MESSAGES/messages.po))

install: $(STAMP) $(CATALOGS)

%.mo: %.po $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

$(STAMP): setup.cfg pyproject.toml models/manifest.json scripts/install-venv.sh
	PYTHON=$(PYTHON) VENV=$(VENV) scripts/install-venv.sh
	touch $@

system-deps:
	@scripts/system-deps.sh

# models.fetch is a quick sha256 check when the weights are there, a download when they are not.
# The whole site: broker, office with its console, east and west gates (README). Ctrl-C stops it.
demo: system-deps $(STAMP) $(CATALOGS)
	@$(BIN)/python -m models.fetch
	$(BIN)/gate-edge site-demo

# pytest exits 5 when it collects no test: say so plainly instead of a bare make error.
# Three workers, one test file each at a time (a file's module fixtures stay in one process): most of the
# suite's time is waiting on brokers, daemons and browsers, so on 2 cores it takes about half as long.
# PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= 3
test: system-deps $(STAMP) $(CATALOGS)
	@$(BIN)/python -m models.fetch
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests collected" >&2; exit $$rc; }

lint: $(STAMP)
	$(BIN)/ruff check .

# After changing a console message: extract every marked one (babel.cfg) into the catalogs; translate the
# new ones (empty msgstr) in each .po, then make compiles it.
messages: $(STAMP)
	@mkdir -p build
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k NP_:1c,2 -k tell -k ptell:1c,2 --no-location --sort-output -o build/messages.pot .
	$(BIN)/pybabel -q update -i build/messages.pot -d edge/office/console/locale -D messages -w 120 \
		--no-fuzzy-matching --ignore-obsolete

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info
	# the fetched weights only: what .gitignore ignores there (the committed folders are its exceptions)
	git clean -fdqX -- models/weights
