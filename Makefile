PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.requirements-installed
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/airtime

.PHONY: venv dynamodb-local run test lint messages

# The virtualenv for development: production's requirements and the tools to run (moto for S3), test and lint
# it, brought up to date whenever either file changes. The Docker image installs requirements.txt only.
venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -r requirements-dev.txt
	touch $@

# AWS's DynamoDB Local, for make run, the tests and the benchmarks (Java from Debian; fetched once).
dynamodb-local:
	bin/dynamodb-local-install

# Everything locally: Redis, DynamoDB Local, Django, a Celery worker and beat.
run:
	bin/foreground bin/run

# Suites the SQL database cannot change (parsing, input checks, headers, translations; the cache, CDN, S3 and content
# store clients and the demo's bytes; the read API against its document; stacks of processes that keep their own
# SQLite file) run in the first pass only, and so does the release state machine (single-threaded; the release tests
# it complements run on both).
SQL_AGNOSTIC := tests/cms/test_bad_input.py tests/cms/test_hostile_urls.py tests/cms/test_broadcast.py \
	tests/cms/test_csp.py tests/cms/test_i18n.py tests/cms/test_save_race.py \
	tests/cacheops/test_release_machine.py tests/cacheops/test_read_path_processes.py \
	tests/cacheops/test_monitoring.py tests/cms/test_config_documented.py tests/cms/test_running_stack.py \
	tests/cacheops/test_kill.py tests/cacheops/test_worker_faults.py tests/cacheops/test_worker_outages.py \
	tests/cacheops/test_rehearsal.py tests/cacheops/test_backends.py tests/cacheops/test_chunks.py \
	tests/cacheops/test_cdn.py tests/cacheops/test_openapi.py tests/cms/test_demo_bytes.py tests/cms/test_media_s3.py \
	tests/cms/test_store_outage.py tests/cacheops/test_workers_panel.py tests/cms/test_serve.py

# Suites that start stacks of servers and processes (make run itself, the rehearsal, killed workers, restarted
# brokers): they run one after another, alone on the machine, after the others have run in parallel.
STACKS := tests/cms/test_running_stack.py tests/cacheops/test_rehearsal.py tests/cacheops/test_worker_outages.py \
	tests/cacheops/test_worker_faults.py tests/cacheops/test_kill.py tests/cacheops/test_read_path_processes.py \
	tests/cacheops/test_monitoring.py tests/cms/test_save_race.py tests/cacheops/test_workers_panel.py

# The suite on SQLite (browser tests included), then again on PostgreSQL with production's cache backend (Momento;
# the first pass runs the tests of each backend on Redis too). Most tests wait on servers and processes,
# so they run in one process per CPU, a file's tests together (its fixtures and servers are shared among them).
PYTEST_PARALLEL ?= -n auto --dist loadfile
test: venv dynamodb-local
	bin/test-setup
	env -u DATABASE_URL $(VENV)/bin/pytest $(PYTEST_PARALLEL) $(addprefix --ignore=,$(STACKS))
	env -u DATABASE_URL $(VENV)/bin/pytest $(STACKS)
	DATABASE_URL='$(TEST_POSTGRES_URL)' TEST_CACHE_BACKENDS=momento $(VENV)/bin/pytest $(PYTEST_PARALLEL) -m "not browser" $(addprefix --ignore=,$(SQL_AGNOSTIC))

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

messages: venv
	$(VENV)/bin/python manage.py compilemessages --ignore=$(VENV)

# The read-path benchmark: nginx, a bare WSGI app, Django's cache and Airtime serving the catalog (wrk, nginx
# and redis-server come from Debian: apt-get install wrk nginx redis-server).
.PHONY: bench
bench: venv dynamodb-local
	$(VENV)/bin/pip install -q -r bench/requirements.txt
	$(VENV)/bin/python bench/read_path.py

# The airtime-night drill: the production stack under readers while editors save, ops act and faults strike
# (redis-server comes from Debian: apt-get install redis-server). Options: make rehearsal ARGS="--seconds 30 --json".
.PHONY: rehearsal
rehearsal: venv dynamodb-local
	$(VENV)/bin/python bench/rehearsal.py $(ARGS)
