"""Raw numbers -> storable keys, in worker processes when the file is big.

An import only stores keys, so it uses `number_key`, which skips the display formats, the
mask and the place name that `normalise` adds for cards. Still, parsing, validating and
classifying the numbers is about half of an import's CPU time (bench/import_bench.py prints
the split). Each batch's distinct numbers therefore go to worker
processes while the main process validates and writes the batches around it; small files are
normalised in-process, where starting workers would cost more than it saves.

A worker is `python -m app.importer.numbers REGION`: it reads a JSON list of raw numbers per
line on stdin and answers a JSON list of [key, kind-or-reason] per line on stdout. Plain
subprocesses rather than multiprocessing, whose workers re-import the parent's `__main__`
(the whole CLI, twice the memory) before they start.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Collection, Sequence

from app.phone import NumberKind, number_key

Resolved = tuple[str | None, str]
"""(key, kind decided from the number: mobile or landline), or (None, why it is unusable)."""

MAX_RAW = 64  # the width of contact_numbers.raw
_NOT_A_NUMBER = "not a phone number"
_WITHHELD = "a withheld-number placeholder"
_TOO_LONG = f"longer than {MAX_RAW} characters"
_LINE_LIMIT = 64 * 1024 * 1024  # one batch's answer; asyncio's default (64 KiB) is too small


def resolve(raws: Sequence[str], region: str) -> list[Resolved]:
    """Each raw number's key and kind."""
    resolved: list[Resolved] = []
    for raw in raws:
        if len(raw) > MAX_RAW:
            resolved.append((None, _TOO_LONG))
            continue
        key, kind = number_key(raw, region)
        if key is None:
            resolved.append((None, _WITHHELD if kind is NumberKind.WITHHELD else _NOT_A_NUMBER))
        else:
            resolved.append((key, "mobile" if kind is NumberKind.MOBILE else "landline"))
    return resolved


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lock = asyncio.Lock()

    async def resolve(self, raws: list[str]) -> list[Resolved]:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        async with self.lock:  # one request at a time: answers come back in order
            stdin.write(json.dumps(raws).encode() + b"\n")
            await stdin.drain()
            line = await stdout.readline()
        if not line:
            raise RuntimeError(f"number worker exited with code {await self.process.wait()}")
        return [(key, outcome) for key, outcome in json.loads(line)]


class NumberResolver:
    """Resolves each batch's distinct raw numbers, in `workers` processes or in-process (0)."""

    def __init__(self, region: str, workers: int) -> None:
        self.region = region
        self.workers = workers
        self._pool: list[_Worker] = []

    async def start(self) -> None:
        """Start the worker processes (they load phonenumbers' metadata while we read)."""
        for _ in range(self.workers):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                __name__,
                self.region,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
            )
            self._pool.append(_Worker(process))

    def submit(self, raws: Collection[str]) -> Awaitable[dict[str, Resolved]]:
        """Start resolving; await the result when it is needed."""
        distinct = list(dict.fromkeys(raws))
        if not self._pool or len(distinct) < 2 * len(self._pool):
            done: asyncio.Future[dict[str, Resolved]] = asyncio.get_running_loop().create_future()
            done.set_result(dict(zip(distinct, resolve(distinct, self.region), strict=True)))
            return done
        size = -(-len(distinct) // len(self._pool))
        chunks = [distinct[i : i + size] for i in range(0, len(distinct), size)]
        tasks = [
            asyncio.ensure_future(worker.resolve(chunk))
            for worker, chunk in zip(self._pool, chunks, strict=False)
        ]
        return self._gather(chunks, tasks)

    @staticmethod
    async def _gather(
        chunks: list[list[str]], tasks: Sequence[asyncio.Future[list[Resolved]]]
    ) -> dict[str, Resolved]:
        results: dict[str, Resolved] = {}
        for chunk, answer in zip(chunks, await asyncio.gather(*tasks), strict=True):
            results.update(zip(chunk, answer, strict=True))
        return results

    async def close(self) -> None:
        """Stop the workers: end of input makes them exit."""
        for worker in self._pool:
            if worker.process.stdin is not None:
                worker.process.stdin.close()
        for worker in self._pool:
            try:
                await asyncio.wait_for(worker.process.wait(), timeout=10)
            except TimeoutError:
                worker.process.kill()
                await worker.process.wait()
        self._pool = []


def _serve(region: str) -> None:
    """The worker's loop: a JSON list of raw numbers in, a JSON list of answers out."""
    for line in sys.stdin.buffer:
        answer = resolve(json.loads(line), region)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
