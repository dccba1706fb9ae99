"""Data flows one way (ARCHITECTURE.md): levqor knows no app, accounts knows only levqor, the
apps above use accounts and never each other, except as listed. Read from the imports in every
module of every project app (tests and migrations aside), lazy imports inside functions and
import_module("...") calls included, so a new import upward fails here, not in review."""

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

# What each project app may import of the others. intelligence reads everything.
MAY_IMPORT = {
    "levqor": set(),
    "accounts": {"levqor"},
    "jobs": {"levqor", "accounts"},
    "compliance": {"levqor", "accounts"},
    "partners": {"levqor", "accounts"},
    # marketplace also uses jobs: an installed listing is a workflow (jobs.workflows' provider
    # registry and its Workflow / JobError types). jobs never imports marketplace, so no circle.
    "marketplace": {"levqor", "accounts", "partners", "jobs"},
    "intelligence": {"levqor", "accounts", "jobs", "compliance", "partners", "marketplace"},
}
SKIPPED_DIRS = {"migrations", "tests", "__pycache__"}


def project_apps() -> dict[str, Path]:
    """The installed apps that are top-level packages of this repository (not those installed in
    a virtualenv inside it): name -> package directory."""
    base = Path(settings.BASE_DIR).resolve()
    return {config.name: Path(config.path) for config in apps.get_app_configs()
            if Path(config.path).resolve().parent == base}


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in {"import_module", "__import__"}):
            found.append((node.lineno, node.args[0].value))
    return found


def upward_imports(app: str, source: str, known_apps) -> list[tuple[int, str]]:
    """The imports in one module of `app` of a project app it may not use."""
    allowed = MAY_IMPORT[app] | {app}
    return [(line, module) for line, module in imported_modules(source)
            if (top := module.split(".")[0]) in known_apps and top not in allowed]


def app_modules(package: Path):
    for path in sorted(package.rglob("*.py")):
        if not SKIPPED_DIRS & set(path.relative_to(package).parts[:-1]):
            yield path


def test_every_project_app_has_its_place_in_the_data_flow():
    found = project_apps()
    assert {"levqor", "accounts", "jobs", "compliance"} <= set(found)
    assert set(found) <= set(MAY_IMPORT), f"add the new app to MAY_IMPORT: {set(found) - set(MAY_IMPORT)}"


def test_data_flows_one_way():
    found = project_apps()
    known = set(MAY_IMPORT) | set(found)
    offences, read = [], set()
    for app, package in found.items():
        for path in app_modules(package):
            read.add(path.relative_to(settings.BASE_DIR).as_posix())
            for line, module in upward_imports(app, path.read_text(encoding="utf-8"), known):
                offences.append(f"{path.relative_to(settings.BASE_DIR)}:{line} imports {module}")
    assert {"levqor/urls.py", "accounts/apps.py", "jobs/services.py", "compliance/services.py"} <= read
    assert not any("/migrations/" in name for name in read)
    assert not offences, "imports against the one-way data flow:\n" + "\n".join(offences)


@pytest.mark.parametrize(("app", "source"), [
    ("compliance", "from jobs import services\n"),
    ("compliance", "from jobs.selectors import job_export_for\n"),
    ("jobs", "import compliance.models\n"),
    ("accounts", "def f():\n    from jobs.models import Job\n"),
    ("levqor", "from accounts import views as account_views\n"),
    ("levqor", "from importlib import import_module\nviews = import_module('jobs.views')\n"),
])
def test_an_upward_import_is_caught(app, source):
    assert upward_imports(app, source, set(MAY_IMPORT)), source


@pytest.mark.parametrize(("app", "source"), [
    ("compliance", "from accounts.models import User\nfrom levqor.errors import AppError\n"),
    ("jobs", "from jobs import selectors\nfrom django.db import models\nimport json\n"),
    ("levqor", "from django.urls import include\nurls = include('jobs.urls')\n"),  # wiring by name, not an import
    ("compliance", "from . import selectors\n"),
])
def test_allowed_imports_pass(app, source):
    assert upward_imports(app, source, set(MAY_IMPORT)) == []
