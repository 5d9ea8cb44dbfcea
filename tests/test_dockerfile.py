"""The container image: slim Python, not root, migrates then serves, checks its own health."""

from __future__ import annotations

import importlib
import os
import shlex

from fastapi import FastAPI

from app.migrate import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
ENTRYPOINT = PROJECT_ROOT / "docker" / "entrypoint.sh"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    assert not pending, "Dockerfile ends with a line continuation"
    result = []
    for instruction in joined:
        keyword, _, arguments = instruction.partition(" ")
        result.append((keyword.upper(), arguments.strip()))
    return result


def _all(keyword: str) -> list[str]:
    return [arguments for key, arguments in _instructions() if key == keyword]


def test_base_image_is_slim_python_311() -> None:
    bases = _all("FROM")
    assert bases, "no FROM"
    image = bases[-1].split()[0]
    assert image.startswith("python:3.11") and "slim" in image


def test_runs_as_a_user_that_is_not_root() -> None:
    users = _all("USER")
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_exposes_8000_and_listens_on_all_interfaces() -> None:
    assert any("8000" in ports.split() for ports in _all("EXPOSE"))
    assert any("STAMGAST_HOST=0.0.0.0" in env for env in _all("ENV"))


def test_installs_the_project_where_migrations_are_found() -> None:
    # app/migrate.py reads PROJECT_ROOT/pyproject.toml (PROJECT_ROOT: the package's parent),
    # so the package must be used in place in the copied project, not from site-packages.
    install = next(run for run in _all("RUN") if "pip install" in run)
    assert "--no-cache-dir" in install
    assert "-e ." in install
    workdir = _all("WORKDIR")[-1]
    copies = [c.split() for c in _all("COPY")]
    assert [".", workdir] in [c[-2:] for c in copies] or [".", "."] in [c[-2:] for c in copies]
    ignored = {
        line.strip().rstrip("/")
        for line in (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for needed in ("pyproject.toml", "README.md", "app", "migrations", "telephony_adapters"):
        assert needed not in ignored, f"{needed} is left out of the image"


def test_healthcheck_hits_healthz() -> None:
    checks = _all("HEALTHCHECK")
    assert checks and "/healthz" in checks[-1]
    assert "urllib" in checks[-1]


def test_entrypoint_migrates_then_serves_the_app() -> None:
    entrypoints = _all("ENTRYPOINT")
    assert entrypoints
    assert "docker/entrypoint.sh" in entrypoints[-1]
    assert ENTRYPOINT.is_file()
    assert os.access(ENTRYPOINT, os.X_OK), "docker/entrypoint.sh is not executable"
    script = ENTRYPOINT.read_text(encoding="utf-8")
    assert script.startswith("#!/bin/sh")
    commands = [
        shlex.split(line)
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    migrate = next(i for i, c in enumerate(commands) if c[:2] == ["stamgast", "migrate"])
    serve = next(i for i, c in enumerate(commands) if "app.main:app" in c)
    assert migrate < serve
    assert commands[serve][:2] == ["exec", "uvicorn"]
    assert "--proxy-headers" in commands[serve]
    flag = commands[serve].index("--ws-per-message-deflate")
    assert commands[serve][flag + 1] == "false"


def test_the_served_app_is_importable() -> None:
    module = importlib.import_module("app.main")
    assert isinstance(module.app, FastAPI)


def test_the_durable_inbox_is_in_the_volume_the_app_user_owns() -> None:
    """The app user cannot write /app: a spool in the cache directory would stop the server
    on PostgreSQL, where the spool does not sit next to the database file."""
    assert any("STAMGAST_SPOOL_PATH=/data/" in env for env in _all("ENV"))
    assert any('"/data"' in volume for volume in _all("VOLUME"))
    assert any("chown stamgast:stamgast /data" in run for run in _all("RUN"))
