"""A throwaway Radicale (PyPI), a real CardDAV server, with one address book of vCards."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.servers import _wait_port

USER, PASSWORD = "alice", "radicale-secret"
BOOK = f"/{USER}/contacts/"

# Numbers in the notations people type into an address book; our normaliser reads them all.
CARDS = {
    "yilmaz": (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:yilmaz-1\r\nFN:Fatima Yilmaz\r\n"
        "N:Yilmaz;Fatima;;Mevrouw;\r\nORG:Thuiszorg Oost;Planning\r\nTITLE:Planner\r\n"
        "TEL;TYPE=CELL:06-1234 9876\r\nTEL;TYPE=WORK:+31 (0)30 123 4567\r\nEND:VCARD\r\n"
    ),
    "muller": (
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:muller-2\r\nFN:Jonas Müller\r\nLANG:de\r\n"
        "TEL;VALUE=uri:tel:+49-30-1234567\r\nTEL:0031 33 765 4321\r\nEND:VCARD\r\n"
    ),
}


@contextmanager
def running_radicale(port: int) -> Iterator[str]:
    """Radicale on 127.0.0.1:port with basic auth and the cards above; yields the book's URL."""
    workdir = Path(tempfile.mkdtemp(prefix="stamgast-dav-"))
    users = workdir / "users"
    users.write_text(f"{USER}:{PASSWORD}\n")
    config = workdir / "config"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {users}\nhtpasswd_encryption = plain\n"
        "delay = 0\n"
        "[rights]\ntype = owner_only\n"
        f"[storage]\nfilesystem_folder = {workdir / 'collections'}\n"
        "[web]\ntype = none\n[logging]\nlevel = warning\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_port(port)
        with httpx.Client(base_url=base, auth=(USER, PASSWORD)) as dav:
            made = dav.request(
                "MKCOL",
                BOOK,
                content=(
                    '<?xml version="1.0"?><d:mkcol xmlns:d="DAV:" '
                    'xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype>'
                    "<d:collection/><c:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>"
                ),
            )
            assert made.status_code == 201, made.text
            for name, card in CARDS.items():
                put_card(base, name, card)
        yield base + BOOK
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def put_card(base: str, name: str, card: str) -> None:
    """Store (or replace) one vCard in the book."""
    with httpx.Client(base_url=base, auth=(USER, PASSWORD)) as dav:
        response = dav.put(
            f"{BOOK}{name}.vcf", content=card, headers={"Content-Type": "text/vcard"}
        )
        assert response.status_code in (201, 204), response.text
