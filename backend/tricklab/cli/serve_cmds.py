"""Commands that run tricklab's processes: up, server, worker, migrate.

The API process must never load torch or ``tricklab_worker``: ``worker`` execs
``python -m tricklab_worker.cli worker`` (see worker/tricklab_worker/cli.py), and
the server modules are imported inside the commands that serve.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import webbrowser
from pathlib import Path
from types import FrameType

from tricklab.cli.run_cmd import exec_worker_cli
from tricklab.cli.supervisor import WorkerSupervisor, worker_command
from tricklab.config import Settings, get_settings


def _settings() -> Settings:
    get_settings.cache_clear()
    settings = get_settings()
    # SQLite (store and embedded broker) cannot create a file in a missing folder.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings


def _migrate(settings: Settings) -> None:
    from tricklab.db.migrate import upgrade

    upgrade(settings.resolved_database_url)


def _browser_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def _serve(settings: Settings, host: str, port: int, log_level: str, on_started: threading.Event | None) -> int:
    import uvicorn

    from tricklab.api.app import create_app
    from tricklab.api.process_setup import prepare_server_process

    app = create_app(settings)
    prepare_server_process()
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
    # uvicorn shuts down gracefully on SIGTERM and then re-raises it; by default that
    # would kill this process before `tricklab up` stops its worker, so exit instead.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if on_started is not None:

        def watch() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                on_started.set()

        threading.Thread(target=watch, name="startup-watch", daemon=True).start()
    server.run()
    return 0 if server.started else 1


def cmd_up(args: argparse.Namespace) -> int:
    if args.data_dir:
        os.environ["TRICKLAB_DATA_DIR"] = str(Path(args.data_dir).expanduser().resolve())
    url = f"http://{_browser_host(args.host)}:{args.port}"
    os.environ.setdefault("TRICKLAB_PUBLIC_URL", url)
    settings = _settings()
    # The worker subprocess reads the same settings from the same environment.
    os.environ["TRICKLAB_DATA_DIR"] = str(settings.data_dir.resolve())
    print(f"tricklab: data in {settings.data_dir}", file=sys.stderr, flush=True)
    _migrate(settings)
    # The only worker on its broker, so reserving the next run ahead is never unfair to another
    # worker, and that run starts as soon as the last one ends instead of after a broker poll.
    worker_args = ["--concurrency", "1", "--prefetch", "2", "--loglevel", args.loglevel]
    supervisor = WorkerSupervisor(worker_command(worker_args), env=os.environ)
    supervisor.start()
    started = threading.Event()

    def announce() -> None:
        started.wait()
        print(f"tricklab is running: {url}/  (Ctrl-C to stop)", flush=True)
        if sys.stdout.isatty() and not args.no_browser:
            webbrowser.open(f"{url}/")

    threading.Thread(target=announce, name="announce", daemon=True).start()
    try:
        # uvicorn handles SIGINT/SIGTERM: it stops serving and returns here.
        return _serve(settings, args.host, args.port, args.loglevel.lower(), started)
    finally:
        print("tricklab: stopping the worker", file=sys.stderr, flush=True)
        supervisor.stop()


def cmd_server(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.migrate:
        _migrate(settings)
    return _serve(settings, args.host, args.port, args.loglevel.lower(), None)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings()
    _migrate(settings)
    print(f"tricklab: database at the latest schema ({_redact(settings.resolved_database_url)})")
    return 0


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def cmd_worker(args: argparse.Namespace) -> int:
    argv = ["worker", "--concurrency", str(args.concurrency), "--loglevel", args.loglevel]
    options = (
        ("--gpu", args.gpu),
        ("--threads", args.threads),
        ("--prefetch", args.prefetch),
        ("--api-url", args.api_url),
    )
    for flag, value in options:
        if value is not None:
            argv += [flag, str(value)]
    if args.amp:
        argv.append("--amp")
    return exec_worker_cli(argv)


def add_worker_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of ``tricklab worker`` (shared with the worker-side command that trains)."""
    p.add_argument("--gpu", type=int, default=None, help="train on this GPU only (sets CUDA_VISIBLE_DEVICES)")
    p.add_argument("--concurrency", type=int, default=1, help="runs trained at once by this worker")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: share of the cores)")
    p.add_argument(
        "--prefetch",
        type=int,
        default=None,
        help="runs each process reserves ahead (default 1: fair between workers; tricklab up's lone worker uses 2)",
    )
    p.add_argument("--amp", action="store_true", help="train under bf16 autocast on the GPU")
    p.add_argument(
        "--api-url", default=None, help="report through this server's REST API (token in TRICKLAB_TOKEN), not SQL"
    )
    p.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def add_serve_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    p = sub.add_parser("up", help="start the server and one embedded worker (SQLite, no Redis needed)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data-dir", default=None, help="where data lives (env TRICKLAB_DATA_DIR; default ~/.tricklab)")
    p.add_argument("--no-browser", action="store_true", help="do not open the dashboard in a browser")
    common(p)
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("server", help="start the API server only (TRICKLAB_DATABASE_URL, TRICKLAB_BROKER_URL)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--migrate", action="store_true", help="apply database migrations before serving")
    common(p)
    p.set_defaults(func=cmd_server)

    p = sub.add_parser("worker", help="start a Celery worker that trains runs (one per GPU)")
    add_worker_arguments(p).set_defaults(func=cmd_worker)

    p = sub.add_parser("migrate", help="apply database migrations (the one-shot step of a team deployment)")
    p.set_defaults(func=cmd_migrate)
