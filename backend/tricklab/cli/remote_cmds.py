"""Commands that talk to a running server: submit, status, export, cancel."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx

from tricklab.cli.specfile import SpecFileError, load_spec
from tricklab.client import ApiError, TricklabClient, default_url, format_detail

STATUS_ORDER = ("queued", "running", "succeeded", "failed", "diverged", "cancelled")


class ProgressBar:
    """A one-line bar redrawn in place on a terminal, a plain line per change elsewhere."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._last = ""
        self._tty = stream.isatty()

    def show(self, experiment: dict[str, Any]) -> None:
        progress = float(experiment.get("progress") or 0.0)
        counts = experiment.get("counts") or {}
        done = round(progress * self._width)
        parts = ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts.get(s))
        line = f"[{'#' * done}{'.' * (self._width - done)}] {progress:6.1%}  {parts}"
        if line == self._last:
            return
        self._last = line
        self._stream.write(f"\r{line}\x1b[K" if self._tty else f"{line}\n")
        self._stream.flush()

    def close(self) -> None:
        if self._tty and self._last:
            self._stream.write("\n")
            self._stream.flush()


def _client(args: argparse.Namespace) -> TricklabClient:
    return TricklabClient(args.url)


def cmd_submit(args: argparse.Namespace) -> int:
    try:
        spec = load_spec(Path(args.spec))
    except SpecFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with _client(args) as client:
        try:
            created = client.create_experiment(spec.model_dump(mode="json", exclude_unset=True))
        except ApiError as exc:
            if exc.status_code == 422:
                print(f"error: invalid spec {args.spec}:\n{_indent(format_detail(exc.detail))}", file=sys.stderr)
                return 2
            raise
        print(f"experiment {created['id']} ({created.get('n_runs', '?')} runs): {created.get('url', '')}")
        sys.stdout.flush()
        if not args.wait:
            return 0
        bar = ProgressBar(sys.stderr)
        try:
            final = client.wait(created["id"], on_update=bar.show, timeout=args.timeout)
        finally:
            bar.close()
        _print_counts(final)
        counts = final.get("counts") or {}
        return 0 if final["status"] == "finished" and not counts.get("failed") else 1


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())


def _print_counts(experiment: dict[str, Any]) -> None:
    counts = experiment.get("counts") or {}
    parts = ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts.get(s))
    print(f"experiment {experiment['id']} {experiment['status']}: {parts or 'no runs'}")


def cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        experiment = client.experiment(args.id)
        print(f"{experiment['name']}  (task {experiment['task']}, {experiment['n_runs']} runs)")
        print(f"progress {float(experiment.get('progress') or 0):.0%}")
        _print_counts(experiment)
        if args.runs:
            for run in client.runs(args.id):
                error = f"  {run['error']}" if run.get("error") else ""
                print(f"  run {run['id']:>5}  {run['combo_key']:<40} seed {run['seed']}  {run['status']}{error}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with _client(args) as client:
        text = client.export(args.id, args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        experiment = client.cancel_experiment(args.id)
    _print_counts(experiment)
    return 0


def run_remote(args: argparse.Namespace) -> int:
    """Run a server command, turning transport and API errors into one readable line."""
    try:
        return int(args.remote_func(args))
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(f"error: cannot reach the tricklab server at {args.url}: {exc}", file=sys.stderr)
        return 1


def add_remote_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def with_url(p: argparse.ArgumentParser, func: Any) -> None:
        p.add_argument("--url", default=default_url(), help="server URL (env TRICKLAB_URL; default %(default)s)")
        p.set_defaults(func=run_remote, remote_func=func)

    p = sub.add_parser("submit", help="submit an experiment spec (YAML or JSON) to a server")
    p.add_argument("spec", help="path to the experiment spec")
    p.add_argument("--wait", action="store_true", help="show a progress bar until every run has ended")
    p.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    with_url(p, cmd_submit)

    p = sub.add_parser("status", help="show an experiment's progress and run counts")
    p.add_argument("id", type=int)
    p.add_argument("--runs", action="store_true", help="list every run")
    with_url(p, cmd_status)

    p = sub.add_parser("export", help="export an experiment's results")
    p.add_argument("id", type=int)
    p.add_argument("--format", choices=["csv", "json", "md", "tex"], default="csv")
    p.add_argument("--out", help="write to this file instead of stdout")
    with_url(p, cmd_export)

    p = sub.add_parser("cancel", help="cancel an experiment's queued and running runs")
    p.add_argument("id", type=int)
    with_url(p, cmd_cancel)
