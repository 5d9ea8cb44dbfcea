"""Adapters stay pure: no app, web framework or database code, statically and at import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from telephony_adapters.generic import GenericAdapter
from telephony_adapters.registry import ADAPTERS, get_adapter
from telephony_adapters.twilio import TwilioAdapter

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGE = ROOT / "telephony_adapters"
OUTSIDE = "<beyond telephony_adapters>"
FORBIDDEN = {"app", "fastapi", "starlette", "sqlalchemy", "asyncpg", "aiosqlite", "redis"}


def is_forbidden(module: str) -> bool:
    return module.split(".", 1)[0] in FORBIDDEN


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, including relative imports resolved to absolute names."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:  # "from .base import x" stays inside the package
                modules.add(f"telephony_adapters.{node.module or ''}".rstrip("."))
            elif node.level > 1:  # "from ..app import x" climbs out of the (flat) package
                modules.add(node.module or OUTSIDE)
            elif node.module:
                modules.add(node.module)
    return modules


def test_the_check_catches_what_it_should() -> None:
    assert is_forbidden("app") and is_forbidden("app.models") and is_forbidden("sqlalchemy.orm")
    assert not is_forbidden("application") and not is_forbidden("telephony_adapters.base")


def test_adapter_sources_import_nothing_forbidden() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert {path.name for path in files} >= {"base.py", "generic.py", "twilio.py", "registry.py"}
    offenders = {
        f"{path.name}: {module}"
        for path in files
        for module in imported_modules(path)
        if is_forbidden(module) or module == OUTSIDE
    }
    assert not offenders


def test_importing_the_package_loads_nothing_forbidden() -> None:
    script = (
        "import json, sys\n"
        "import telephony_adapters, telephony_adapters.registry\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    assert "telephony_adapters.twilio" in loaded
    assert [module for module in loaded if is_forbidden(module)] == []
    # Our module named "twilio" must not drag in (or be shadowed by) Twilio's SDK.
    assert "twilio" not in loaded


def test_registry() -> None:
    assert isinstance(get_adapter("generic"), GenericAdapter)
    assert isinstance(get_adapter("twilio"), TwilioAdapter)
    assert get_adapter("nope") is None
    assert all(adapter.name == name for name, adapter in ADAPTERS.items())
