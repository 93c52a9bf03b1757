"""``submit``, ``status``, ``export`` and ``cancel`` against a real ``tricklab up``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from tricklab.client import ApiError, TricklabClient

from tests.conftest import free_port
from tests.integration.processes import ProcessSet, clean_env, process_set, tiny_spec, wait_healthy

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real ``tricklab up``: its URL and data directory."""
    root = tmp_path_factory.mktemp("cli-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with process_set(root / "logs", clean_env()) as processes:
        up = processes.start("up", "up", "--port", str(port), "--data-dir", str(root / "data"), "--no-browser")
        wait_healthy(url, up)
        up.wait_for_log("ready.", timeout=90)
        yield url, root / "data"
        _check_alive(processes)


@pytest.fixture(scope="module")
def server_url(server: tuple[str, Path]) -> str:
    return server[0]


def _check_alive(processes: ProcessSet) -> None:
    assert all(p.alive for p in processes.processes), processes.logs()


def tricklab(*args: str, url: str | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    extra = ["--url", url] if url else []
    return subprocess.run(
        [sys.executable, "-m", "tricklab.cli.main", *args, *extra], capture_output=True, text=True, timeout=timeout
    )


def test_submit_wait_shows_progress_until_done(server_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec("cli-submit", factors=["relu"], seeds=2)))
    done = tricklab("submit", str(spec), "--wait", "--timeout", "150", url=server_url)
    assert done.returncode == 0, done.stdout + done.stderr
    first_line = done.stdout.splitlines()[0]
    assert first_line.startswith("experiment ") and "(4 runs)" in first_line and "/#/experiments/" in first_line
    assert "100.0%" in done.stderr  # the progress bar reached the end
    assert "4 succeeded" in done.stdout
    experiment_id = int(first_line.split()[1])

    status = tricklab("status", str(experiment_id), "--runs", url=server_url)
    assert status.returncode == 0, status.stderr
    assert "finished" in status.stdout and "4 succeeded" in status.stdout
    assert status.stdout.count("succeeded") >= 5  # the summary line and one per run

    with TricklabClient(server_url) as client:
        assert client.experiment(experiment_id)["counts"]["succeeded"] == 4

    for fmt in ("csv", "json", "md", "tex"):
        exported = tricklab("export", str(experiment_id), "--format", fmt, url=server_url)
        assert exported.returncode == 0, exported.stderr
        assert "relu" in exported.stdout, f"{fmt} export does not mention the trick"
    out = tmp_path / "results.csv"
    to_file = tricklab("export", str(experiment_id), "--format", "csv", "--out", str(out), url=server_url)
    assert to_file.returncode == 0 and out.read_text().strip()


def test_submit_without_wait_returns_at_once_and_json_specs_work(server_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "exp.json"
    spec.write_text(json.dumps(tiny_spec("cli-json", factors=["dropout"], seeds=1)))
    done = tricklab("submit", str(spec), url=server_url)
    assert done.returncode == 0, done.stderr
    experiment_id = int(done.stdout.split()[1])
    with TricklabClient(server_url) as client:
        final = client.wait(experiment_id, timeout=150, poll_seconds=0.5)
    assert final["status"] == "finished"


def test_submit_a_bad_spec_names_the_field(server_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({"name": "bad", "task": "digits", "factors": [{"warmup": {"epochs": -2}}]}))
    done = tricklab("submit", str(spec), url=server_url)
    assert done.returncode == 2
    assert "factors.0.warmup.epochs" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_of_an_unknown_experiment_is_a_clear_error(server_url: str) -> None:
    done = tricklab("status", "999999", url=server_url)
    assert done.returncode == 1
    assert "404" in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_server_is_a_clear_error() -> None:
    done = tricklab("status", "1", url=f"http://127.0.0.1:{free_port()}", timeout=60)
    assert done.returncode == 1
    assert "cannot reach the tricklab server" in done.stderr and "Traceback" not in done.stderr


def test_url_comes_from_the_environment(server_url: str) -> None:
    env = {**clean_env(), "TRICKLAB_URL": server_url}
    done = subprocess.run(
        [sys.executable, "-m", "tricklab.cli.main", "status", "999999"], capture_output=True, text=True, env=env
    )
    assert "404" in done.stderr  # reached the server named by TRICKLAB_URL


def test_token_create_list_revoke(server_url: str) -> None:
    created = tricklab("token", "create", "--name", "ci", url=server_url)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("tl_") and "shown once" in created.stderr
    with TricklabClient(server_url, token=token) as client:
        assert client.me()["user"]["username"] == "admin"
        token_id = next(t["id"] for t in client.tokens()["items"] if token.startswith(t["prefix"]))
    listed = tricklab("token", "list", url=server_url)
    assert listed.returncode == 0 and token[:10] in listed.stdout and token not in listed.stdout
    revoked = tricklab("token", "revoke", str(token_id), url=server_url)
    assert revoked.returncode == 0, revoked.stderr
    with TricklabClient(server_url, token=token) as client, pytest.raises(ApiError) as err:
        client.me()
    assert err.value.status_code == 401


def test_user_add_then_login_saves_a_private_token(server: tuple[str, Path], tmp_path: Path) -> None:
    url, data_dir = server
    env = {**clean_env(TRICKLAB_DATA_DIR=str(data_dir), TRICKLAB_CONFIG_DIR=str(tmp_path / "cfg"))}
    del env["TRICKLAB_TOKEN"]

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "tricklab.cli.main", *args]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=120)

    added = run("user", "add", "carol", "--role", "viewer", "--password-stdin", stdin="s3cret-enough\n")
    assert added.returncode == 0, added.stderr
    assert run("user", "add", "carol", "--password-stdin", stdin="s3cret-enough\n").returncode == 1
    bad = run("login", "--url", url, "--username", "carol", "--password-stdin", stdin="wrong-password\n")
    assert bad.returncode == 1 and "401" in bad.stderr
    ok = run("login", "--url", url, "--username", "carol", "--password-stdin", stdin="s3cret-enough\n")
    assert ok.returncode == 0, ok.stderr
    saved = tmp_path / "cfg" / "credentials.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert json.loads(saved.read_text())["url"] == url
    # TRICKLAB_TOKEN is unset: the saved token is used, for that server only.
    status = run("status", "999999", "--url", url)
    assert "404" in status.stderr
    assert run("token", "create", "--worker", "--url", url).returncode == 1  # a viewer cannot mint worker tokens
