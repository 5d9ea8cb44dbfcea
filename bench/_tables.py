"""Plain-text tables for the benchmarks' reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """A plain two-column report, grouped in sections."""

    sections: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)

    def section(self, title: str, rows: list[tuple[str, Any]]) -> None:
        self.sections.append((title, [(k, str(v)) for k, v in rows]))

    def render(self) -> str:
        width = max((len(k) for _t, rows in self.sections for k, _v in rows), default=10)
        out: list[str] = []
        for title, rows in self.sections:
            out.append(f"\n{title}\n{'-' * len(title)}")
            out.extend(f"  {k.ljust(width)}  {v}" for k, v in rows)
        return "\n".join(out).lstrip("\n")


@dataclass
class Grid:
    """A report with one value column per setup, grouped in sections."""

    columns: list[str]
    sections: list[tuple[str, list[tuple[str, list[str]]]]] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.sections.append((title, []))

    def row(self, label: str, values: list[Any]) -> None:
        self.sections[-1][1].append((label, ["-" if v is None else str(v) for v in values]))

    def render(self) -> str:
        rows = [row for _t, section in self.sections for row in section]
        label_width = max((len(k) for k, _v in rows), default=10)
        widths = [
            max([len(name), *(len(values[i]) for _k, values in rows)])
            for i, name in enumerate(self.columns)
        ]

        def line(label: str, values: list[str]) -> str:
            cells = "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))
            return f"  {label.ljust(label_width)}  {cells}".rstrip()

        out = [line("", self.columns)]
        for title, section in self.sections:
            out.append(f"\n{title}\n{'-' * len(title)}")
            out.extend(line(k, v) for k, v in section)
        return "\n".join(out)
