# dbops — the two commands a fresh machine needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DBOPS := $(BIN)/dbops
ENV ?= lab
STAMP := $(VENV)/.installed
MIRROR_STAMP := .tools/terraform/cli.tfrc

.PHONY: install lab-packages test demo plan apply destroy lint drill-weekly clean

# Targets of the weekly drill; the lab's by default.
FAILOVER_TARGET ?= localpg:lab-pg
RESTORE_TARGET ?= localpg:lab-pg
JUNIT_DIR ?= reports/junit
PUBLISH ?=

# Debian packages the lab uses: PgBouncer in front of its PostgreSQL (and the extensions below).
LAB_PACKAGES ?= pgbouncer
# hypopg: hypothetical indexes, the evidence behind `dbops query audit`'s missing-index advice.
LAB_PACKAGES += postgresql-15-hypopg

install: $(STAMP) $(MIRROR_STAMP) lab-packages

lab-packages:
	@scripts/install-lab-packages $(LAB_PACKAGES)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

$(MIRROR_STAMP): $(STAMP)
	$(BIN)/python -m ops.terraform.mirror .

# Three workers on two cores: most tests wait on PostgreSQL, the emulator or a drill's clock, not on a core
# (669 tests: 14 min 9 s with two workers, 10 min 56 s with three, here).
TEST_WORKERS ?= 3

test: install
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup --durations=15

# The main job on the embedded lab: every drill and check; the lab is stopped again whatever happens.
demo: install
	scripts/demo

lint: install
	$(BIN)/python -m ops.terraform.lint terraform

# fmt check and checkov gate the plan: a failure stops before Terraform runs.
plan: lint
	$(DBOPS) tf plan --env $(ENV)
	$(DBOPS) cost estimate --env $(ENV)

apply: install
	$(DBOPS) tf apply --env $(ENV) $(if $(CONFIRM),--confirm $(CONFIRM))

destroy: install
	$(DBOPS) tf destroy --env $(ENV) $(if $(CONFIRM),--confirm $(CONFIRM))

# Failover, restore, backup verification and cost check in sequence, each with JUnit output.
# make exits 2 on any failure; scripts/drill-weekly itself exits with the worst code of the four
# (0 pass < 4 inconclusive < 1 failed < 2 could not run < 3 interrupted).
drill-weekly: install
	FAILOVER_TARGET=$(FAILOVER_TARGET) RESTORE_TARGET=$(RESTORE_TARGET) JUNIT_DIR=$(JUNIT_DIR) scripts/drill-weekly $(ENV) $(PUBLISH)

clean:
	-$(DBOPS) lab down
	rm -rf $(VENV) .tools .lab
