"""One task per process rechecks the tokens of every open stream, in one statement.

A token revoked by another process, or an agent made inactive, must end the streams open
with it; when Redis carries the revocation this happens at once, and this recheck is what
catches it without Redis, or when the announcement was lost. One sweep for all streams
(instead of a task and a query per connection) keeps an idle connection down to its
socket and one task, and the database sees one query per interval whatever the number
of agents.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.tokens import valid_token_ids

logger = logging.getLogger(__name__)

# The token ids still valid among those asked about; None when that cannot be known now.
TokenCheck = Callable[[Collection[int]], Awaitable[set[int] | None]]


def database_check(sessionmaker: async_sessionmaker[AsyncSession]) -> TokenCheck:
    """Ask the database, with a session of its own released at once."""

    async def check(token_ids: Collection[int]) -> set[int] | None:
        try:
            async with sessionmaker() as session:
                return await valid_token_ids(session, token_ids)
        except SQLAlchemyError:
            # A database that cannot answer is no reason to cut agents off.
            return None

    return check


async def sweep_once(hub: ScreenPopHub, check: TokenCheck) -> int:
    """End the open streams whose token no longer admits them; how many ended."""
    token_ids = hub.token_ids()
    if not token_ids:
        return 0
    valid = await check(token_ids)
    if valid is None:
        return 0
    return sum(hub.revoke_token(token_id) for token_id in token_ids - valid)


async def recheck_forever(hub: ScreenPopHub, check: TokenCheck, every: float) -> None:
    """Sweep every `every` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await sweep_once(hub, check)
        except Exception:  # the next sweep must still come
            logger.exception("screen-pop: token recheck failed")
