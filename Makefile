# The README's two commands are `make run` and `make test`; both install what they need first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# `make run BROKERS=3`: a three-node KRaft cluster on loopback, as in docker-compose.yml.
BROKERS ?= 1

.PHONY: run run-cluster run-zookeeper run-full test test-migration install tools ffmpeg lint format typecheck check bench bench-video bench-delivery bench-nginx chaos fuzz clean

run: install ## Start Kafka, storage, the database and every service; serve http://localhost:8000
	$(PY) -m infra.local run --brokers $(BROKERS)

run-cluster: ## `make run` on three Kafka nodes (replication factor 3, min.insync.replicas 2)
	$(MAKE) run BROKERS=3

run-zookeeper: install ## The design's own cluster: ZooKeeper and two Kafka 3.9 brokers (replication factor 2)
	$(PY) -m infra.local run --zookeeper --brokers 2

run-full: install ## docker-compose.yml's topology from that file, natively: nginx, 2 frontends, 3 Kafka nodes, PostgreSQL + replica
	$(PY) -m infra.local run-full

test: install ## Every test, against a real Kafka broker, MinIO, SQLite and PostgreSQL
	$(PY) -m pytest --ignore=$(MIGRATION_TEST)

# Minutes of rolling restarts: the ZooKeeper-to-KRaft migration has a target of its own.
MIGRATION_TEST := tests/system/test_zookeeper_migration.py
test-migration: install ## Kafka 3.9's ZooKeeper-to-KRaft migration on the two-broker cluster, with data and services
	$(PY) -m pytest $(MIGRATION_TEST)

install: $(INSTALLED) tools

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

tools: ffmpeg ## Java 17, Maven and Go build the local Kafka and MinIO; PostgreSQL is installed on demand
	@for tool in java mvn go; do \
	  command -v $$tool >/dev/null || { echo "error: '$$tool' is required (see README: Requirements)"; exit 1; }; \
	done

ffmpeg: ## The video workers run Debian's ffmpeg and ffprobe: installed with apt-get when missing
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] || { \
	    echo "error: ffmpeg is required: apt-get install ffmpeg (needs root)"; exit 1; }; \
	  echo "Installing ffmpeg with apt-get (once)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends ffmpeg; }

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

lint: install ## Formatter, linter and type checker, as CI runs them
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

check: lint test

bench: install ## Image jobs through the running pipeline vs. a plain Pillow loop
	$(PY) -m bench.images

bench-video: install ## A 60 s 1080p25 clip in chunks: time to playable and to done (1, 2 workers) vs. one ffmpeg process
	$(PY) -m bench.video

bench-nginx: install ## Requests per second through nginx with two frontends vs. one frontend directly
	$(PY) -m bench.nginx

bench-images-on-demand: install ## /img: cached variants per second, and a miss against a plain Pillow resize
	$(PY) -m bench.images_on_demand

bench-delivery: install ## The frontend's memory while a 1 GiB rendition is downloaded through its redirect
	$(PY) -m bench.delivery

bench-upload: install ## 1 GiB through the resumable upload protocol vs. a plain multipart upload to MinIO
	$(PY) -m bench.uploads

fuzz: install ## 10,000 mutated JPEG/PNG/GIF/WebP/MP4 uploads: answers, outcomes, worker deaths, peak memory
	$(PY) -m infra.fuzz $(FUZZ_ARGS)

chaos: install ## Kill workers, the frontend and a broker, stop MinIO and PostgreSQL under load; check the promise
	$(PY) -m infra.chaos $(CHAOS_ARGS)

clean: ## Remove the virtual environment (keeps .state: uploads, Kafka data, caches)
	rm -rf $(VENV)
