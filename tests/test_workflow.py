"""The publishing workflow: it lints, and it builds, tests and deploys with the project's
commands."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))

spec = importlib.util.spec_from_file_location("lint_workflows",
                                              ROOT / "scripts" / "lint_workflows.py")
lint_workflows = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lint_workflows)


def _workflow() -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())


def _steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def _uses(job: dict) -> list[str]:
    return [s.get("uses", "").split("@")[0] for s in _steps(job)]


def _runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in _steps(job))


def test_every_workflow_lints() -> None:
    assert WORKFLOWS, "no workflow in .github/workflows"
    result = lint_workflows.lint(WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_workflow_fails_the_linter(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.no_such_property }}\n"
                      "  b:\n    needs: no-such-job\n    runs-on: ubuntu-latest\n"
                      "    steps:\n      - run: true\n")
    result = lint_workflows.lint([broken])
    assert result.returncode != 0
    assert "no_such_property" in result.stdout and "no-such-job" in result.stdout


def test_deploys_the_built_book_to_pages_with_least_permissions() -> None:
    wf = _workflow()
    jobs = wf["jobs"]
    assert wf["permissions"] == {"contents": "read"}
    assert "actions/upload-pages-artifact" in _uses(jobs["build"])
    upload = next(s for s in _steps(jobs["build"]) if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "_build/html"
    assert _uses(jobs["deploy"]) == ["actions/deploy-pages"]
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    assert jobs["deploy"]["needs"] == "build"
    assert jobs["deploy"]["environment"]["name"] == "github-pages"


def test_builds_with_the_projects_commands_and_the_repository_address() -> None:
    build = _workflow()["jobs"]["build"]
    assert "bash scripts/book.sh" in _runs(build)
    assert "scripts/browser_check.py" in _runs(build)
    env = next(s for s in _steps(build) if "scripts/book.sh" in s.get("run", ""))["env"]
    assert env["BOOK_REPOSITORY"] == "${{ github.repository }}"
    checkout = next(s for s in _steps(build) if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0   # the "last updated" dates need the history


@pytest.mark.parametrize("job", ["build", "test"])
def test_caches_the_notebook_execution_cache(job: str) -> None:
    caches = [s for s in _steps(_workflow()["jobs"][job])
              if s.get("uses", "").startswith("actions/cache")]
    assert caches and caches[0]["with"]["path"] == "_build/.jupyter_cache"


def test_pull_requests_run_the_test_command() -> None:
    wf = _workflow()
    triggers = wf.get("on", wf.get(True))   # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in triggers
    test = wf["jobs"]["test"]
    assert "pull_request" in test["if"]
    assert "bash scripts/test.sh" in _runs(test)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/test.sh" in ci and "bash scripts/test.sh" in readme


# --- what readers are told ------------------------------------------------------------------

def _reader_texts() -> dict[str, str]:
    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8")}
    texts |= {f"book/{p.name}": p.read_text(encoding="utf-8")
              for p in (ROOT / "book").glob("*.md")}
    return texts


def test_reader_text_never_mentions_ci_folders() -> None:
    found = [(name, word) for name, text in _reader_texts().items()
             for word in ("../shared", ".ci/run", ".ci/") if word in text]
    assert not found, f"CI folders belong in CONTRIBUTING.md, not in reader text: {found}"


def test_readme_describes_every_stage_of_the_test_command() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    readme = (ROOT / "README.md").read_text()
    stages = ["pytest tests", "--nbval", "scripts/strict_build.py", "scripts/browser_check.py"]
    assert all(stage.split("/")[-1] in script for stage in stages)
    missing = [stage for stage in stages if stage not in readme]
    assert not missing, f"README.md does not describe {missing}"
    assert "apt-get" in readme and "Chromium" in readme
    assert "4/4" in script and "5/" not in script   # four stages, as the README says


def test_licences_stated_in_readme_intro_and_package() -> None:
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "CC BY 4.0" in licence
    for text in ((ROOT / "README.md").read_text(), (ROOT / "book" / "intro.md").read_text()):
        assert "MIT" in text and "CC BY 4.0" in text
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["title"]


def test_readme_images_and_links_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)\)", readme)
    local = [t for t in targets if not t.startswith(("http:", "https:", "mailto:"))]
    assert "book/_static/screenshot.png" in local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
