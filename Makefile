# Inflow: `make run` starts the workbench, `make test` runs the test suite. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test install install-test lint results bench clean-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Runtime packages, then the embedded local model (llama-cpp-python built with explicit CPU flags).
# Last, UMAP's numba code is compiled once into its on-disk cache (core/stages/warmup.py), so the
# first visit of the workbench does not spend minutes compiling behind a progress message.
$(VENV)/.installed: requirements.txt scripts/install_local_llm.sh | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	bash scripts/install_local_llm.sh $(PY)
	$(PY) -c "from core.stages.warmup import warm_up; print(f'UMAP compiled and cached in {warm_up():.0f} s')"
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-test.txt
	bash scripts/install_browser.sh
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: install
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT)

# The second pytest re-runs the factor statistics on a simulated other CPU: numba's generic x86-64 code
# and OpenBLAS's oldest kernel round floating point differently from this machine's, as another CPU
# would, so a test that sits on a knife edge fails here first, not on the next CI machine.
OTHER_CPU := NUMBA_CPU_NAME=generic OPENBLAS_CORETYPE=Prescott

test: install-test
	$(PY) -m ruff check .
	$(PY) -m pytest
	$(OTHER_CPU) $(PY) -m pytest -q -m "not slow" tests/stages tests/cli/test_build.py

lint: install-test
	$(PY) -m ruff check .

results: install
	$(PY) bench/results.py

bench: install-test
	$(PY) bench/llm_throughput.py
	$(PY) bench/embed_speed.py
	$(PY) bench/factor_map.py
	$(PY) bench/tokens.py
	$(PY) bench/direction_split.py
	$(PY) bench/faults.py
	$(PY) bench/scale_out.py --users 500 --one-user 200 --cpu-users 10
	$(PY) bench/factor_quality.py
	$(PY) bench/sample_seeds.py
	$(PY) bench/trace_accounting.py
	$(PY) bench/lamp_bm25_overlap.py
	$(PY) bench/feature_retrieval.py

clean-venv:
	rm -rf $(VENV)
