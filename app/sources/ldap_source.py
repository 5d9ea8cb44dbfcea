"""`ldap`: an LDAP directory or Active Directory, for colleagues and internal callers.

ldap3 is synchronous; each lookup runs in a worker thread with its own connection, bounded
by the source's timeout for the connect and for every answer.
"""

from __future__ import annotations

import asyncio
import math
import warnings
from typing import Any
from urllib.parse import quote

# ldap3 2.9.1 imports names pyasn1 0.6 has deprecated (tagMap, typeMap): harmless, and not
# ours to fix; kept out of our logs.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import ldap3
    from ldap3.core.exceptions import (
        LDAPException,
        LDAPSocketOpenError,
        LDAPSocketReceiveError,
    )
    from ldap3.utils.conv import escape_filter_chars

from app.phone import PhoneNumber
from app.sources.base import SourceRecord, SourceRefused, SourceUnreachable, number_forms, text
from app.sources.schemas import LdapConfig


class LdapSource:
    """Searches a directory for a number (see LdapConfig)."""

    def __init__(self, config: LdapConfig, secret: str | None, timeout: float) -> None:
        self._config = config
        self._secret = secret
        self._timeout = timeout
        fields = config.fields
        self._attributes = sorted(
            {a for a in (fields.display_name, fields.organisation, fields.title,
                         fields.language, fields.external_id) if a}
        )  # fmt: skip

    async def lookup(self, number: PhoneNumber) -> list[SourceRecord]:
        """Who the directory has with this number."""
        forms = {key: escape_filter_chars(value) for key, value in number_forms(number).items()}
        search_filter = self._config.filter.format(**forms)
        return await asyncio.to_thread(self._search, search_filter)

    def _search(self, search_filter: str) -> list[SourceRecord]:
        config = self._config
        server = ldap3.Server(config.url, connect_timeout=self._timeout, get_info=ldap3.NONE)
        try:
            connection = ldap3.Connection(
                server,
                user=config.bind_dn,
                password=self._secret if config.bind_dn else None,
                # Whole seconds: ldap3 packs it into SO_RCVTIMEO as an integer.
                receive_timeout=max(1, math.ceil(self._timeout)),
                read_only=True,
                raise_exceptions=True,
            )
            with connection:  # binds, and unbinds on the way out
                connection.search(
                    config.base_dn,
                    search_filter,
                    attributes=self._attributes,
                    size_limit=config.size_limit,
                    time_limit=max(1, round(self._timeout)),
                )
                entries = list(connection.response or [])
        except (LDAPSocketOpenError, LDAPSocketReceiveError) as exc:
            raise SourceUnreachable(f"cannot reach it ({type(exc).__name__})") from None
        except LDAPException as exc:
            raise SourceRefused(f"refused the search ({type(exc).__name__}: {exc})"[:300]) from None
        except (OSError, ValueError) as exc:  # what ldap3 lets through from its sockets
            raise SourceUnreachable(f"cannot reach it ({type(exc).__name__})") from None
        return [
            self._record(entry["dn"], entry.get("attributes", {}))
            for entry in entries
            if entry.get("type") == "searchResEntry"
        ]

    def _record(self, dn: str, attributes: dict[str, Any]) -> SourceRecord:
        fields = self._config.fields

        def first(name: str | None) -> str | None:
            if name is None:
                return None
            value = attributes.get(name)
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, bytes):
                value = value.hex()  # objectGUID and other binary ids
            return text(value)

        external_id = first(fields.external_id) or dn
        link = None
        if self._config.deep_link:
            link = self._config.deep_link.format(external_id=quote(external_id, safe=""))
        title = first(fields.title)
        return SourceRecord(
            display_name=first(fields.display_name),
            external_id=external_id[:120],
            deep_link=link,
            organisation=first(fields.organisation),
            language=first(fields.language),
            details={"title": title} if title else {},
        )

    async def close(self) -> None:
        """Nothing kept open between lookups."""
