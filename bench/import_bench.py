"""Contact import benchmark: `stamgast import` of a generated CSV, timed and measured.

    .venv/bin/python bench/import_bench.py [--rows 1000000] [--database sqlite|postgres]
                                           [--batch 2000] [--workers N] [--rerun] [--profile]

1. Writes a CSV of --rows realistic rows in a temp dir, as a Dutch Excel export would:
   `;`-separated, 1-3 numbers per row in mixed notations (06-…, +31 6 …, 033-…), 10 % of rows
   in households sharing a landline, 70 % with a customer number, some languages, tags,
   notes and ZorgDomein references.
2. Migrates a fresh database (a SQLite file, or a throwaway PostgreSQL server from
   tests/support/servers.py) and adds the tenant `bench`.
3. Runs `python -m app.cli import FILE --tenant bench` in a subprocess and prints wall time,
   rows/s, the import process's peak RSS (VmHWM, polled), the peak RSS of its whole process
   tree (with the number-normalising workers), and the CPU time of each.
   --rerun imports the same file again (the idempotent path: nothing changes).
   --profile runs the import under cProfile (in-process normalisation) and prints the top.

Target (the issue): 1 M rows in <= 60 s with <= 300 MB peak on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python bench/import_bench.py`: make `app` importable
    sys.path.insert(0, str(ROOT))

TENANT = "bench"
HEADER = [
    "Klantnummer", "Naam", "Aanhef", "Taal", "Organisatie", "Huishouden", "Telefoon",
    "Mobiel", "Werk", "Tags", "Opmerkingen", "ref:zorgdomein",
]  # fmt: skip
FIRST = ["Anna", "Piet", "Jan", "Els", "Kees", "Fatima", "Mohammed", "Sanne", "Daan",
         "Emma", "Lucas", "Noor", "Sem", "Julia", "Ahmet", "Zoë", "Bram", "Lotte", "Willem",
         "Ineke"]  # fmt: skip
LAST = ["de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
        "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "Öztürk", "El Amrani",
        "van Dijk", "Dekker", "Brouwer", "de Wit"]  # fmt: skip
AREAS = ["20", "10", "30", "33", "35", "40", "50", "70", "71", "73", "76", "79"]
LANGUAGES = ["nl"] * 16 + ["en", "de", "tr", "ar"]
TAGS = ["vip", "mantelzorg", "wachtlijst", "slechthorend", "tolk nodig"]


def _mobile(index: int, style: int) -> str:
    digits = f"6{1 + index % 5}{(index * 7919) % 10_000_000:07d}"
    return (f"0{digits[:1]}-{digits[1:]}", f"0{digits}", f"+31 {digits[0]} {digits[1:]}",
            f"+31{digits}")[style % 4]  # fmt: skip


def _landline(index: int, style: int) -> str:
    area = AREAS[index % len(AREAS)]
    subscriber = f"{2 + index % 8}{(index * 104_729) % 10 ** (8 - len(area)):0{8 - len(area)}d}"
    return (f"0{area}-{subscriber}", f"0{area}{subscriber}", f"+31 {area} {subscriber}")[style % 3]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """A realistic export of `rows` contacts (deterministic for a seed)."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(HEADER)
        household: tuple[str, str, int] | None = None  # (name, number, members left)
        for i in range(rows):
            last = rng.choice(LAST)
            if household is not None and household[2] > 0:
                last, landline, left = household
                household = (last, landline, left - 1)
                house = f"Familie {last}"
            elif rng.random() < 0.04:  # ~10 % of rows end up in a household of 2-3
                landline = _landline(rows + i, rng.randrange(3))
                household = (last, landline, rng.randrange(1, 3))
                house = f"Familie {last}"
            else:
                landline = _landline(i, rng.randrange(3)) if rng.random() < 0.45 else ""
                house = ""
            count = rng.choices((1, 2, 3), weights=(55, 35, 10))[0]
            mobile = _mobile(i, rng.randrange(4)) if count >= 2 or not landline else ""
            work = _landline(2 * rows + i, rng.randrange(3)) if count == 3 else ""
            writer.writerow(
                [
                    f"K{i:07d}" if rng.random() < 0.7 else "",
                    f"{rng.choice(FIRST)} {last}",
                    rng.choice(("Mevrouw", "De heer", "")) if rng.random() < 0.3 else "",
                    rng.choice(LANGUAGES),
                    "Zorggroep Eemland" if rng.random() < 0.1 else "",
                    house,
                    landline,
                    mobile,
                    work,
                    rng.choice(TAGS) if rng.random() < 0.2 else "",
                    "Belt liefst 's ochtends; terugbellen na 10:00" if rng.random() < 0.15 else "",
                    f"ZD-{i:07d}" if rng.random() < 0.1 else "",
                ]
            )


def prepare_database(url: str) -> None:
    """Migrate and add the bench tenant."""
    from app.db import create_engine, create_sessionmaker
    from app.migrate import upgrade
    from app.models import Tenant

    upgrade(url)

    async def add_tenant() -> None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                session.add(Tenant(slug=TENANT, name="Bench", default_region="NL"))
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(add_tenant())


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(c) for c in children)
        frontier.extend(int(c) for c in children)
    return pids


def run_import(url: str, csv_path: Path, args: argparse.Namespace) -> dict[str, float]:
    """One import in a subprocess: wall time, peak RSS of it and of its process tree, CPU."""
    command = [sys.executable, "-m", "app.cli", "import", str(csv_path), "--tenant", TENANT,
               "--batch", str(args.batch)]  # fmt: skip
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    env = {**os.environ, "STAMGAST_DATABASE_URL": url, "COLUMNS": "120"}
    server_cpu_before = _server_cpu(url)
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        hwm = tree_peak = 0
        main_cpu = 0.0
        while process.poll() is None:
            hwm = max(hwm, _status_kb(process.pid, "VmHWM"))
            main_cpu = max(main_cpu, _cpu_seconds(process.pid))
            tree_peak = max(tree_peak, sum(_status_kb(p, "VmRSS") for p in _tree(process.pid)))
            time.sleep(0.1)
        seconds = time.perf_counter() - started
        out.seek(0)
        output = out.read().decode(errors="replace")
    before = args.children_cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    args.children_cpu = children.ru_utime + children.ru_stime
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode}):\n{output}")
    print(output.rstrip())
    server_cpu_after = _server_cpu(url)
    return {
        "server_cpu_s": (
            server_cpu_after - server_cpu_before
            if server_cpu_after is not None and server_cpu_before is not None
            else None
        ),
        "seconds": seconds,
        "rows_per_s": args.rows / seconds,
        "peak_mb": hwm / 1024,
        "tree_peak_mb": tree_peak / 1024,
        "children_maxrss_mb": children.ru_maxrss / 1024,
        "cpu_s": args.children_cpu - before,
        "main_cpu_s": main_cpu,
    }


def _server_cpu(url: str) -> float | None:
    """PostgreSQL's CPU so far (COPY and index upkeep run there); None for SQLite."""
    if not url.startswith("postgresql"):
        return None
    from _cluster import postgres_cpu_seconds

    return postgres_cpu_seconds(url)


def profile_import(url: str, csv_path: Path, args: argparse.Namespace) -> None:
    """The import in this process under cProfile, normalising in-process."""
    import cProfile
    import pstats

    from app.importer.service import ImportOptions, run_import

    options = ImportOptions(csv_path, TENANT, batch_size=args.batch, workers=0)
    profiler = cProfile.Profile()
    profiler.runcall(run_import, url, options)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--rerun", action="store_true", help="import the same file again")
    parser.add_argument("--profile", action="store_true", help="cProfile, in-process")
    args = parser.parse_args()
    args.children_cpu = 0.0

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stamgast-import-")))
        csv_path = tmp / "contacts.csv"
        started = time.perf_counter()
        write_csv(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"Generated {args.rows:,} rows ({size_mb:.1f} MB) in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        if args.database == "postgres":
            from tests.support.servers import postgres_server

            url = stack.enter_context(postgres_server())
        else:
            url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        prepare_database(url)
        if args.profile:
            profile_import(url, csv_path, args)
            return
        runs = [("first import", run_import(url, csv_path, args))]
        if args.rerun:
            runs.append(("re-run (idempotent)", run_import(url, csv_path, args)))
    workers = "auto" if args.workers is None else args.workers
    print(f"\n{args.rows:,} rows, {args.database}, batch {args.batch}, "
          f"{os.cpu_count()} CPUs, workers {workers}")  # fmt: skip
    for label, result in runs:
        print(
            f"  {label:20} {result['seconds']:6.1f} s  {result['rows_per_s']:8,.0f} rows/s  "
            f"peak RSS {result['peak_mb']:5.0f} MB (process tree {result['tree_peak_mb']:.0f} MB)"
        )
        server = result["server_cpu_s"]
        print(
            f"  {'':20} CPU {result['cpu_s']:.0f} s: import process {result['main_cpu_s']:.0f} s,"
            f" number workers {result['cpu_s'] - result['main_cpu_s']:.0f} s"
            + (f"; PostgreSQL server {server:.0f} s" if server is not None else "")
        )


if __name__ == "__main__":
    main()
