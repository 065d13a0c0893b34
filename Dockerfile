# The dbops image the drill-runner Terraform module runs on Fargate. Its entrypoint is the weekly
# drill (scripts/drill-weekly ENV [--publish-metrics] [--confirm ...]); the module's other tasks
# set the entrypoint to `dbops` and pass one command.
#
#   docker build -t dbops . && docker push ...   (then give the module the pushed digest)
#
# No build argument and no secret: the drills read the master secret from Secrets Manager at run
# time with the task role's credentials.
#checkov:skip=CKV_DOCKER_2:a batch task with no service to probe; ECS reports its exit code and the drills publish their verdicts

# python:3.11-slim-bookworm, pinned by digest so a rebuild runs the reviewed base (refresh with
# `docker buildx imagetools inspect python:3.11-slim-bookworm` and review the change).
FROM python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The lock's packages exactly as `make install` installs them: the lock's pip, setuptools and wheel
# first (what is built from source is built with them), then every package by hash and nothing else.
COPY requirements.lock ./
RUN python -m venv .venv \
    && awk '/^[A-Za-z0-9]/ { keep = ($0 ~ /^(pip|setuptools|wheel)==/) } keep' requirements.lock > .venv/bootstrap.txt \
    && .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r .venv/bootstrap.txt \
    && .venv/bin/python -m pip install --quiet --require-hashes --no-deps --no-build-isolation -r requirements.lock

COPY pyproject.toml dbops.toml ./
COPY ops ops
COPY scripts scripts
COPY runbooks runbooks
COPY workloads workloads
COPY terraform terraform
RUN .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . \
    && .venv/bin/python -m pip check

# The one writable path (the task's root file system is read-only): reports, JUnit XML, HOME, TMPDIR.
# ECS mounts task storage there, owned as the image leaves it: by the runner's user.
RUN groupadd --system --gid 10001 dbops \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/dbops/home --no-create-home --shell /usr/sbin/nologin dbops \
    && mkdir -p /var/dbops/home /var/dbops/tmp /var/dbops/reports/junit \
    && chown -R 10001:10001 /var/dbops
VOLUME ["/var/dbops"]
ENV PATH=/app/.venv/bin:$PATH \
    HOME=/var/dbops/home \
    TMPDIR=/var/dbops/tmp \
    DBOPS_REPORT_DIR=/var/dbops/reports \
    JUNIT_DIR=/var/dbops/reports/junit

USER 10001:10001
ENTRYPOINT ["/app/scripts/drill-weekly"]
