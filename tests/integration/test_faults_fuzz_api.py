"""Fuzz the REST API from its own OpenAPI schema (schemathesis) against a live server: no 5xx, schema-true answers.

The server is a real ``tricklab server`` process on SQLite with the embedded
broker (no worker: created runs stay queued). Requests carry the admin token
from ``TRICKLAB_ADMIN_TOKEN``, so generated calls reach the handlers instead of
stopping at authentication.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.conftest import free_port
from tests.integration.faults import ADMIN_TOKEN, Audit, fault_env, record
from tests.integration.processes import process_set, wait_healthy

pytestmark = [pytest.mark.slow]

EXAMPLES = 10
REVOKING = ("DELETE /api/v1/tokens/", "DELETE /api/v1/teams/members/", "POST /api/v1/auth/logout")
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def live_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process_set(tmp_path / "logs", fault_env(tmp_path / "data")) as processes:
        server = processes.start("server", "server", "--port", str(port), "--migrate")
        wait_healthy(url, server)
        yield url


def test_api_answers_generated_requests_without_5xx_and_per_schema(live_url: str) -> None:
    api = schemathesis.openapi.from_url(f"{live_url}/openapi.json", headers=HEADERS)
    failures: dict[str, str] = {}
    statuses: list[int] = []
    operations = [result.ok() for result in api.get_all_operations()]
    # Calls that can revoke the fuzzer's own credentials go last, so the rest run authenticated.
    operations.sort(key=lambda op: op.label.startswith(REVOKING))
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=HEADERS, checks=[not_a_server_error, response_schema_conformance])
            statuses.append(response.status_code)

        try:
            fuzz()
        except (Exception, BaseExceptionGroup) as exc:  # one report per operation, after trying them all
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    record("fuzz", len(statuses), Audit(), operations_failing=len(failures), server_errors=statuses.count(500))
    # The token let requests through to the handlers: many were answered 2xx, not only 401/403.
    assert sum(200 <= code < 300 for code in statuses) > len(statuses) // 10, sorted(set(statuses))
    assert not failures, "\n\n".join(f"{label}: {reason}" for label, reason in failures.items())
