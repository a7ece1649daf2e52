"""A small mutation pass: change one thing in a module, run its tests, see whether they fail.

Each mutant flips one comparison (``<`` / ``<=``, ``==`` / ``!=``, ``in`` / ``not in``...),
one arithmetic operator (``+`` / ``-``, ``*`` / ``/``), one boolean operator, one integer or
boolean constant, one call (``argmax`` / ``argmin``, ``min`` / ``max``, ``any`` / ``all``),
or removes one ``raise`` or one call of a validator (``fail``, ``check_*``). The mutants of a
module are drawn at random (``--seed``), written over the module one at a time, and the
module's tests run with ``-x``; a mutant the tests pass is a survivor. The module is restored
after every mutant, and the script refuses to start on a module with uncommitted changes.

    python scripts/mutation_pass.py                       # every module, 8 mutants each
    python scripts/mutation_pass.py --modules train ops --per-module 20 --seed 1

Prints one line per mutant and the survivors' diffs at the end. A survivor is either a gap
in the tests or an equivalent mutant (one that changes no result): decide which by reading it.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: module -> the tests that exercise it
TESTS = {
    "train": ["tests/test_train.py", "tests/test_bad_inputs.py", "tests/test_reproducibility.py"],
    "summary": ["tests/test_summary.py", "tests/test_bad_inputs.py"],
    "ops": ["tests/test_ops.py", "tests/test_ops_grad.py", "tests/test_bad_inputs.py"],
    "checkpoint": ["tests/test_checkpoint.py", "tests/test_train.py"],
    "data": ["tests/test_data.py", "tests/test_bad_inputs.py"],
}
SWAP_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
                ast.In: ast.NotIn, ast.NotIn: ast.In}
SWAP_BINOP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
              ast.FloorDiv: ast.Div}
SWAP_NAME = {"argmax": "argmin", "argmin": "argmax", "min": "max", "max": "min",
             "any": "all", "all": "any"}


@dataclass(frozen=True)
class Mutant:
    index: int      # which candidate node, in ast.walk order
    kind: str
    line: int


def _is_docstring(parent: ast.AST | None, node: ast.AST) -> bool:
    return isinstance(parent, ast.Expr) and isinstance(node, ast.Constant) and isinstance(
        node.value, str)


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def candidates(tree: ast.Module) -> list[Mutant]:
    """Every place one mutation operator applies, as (node index, kind, line)."""
    out = []
    for i, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare) and type(node.ops[0]) in SWAP_COMPARE:
            out.append(Mutant(i, "compare", line))
        elif isinstance(node, ast.BinOp) and type(node.op) in SWAP_BINOP:
            out.append(Mutant(i, "binop", line))
        elif isinstance(node, ast.BoolOp):
            out.append(Mutant(i, "boolop", line))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, bool):
            out.append(Mutant(i, "constant", line))
        elif isinstance(node, ast.Call) and _call_name(node) in SWAP_NAME:
            out.append(Mutant(i, "call", line))
        elif isinstance(node, ast.Raise):
            out.append(Mutant(i, "raise", line))
        elif (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
              and (_call_name(node.value) or "").startswith(("fail", "check_"))):
            out.append(Mutant(i, "validator", line))
    return out


def apply(tree: ast.Module, mutant: Mutant) -> ast.Module:
    """A copy of ``tree`` with ``mutant`` applied."""
    tree = copy.deepcopy(tree)
    node = list(ast.walk(tree))[mutant.index]
    if mutant.kind == "compare":
        node.ops[0] = SWAP_COMPARE[type(node.ops[0])]()
    elif mutant.kind == "binop":
        node.op = SWAP_BINOP[type(node.op)]()
    elif mutant.kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif mutant.kind == "constant":
        node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
    elif mutant.kind == "call":
        name = _call_name(node)
        if isinstance(node.func, ast.Attribute):
            node.func.attr = SWAP_NAME[name]
        else:
            node.func.id = SWAP_NAME[name]
    elif mutant.kind in ("raise", "validator"):
        # replace the statement by `pass`: find it in its parent's body
        for parent in ast.walk(tree):
            for field in ("body", "orelse", "finalbody", "handlers"):
                body = getattr(parent, field, None)
                if isinstance(body, list) and node in body:
                    body[body.index(node)] = ast.Pass()
    return ast.fix_missing_locations(tree)


def run_tests(tests: list[str], timeout: float) -> str:
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p",
                               "no:cacheprovider", *tests], cwd=ROOT, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return "killed (timeout)"
    return "survived" if done.returncode == 0 else "killed"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", default=list(TESTS), choices=list(TESTS))
    parser.add_argument("--per-module", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    survivors, counts = [], {}
    for module in args.modules:
        path = ROOT / "lenet" / f"{module}.py"
        dirty = subprocess.run(["git", "diff", "--quiet", "--", str(path)], cwd=ROOT).returncode
        if dirty:
            raise SystemExit(f"{path} has uncommitted changes: commit or stash them first")
        source = path.read_text()
        tree = ast.parse(source)
        plain = ast.unparse(tree)
        pool = candidates(tree)
        chosen = rng.sample(pool, min(args.per_module, len(pool)))
        killed = 0
        for mutant in sorted(chosen, key=lambda m: m.line):
            mutated = ast.unparse(apply(tree, mutant))
            start = time.perf_counter()
            try:
                path.write_text(mutated)
                verdict = run_tests(TESTS[module], args.timeout)
            finally:
                path.write_text(source)
            killed += verdict.startswith("killed")
            diff = "".join(difflib.unified_diff(plain.splitlines(True), mutated.splitlines(True),
                                                f"lenet/{module}.py", "mutant", n=1))
            print(f"{module}:{mutant.line} {mutant.kind}: {verdict} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
            if verdict == "survived":
                survivors.append((module, mutant, diff))
        counts[module] = (killed, len(chosen), len(pool))
    print("\nmodule: killed / tried (candidates)")
    for module, (killed, tried, pool) in counts.items():
        print(f"  {module}: {killed} / {tried} ({pool})")
    for module, mutant, diff in survivors:
        print(f"\n--- survivor {module}:{mutant.line} ({mutant.kind})\n{diff}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
