"""One logging configuration for our loggers and uvicorn's, as text or as JSON lines.

`stamgast serve` passes it to uvicorn; the container's command names the same file
(`uvicorn --log-config app/telemetry/logging.json`). The file names the handler factories
below, so the format is chosen when logging is configured, from STAMGAST_LOG_FORMAT:

- `text`: uvicorn's look, for a person at a terminal;
- `json`: one JSON object a line, for a log collector;
- `auto` (default): JSON when the stream is not a terminal (a container, a service
  manager, a pipe), text when it is.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Literal, TextIO

from app.settings import get_settings
from app.telemetry.json_lines import JsonLines, TextAccessLines, TextLines

CONFIG_FILE = Path(__file__).with_name("logging.json")
Format = Literal["json", "text"]


def chosen_format(stream: TextIO, setting: str | None = None) -> Format:
    """`json` or `text` for this stream, after STAMGAST_LOG_FORMAT (auto by default)."""
    value = setting or get_settings().log_format  # validated there: auto, json or text
    if value == "auto":
        return "text" if _is_terminal(stream) else "json"
    return "json" if value == "json" else "text"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a file
        return False


def handler(kind: str = "default", stream: str = "stderr") -> logging.Handler:
    """A handler on stdout or stderr, formatting `default` or `access` lines as chosen.

    Named by logging.json (`"()"`), so the choice is made when logging is configured.
    """
    out: TextIO = sys.stdout if stream == "stdout" else sys.stderr
    made = logging.StreamHandler(out)
    formatter: logging.Formatter
    if chosen_format(out) == "json":
        formatter = JsonLines()
    elif kind == "access":
        formatter = TextAccessLines()
    else:
        formatter = TextLines()
    made.setFormatter(formatter)
    return made


def log_config(level: str | None = None) -> dict[str, Any]:
    """logging.json as a dict, our loggers at `level` when given (else as the file says)."""
    config: dict[str, Any] = json.loads(CONFIG_FILE.read_text(encoding="utf-8"))
    if level is not None:
        config["root"]["level"] = level.upper()
    return config
