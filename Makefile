# The README's two commands: `make demo` and `make test`. Each creates .venv and installs when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TRAIN_STAMP := $(VENV)/.installed-train

.PHONY: demo test install clean

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# The training extras (TensorFlow, Keras): the tests train and export small deep models.
$(TRAIN_STAMP): $(STAMP) requirements-train.txt
	$(PY) -m pip install --quiet -r requirements-train.txt
	touch $(TRAIN_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) run.py demo

# Two workers (pytest-xdist), a test file each at a time: a file's fixtures (a model trained once for
# its tests) are made once. Two cores are shared with TensorFlow's threads, so the gain is well under half.
test: $(TRAIN_STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .pytest_cache
