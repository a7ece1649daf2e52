"""Merge the ``runs`` of several ``reproduce_paper`` result files into
``results/paper_results.json`` (for runs made in parallel, each with its own ``--out``).

    python -m benchmarks.merge_results /tmp/a.json /tmp/b.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lenet.checkpoint import atomic_save_json

from .reproduce_paper import RESULTS


def main(argv: list[str] | None = None) -> None:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": {}}
    for path in paths:
        data["runs"].update(json.loads(path.read_text())["runs"])
    atomic_save_json(data, RESULTS)
    print(f"{RESULTS.name}: {sorted(data['runs'])}")


if __name__ == "__main__":
    main()
