"""A Python client over tricklab's REST API (``/api/v1``, see docs/API.md).

    >>> client = TricklabClient("http://127.0.0.1:8000")
    >>> created = client.create_experiment(spec)   # {"id", "name", "n_runs", "url"}
    >>> client.wait(created["id"])                  # the final ExperimentOut

Responses are returned as the JSON the server sends (dicts and lists); errors
raise ``ApiError`` carrying the status code and the server's ``detail``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import httpx

from tricklab import credentials

DEFAULT_URL = "http://127.0.0.1:8000"
TERMINAL_EXPERIMENT_STATUSES = ("finished", "cancelled")


def default_url() -> str:
    """``TRICKLAB_URL``, else the server of ``tricklab login``, else the local default."""
    if os.environ.get("TRICKLAB_URL"):
        return os.environ["TRICKLAB_URL"]
    saved = credentials.load()
    return saved.url if saved is not None else DEFAULT_URL


def default_token(base_url: str) -> str | None:
    """``TRICKLAB_TOKEN``, else the token ``tricklab login`` saved for this server."""
    return os.environ.get("TRICKLAB_TOKEN") or credentials.token_for(base_url)


class ApiError(Exception):
    """A non-2xx answer; ``detail`` is the server's explanation (a string or FastAPI's list of field errors)."""

    def __init__(self, status_code: int, detail: Any, method: str = "", path: str = "") -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"{method} {path} -> {status_code}: {format_detail(detail)}".strip())


def format_detail(detail: Any) -> str:
    """FastAPI's 422 detail as ``field.path: message`` lines, anything else as text."""
    if isinstance(detail, list):
        lines = []
        for item in detail:
            if isinstance(item, Mapping):
                loc = [str(p) for p in item.get("loc", []) if p != "body"]
                lines.append(f"{'.'.join(loc) or '(spec)'}: {item.get('msg', item)}")
            else:
                lines.append(str(item))
        return "\n".join(lines)
    return str(detail)


class TricklabClient:
    """Typed access to the experiments, runs and catalog of one tricklab server."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or default_url()).rstrip("/")
        token = token if token is not None else default_token(self.base_url)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TricklabClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except (ValueError, AttributeError):
                detail = response.text
            raise ApiError(response.status_code, detail, method, path)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    # health and catalog
    def health(self) -> dict[str, Any]:
        return dict(self._json("GET", "/healthz"))

    def tricks(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/v1/tricks"))

    def tasks(self) -> list[dict[str, Any]]:
        return list(self._json("GET", "/api/v1/tasks"))

    # accounts and tokens
    def me(self) -> dict[str, Any]:
        return dict(self._json("GET", "/api/v1/auth/me"))

    def create_token(
        self, name: str = "api token", *, worker: bool = False, expires_in_days: float | None = None
    ) -> dict[str, Any]:
        """A new token (``token`` holds the secret, shown only in this answer)."""
        body = {"name": name, "kind": "worker" if worker else "personal", "expires_in_days": expires_in_days}
        return dict(self._json("POST", "/api/v1/tokens", json=body))

    def tokens(self, *, offset: int = 0, limit: int = 100) -> dict[str, Any]:
        return dict(self._json("GET", "/api/v1/tokens", params={"offset": offset, "limit": limit}))

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        return dict(self._json("DELETE", f"/api/v1/tokens/{token_id}"))

    # experiments
    def preview(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._json("POST", "/api/v1/experiments/preview", json=dict(spec)))

    def create_experiment(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a spec; the server expands and queues its runs. Returns ``{"id", "name", "n_runs", "url"}``."""
        return dict(self._json("POST", "/api/v1/experiments", json=dict(spec)))

    def experiments(self, *, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        return dict(self._json("GET", "/api/v1/experiments", params={"offset": offset, "limit": limit}))

    def experiment(self, experiment_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/api/v1/experiments/{experiment_id}"))

    def runs(self, experiment_id: int, *, status: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """Every run of an experiment (all pages)."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        while True:
            page = self._json(
                "GET", f"/api/v1/experiments/{experiment_id}/runs", params={**params, "offset": len(items)}
            )
            items.extend(page["items"])
            if not page["items"] or len(items) >= page["total"]:
                return items

    def cancel_experiment(self, experiment_id: int) -> dict[str, Any]:
        return dict(self._json("POST", f"/api/v1/experiments/{experiment_id}/cancel"))

    def export(self, experiment_id: int, fmt: str) -> str:
        """The experiment's results as csv, json, md or tex text."""
        return self._request("GET", f"/api/v1/experiments/{experiment_id}/export", params={"format": fmt}).text

    def analysis(self, experiment_id: int, metric: str | None = None) -> dict[str, Any]:
        params = {"metric": metric} if metric else {}
        return dict(self._json("GET", f"/api/v1/experiments/{experiment_id}/analysis", params=params))

    # runs
    def run(self, run_id: int) -> dict[str, Any]:
        return dict(self._json("GET", f"/api/v1/runs/{run_id}"))

    def cancel_run(self, run_id: int) -> dict[str, Any]:
        return dict(self._json("POST", f"/api/v1/runs/{run_id}/cancel"))

    def metric_keys(self, run_id: int) -> list[dict[str, Any]]:
        return list(self._json("GET", f"/api/v1/runs/{run_id}/metrics")["keys"])

    def metric(self, run_id: int, key: str, *, max_points: int = 1000) -> dict[str, Any]:
        return dict(self._json("GET", f"/api/v1/runs/{run_id}/metrics/{key}", params={"max_points": max_points}))

    # live updates
    def events(self, experiment_id: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """The experiment's server-sent events as (event, data) until the server closes the stream."""
        path = f"/api/v1/experiments/{experiment_id}/events"
        with self._http.stream("GET", path, timeout=httpx.Timeout(10.0, read=60.0)) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError(response.status_code, response.text, "GET", path)
            event, data = "message", list[str]()
            for line in response.iter_lines():
                if line == "":
                    if data:
                        yield event, json.loads("\n".join(data))
                    event, data = "message", []
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

    def wait(
        self,
        experiment_id: int,
        *,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        poll_seconds: float = 1.0,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Block until every run of the experiment is terminal; return its final ExperimentOut.

        Follows the event stream and falls back to polling if the stream is unavailable or drops.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            for event, data in self.events(experiment_id):
                if "experiment" in data and on_update is not None:
                    on_update(data["experiment"])
                if event == "end":
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"experiment {experiment_id} not finished after {timeout} s")
        except (httpx.HTTPError, ApiError, ValueError):
            pass  # the stream is a convenience; polling below is the ground truth
        while True:
            experiment = self.experiment(experiment_id)
            if on_update is not None:
                on_update(experiment)
            if experiment["status"] in TERMINAL_EXPERIMENT_STATUSES:
                return experiment
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"experiment {experiment_id} not finished after {timeout} s")
            time.sleep(poll_seconds)
