#!/usr/bin/env python3
"""Print every route of the tricklab API with the credential it needs, generated from the app.

.venv/bin/python scripts/list_routes.py            # Markdown table
.venv/bin/python scripts/list_routes.py --json     # [{"method", "path", "requirement"}]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from tricklab.api.app import create_app
from tricklab.auth.route_table import format_table, route_requirements
from tricklab.config import Settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a Markdown table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Building the app touches no database (that happens in its lifespan), but give it a scratch dir anyway.
        app = create_app(Settings(data_dir=Path(tmp), broker_url="memory://"), start_reaper=False)
        rows = route_requirements(app)
        app.state.engine.dispose()
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
    else:
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
