"""``tricklab tricks`` and ``tricklab tasks``: the catalogs, read locally (no server needed)."""

from __future__ import annotations

import argparse
import json

from tricklab.catalog.params import ParamSpec
from tricklab.catalog.tasks import all_tasks
from tricklab.catalog.tricks import TRICKS


def _param_line(name: str, spec: ParamSpec) -> str:
    bounds = []
    if spec.choices:
        bounds.append("|".join(spec.choices))
    if spec.min is not None:
        bounds.append(f"{'>' if spec.min_exclusive else '>='} {spec.min:g}")
    if spec.max is not None:
        bounds.append(f"<= {spec.max:g}")
    extra = f" ({', '.join(bounds)})" if bounds else ""
    return f"      {name}: {spec.type} = {spec.default!r}{extra}  {spec.description}"


def cmd_tricks(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in TRICKS.values()], indent=2))
        return 0
    for trick in TRICKS.values():
        conflicts = f"  conflicts: {', '.join(trick.conflicts)}" if trick.conflicts else ""
        print(f"{trick.name:<16} {trick.title}  [{', '.join(trick.applies_to)}]{conflicts}")
        if args.verbose:
            print(f"      {trick.description}")
            print(f"      paper: {trick.paper}")
            for name, spec in trick.params.items():
                print(_param_line(name, spec))
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    tasks = all_tasks()
    if args.json:
        print(json.dumps([t.model_dump(mode="json") for t in tasks.values()], indent=2))
        return 0
    for task in tasks.values():
        print(f"{task.name:<18} {task.title}  [{task.kind}, {task.input}]  metrics: {', '.join(task.metrics)}")
        if args.verbose:
            print(f"      {task.description}")
            for name, spec in task.params.items():
                print(_param_line(name, spec))
    return 0


def add_catalog_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, func, what in (("tricks", cmd_tricks, "training tricks"), ("tasks", cmd_tasks, "tasks")):
        p = sub.add_parser(name, help=f"list the {what} and their parameters")
        p.add_argument("-v", "--verbose", action="store_true", help="show descriptions and parameters")
        p.add_argument("--json", action="store_true", help="print the catalog as JSON")
        p.set_defaults(func=func)
