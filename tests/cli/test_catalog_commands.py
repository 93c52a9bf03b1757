"""``tricklab tricks`` and ``tricklab tasks`` list the whole catalogs."""

from __future__ import annotations

import json
import subprocess
import sys

from tricklab.catalog.tasks import all_tasks
from tricklab.catalog.tricks import TRICKS

from tests.conftest import CANONICAL_TRICKS


def tricklab(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "tricklab.cli.main", *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done


def test_tricks_lists_every_trick() -> None:
    names = {line.split()[0] for line in tricklab("tricks").stdout.splitlines() if line and not line[0].isspace()}
    assert names == set(CANONICAL_TRICKS) == set(TRICKS)


def test_tricks_verbose_shows_parameters() -> None:
    out = tricklab("tricks", "-v").stdout
    assert "epsilon: float = 0.1" in out  # label smoothing
    assert "groups: int" in out  # group norm


def test_tasks_lists_every_task() -> None:
    names = {line.split()[0] for line in tricklab("tasks").stdout.splitlines() if line and not line[0].isspace()}
    assert names == set(all_tasks()) >= {"digits", "digits_imbalanced", "sequences", "ring_gan"}


def test_catalogs_as_json_match_the_catalog_models() -> None:
    tricks = json.loads(tricklab("tricks", "--json").stdout)
    assert [t["name"] for t in tricks] == list(TRICKS)
    tasks = json.loads(tricklab("tasks", "--json").stdout)
    assert [t["name"] for t in tasks] == list(all_tasks())


def test_the_cli_does_not_load_torch_for_catalog_or_client_commands() -> None:
    """The CLI shares a process with the API server in ``tricklab up``: importing it must not pull torch in."""
    code = (
        "import sys, tricklab.cli.main, tricklab.cli.serve_cmds, tricklab.client;"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('tricklab_worker')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
