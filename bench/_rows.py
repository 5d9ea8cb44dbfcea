"""The rows of bench/dataset.py, made a batch of contacts at a time from one seeded RNG.

Rows are tuples in the column order of `COLUMNS`, ready for `executemany` (SQLite) or
`copy_records_to_table` (asyncpg); the caller says how a timestamp is written (`stamp`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from _people import (
    BE_LANDLINE,
    BE_MOBILE_PLAN,
    CALLBACK_REASONS,
    CASE_KINDS,
    CHANNELS,
    DISLIKES,
    FLAGS,
    LIKES,
    NEXT_STEPS,
    NL_LANDLINE,
    NL_MOBILE,
    OPEN_CASE_STATUSES,
    OUTCOMES,
    PLACES,
    PLANS,
    PREFERRED_TIMES,
    SUMMARIES,
    TAGS,
    Caller,
    NumberPlan,
    make_caller,
    raw_form,
)

# Only the columns we fill; dataset.check_columns() proves every NOT NULL column is here.
COLUMNS: dict[str, tuple[str, ...]] = {
    "contacts": (
        "id", "tenant_id", "display_name", "form_of_address", "language", "organisation",
        "household", "external_id", "references", "tags", "flags", "notes", "created_at",
        "updated_at",
    ),
    "contact_numbers": ("tenant_id", "contact_id", "e164", "raw", "kind", "label"),
    "service_profiles": (
        "contact_id", "tenant_id", "preferred_times", "preferred_channel", "preferred_place",
        "language", "plain_language", "extra_explanation", "interpreter", "accessibility",
        "likes", "dislikes", "extra",
    ),
    "interactions": (
        "tenant_id", "contact_id", "occurred_at", "channel", "direction", "summary", "outcome",
        "agent_id", "satisfaction",
    ),
    "callback_requests": (
        "tenant_id", "contact_id", "number_e164", "reason", "requested_at", "due_by", "status",
        "attempts", "assignee_agent_id", "closed_at",
    ),
    "cases": (
        "tenant_id", "contact_id", "reference", "kind", "status", "next_step", "position",
        "owner", "created_at", "updated_at",
    ),
}  # fmt: skip

HOUSEHOLD_START = 0.0357  # a unit of 2-4 (mean 3) starts this often: 10 % of contacts
MEAN_INTERACTIONS = 10  # uniform 0..20 per contact
YEAR = 365.25 * 86400
EMPTY_LIST, EMPTY_DICT = "[]", "{}"
LABELS = {
    ("nl", "mobile"): "mobiel", ("nl", "landline"): "thuis", ("nl", "work"): "werk",
    ("be-nl", "mobile"): "gsm", ("be-nl", "landline"): "thuis", ("be-nl", "work"): "werk",
    ("be-fr", "mobile"): "portable", ("be-fr", "landline"): "domicile",
    ("be-fr", "work"): "travail",
}  # fmt: skip

Batch = dict[str, list[tuple[Any, ...]]]


@dataclass
class Numbers:
    """Hands out distinct numbers per plan; the unused tail of each plan gives unknown ones."""

    seed: int
    used: dict[str, int] = field(default_factory=dict)
    samples: list[tuple[str, str]] = field(default_factory=list)  # (e164, raw) to check

    def offset(self, plan: NumberPlan) -> int:
        return random.Random(f"{self.seed}:{plan.name}").randrange(plan.size)

    def take(self, plan: NumberPlan, variant: int) -> tuple[str, str]:
        index = self.used.get(plan.name, 0)
        if index >= plan.size // 2:
            raise RuntimeError(f"{plan.name} is exhausted; the dataset is too large")
        self.used[plan.name] = index + 1
        e164 = plan.number(index, self.offset(plan))
        raw = raw_form(e164, variant)
        if (index < 50 or index % 997 == 0) and len(self.samples) < 4000:
            self.samples.append((e164, raw))
        return e164, raw

    def unknown(self, count: int) -> list[str]:
        """Valid numbers no contact has: drawn from the far end of every plan."""
        return [
            plan.number(plan.size - 1 - i // len(PLANS), self.offset(plan))
            for i, plan in zip(range(count), _cycle(PLANS), strict=False)
        ]


def _cycle(plans: tuple[NumberPlan, ...]) -> Iterator[NumberPlan]:
    while True:
        yield from plans


@dataclass
class RowMaker:
    """Makes the rows for `total` contacts of one tenant, a batch at a time."""

    seed: int
    tenant_id: int
    agent_ids: list[int]
    first_contact_id: int
    stamp: Callable[[float], Any]
    now: float = field(default_factory=lambda: float(int(time.time())))
    numbers: Numbers = field(init=False)
    rng: random.Random = field(init=False)
    _case_seq: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.numbers = Numbers(self.seed)

    def batches(self, total: int, batch_size: int) -> Iterator[Batch]:
        """Every row for `total` contacts, `batch_size` contacts (whole households) at a time."""
        made = 0
        while made < total:
            size = min(batch_size, total - made)
            yield self._batch(self.first_contact_id + made, size)
            made += size

    def _batch(self, first_id: int, size: int) -> Batch:
        rng = self.rng
        batch: Batch = {table: [] for table in COLUMNS}
        people: list[tuple[int, Caller, str | None, list[tuple[str, str, str]]]] = []
        contact_id = first_id
        while len(people) < size:
            members = rng.randint(2, 4) if rng.random() < HOUSEHOLD_START else 1
            members = min(members, size - len(people))
            head = make_caller(rng)
            if members == 1:
                people.append((contact_id, head, None, self._own_numbers(head, rng.choice(
                    (1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3)))))  # fmt: skip
                contact_id += 1
                continue
            plan = NL_LANDLINE if head.country == "NL" else BE_LANDLINE
            shared = (*self.numbers.take(plan, contact_id), "landline")
            household = f"Familie {head.listed_surname}"
            for i in range(members):
                member = head if i == 0 else make_caller(rng, family=head)
                own = self._own_numbers(member, rng.choice((0, 0, 1, 1, 1, 2)), landline=False)
                people.append((contact_id, member, household, [shared, *own]))
                contact_id += 1
        for cid, caller, household, numbers in people:
            self._contact(batch, cid, caller, household, numbers)
        return batch

    def _own_numbers(
        self, caller: Caller, count: int, *, landline: bool = True
    ) -> list[tuple[str, str, str]]:
        """(e164, raw, kind): a mobile first, then a home landline and/or a work number."""
        nl = caller.country == "NL"
        mobile, fixed = (NL_MOBILE, NL_LANDLINE) if nl else (BE_MOBILE_PLAN, BE_LANDLINE)
        kinds = [("mobile", mobile), ("landline" if landline else "work", fixed), ("work", fixed)]
        if self.rng.random() < 0.15:  # some only give a landline
            kinds[0], kinds[1] = kinds[1], kinds[0]
        variant = self.rng.randrange(4)
        return [(*self.numbers.take(plan, variant), kind) for kind, plan in kinds[:count]]

    def _contact(
        self,
        batch: Batch,
        cid: int,
        caller: Caller,
        household: str | None,
        numbers: list[tuple[str, str, str]],
    ) -> None:
        rng, tid, stamp, now = self.rng, self.tenant_id, self.stamp, self.now
        created = now - rng.random() * 6 * YEAR
        external = f"CRM-{cid:08d}"
        roll = rng.random()
        tags = json.dumps([rng.choice(TAGS)]) if roll < 0.3 else EMPTY_LIST
        flags = json.dumps([FLAGS[roll > 0.015]]) if roll < 0.02 else EMPTY_LIST
        organisation = "Gemeente Amersfoort" if rng.random() < 0.02 else None
        notes = "Slechthorend: rustig en duidelijk praten." if rng.random() < 0.03 else None
        batch["contacts"].append((
            cid, tid, caller.display_name, caller.form_of_address, caller.language,
            organisation, household, external, json.dumps({"crm": external}), tags, flags,
            notes, stamp(created), stamp(created + rng.random() * (now - created)),
        ))  # fmt: skip
        for e164, raw, kind in numbers:
            label = LABELS[(caller.group, kind)]
            batch["contact_numbers"].append((tid, cid, e164, raw, kind, label))
        if rng.random() < 0.5:
            self._profile(batch, cid, caller)
        self._interactions(batch, cid, created, rng.randint(0, 2 * MEAN_INTERACTIONS))
        roll = rng.random()
        if roll < 0.08:  # 3 % have an open callback, 5 % one that was done
            self._callback(batch, cid, numbers[0][0], created, is_open=roll < 0.03)
        roll = rng.random()
        if roll < 0.08:  # 4 % have an open case, 4 % a closed one
            self._case(batch, cid, created, is_open=roll < 0.04)

    def _profile(self, batch: Batch, cid: int, caller: Caller) -> None:
        rng = self.rng
        likes = json.dumps(rng.sample(LIKES, rng.randint(0, 2)), ensure_ascii=False)
        dislikes = json.dumps(rng.sample(DISLIKES, rng.randint(0, 2)), ensure_ascii=False)
        interpreter = {"tr": "Turks", "ar": "Arabisch", "pl": "Pools"}.get(caller.language)
        batch["service_profiles"].append((
            cid, self.tenant_id, rng.choice(PREFERRED_TIMES), rng.choice(CHANNELS),
            rng.choice(PLACES), caller.language, rng.random() < 0.2, rng.random() < 0.15,
            interpreter if rng.random() < 0.5 else None,
            "slechthorend" if rng.random() < 0.05 else None, likes, dislikes, EMPTY_DICT,
        ))  # fmt: skip

    def _interactions(self, batch: Batch, cid: int, created: float, count: int) -> None:
        if not count:
            return
        rng, tid, stamp = self.rng, self.tenant_id, self.stamp
        span = self.now - created
        rows = batch["interactions"]
        channels = rng.choices(CHANNELS, k=count)
        summaries = rng.choices(SUMMARIES, k=count)
        outcomes = rng.choices(OUTCOMES, k=count)
        agents = rng.choices(self.agent_ids, k=count)
        moods = rng.choices((None, None, None, None, None, None, 3, 4, 4, 5, 2, 1), k=count)
        for i in range(count):
            channel = channels[i]
            rows.append((
                tid, cid, stamp(created + rng.random() * span), channel,
                "outbound" if channel == "letter" or rng.random() < 0.3 else "inbound",
                summaries[i], outcomes[i], agents[i] if channel != "portal" else None,
                moods[i] if channel == "phone" else None,
            ))  # fmt: skip

    def _callback(self, batch: Batch, cid: int, e164: str, created: float, is_open: bool) -> None:
        rng, now = self.rng, self.now
        requested = now - rng.random() * (4 * 86400 if is_open else (now - created))
        due = requested + rng.choice((4, 24, 48, 72)) * 3600  # some open ones are overdue
        batch["callback_requests"].append((
            self.tenant_id, cid, e164, rng.choice(CALLBACK_REASONS), self.stamp(requested),
            self.stamp(due), "open" if is_open else "done", rng.randint(0, 2),
            rng.choice(self.agent_ids) if rng.random() < 0.5 else None,
            None if is_open else self.stamp(min(now, due)),
        ))  # fmt: skip

    def _case(self, batch: Batch, cid: int, created: float, is_open: bool) -> None:
        rng, now = self.rng, self.now
        self._case_seq += 1
        opened = created + rng.random() * (now - created)
        kind = rng.choice(CASE_KINDS)
        year = time.gmtime(opened).tm_year
        batch["cases"].append((
            self.tenant_id, cid, f"ZD-{year}-{self.seed % 100:02d}{self._case_seq:07d}", kind,
            rng.choice(OPEN_CASE_STATUSES) if is_open else "closed",
            rng.choice(NEXT_STEPS) if is_open else None,
            rng.randint(1, 400) if is_open and kind == "waiting_list" else None,
            "Team Intake", self.stamp(opened), self.stamp(opened + rng.random() * (now - opened)),
        ))  # fmt: skip

    def bare_callbacks(self, count: int) -> list[tuple[Any, ...]]:
        """Callback requests for missed calls from numbers no contact has."""
        rng, now = self.rng, self.now
        return [
            (self.tenant_id, None, e164, "Gemiste oproep", self.stamp(now - rng.random() * 86400),
             None, "open", 0, None, None)
            for e164 in self.numbers.unknown(count + 1000)[1000:]
        ]  # fmt: skip
