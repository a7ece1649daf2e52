"""Merge the ``runs`` of several ``reproduce_paper`` result files into one of the package's
result files (for runs made on another machine, each with its own ``--out``).

    python -m benchmarks.merge_results /tmp/a.json /tmp/b.json            # paper_results.json
    python -m benchmarks.merge_results --into paper_validation /tmp/v.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lenet.paper import RESULT_KINDS

from .reproduce_paper import RESULTS_DIR, update


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--into", choices=RESULT_KINDS, default="paper_results",
                        help="which file of lenet/results/ receives the runs")
    args = parser.parse_args(argv)
    out = RESULTS_DIR / f"{args.into}.json"
    for path in args.files:
        for key, record in json.loads(path.read_text())["runs"].items():
            update(out, key, record)
    print(f"{out.name}: {sorted(json.loads(out.read_text())['runs'])}")


if __name__ == "__main__":
    main()
