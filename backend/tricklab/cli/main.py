"""The ``tricklab`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from tricklab.cli.auth_cmds import add_auth_commands
from tricklab.cli.catalog_cmds import add_catalog_commands
from tricklab.cli.remote_cmds import add_remote_commands
from tricklab.cli.run_cmd import add_run_command
from tricklab.cli.serve_cmds import add_serve_commands


def _version() -> str:
    try:
        return version("tricklab")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tricklab",
        description="A self-hosted lab for ablation studies of deep-learning training tricks.",
    )
    parser.add_argument("--version", action="version", version=f"tricklab {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_serve_commands(sub)
    add_remote_commands(sub)
    add_run_command(sub)
    add_catalog_commands(sub)
    add_auth_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per HTTP request would bury the progress bar of `submit --wait`.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
