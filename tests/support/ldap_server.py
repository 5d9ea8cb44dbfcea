"""A throwaway OpenLDAP `slapd` (Debian's package) with an Active Directory-like schema.

AD keeps a colleague's department in `department` (not in inetOrgPerson); a small schema
adds it, as AD has it (OID 1.2.840.113556.1.2.141), with an auxiliary class `adPerson`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.servers import _wait_port, missing

SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "ldap-secret"

AD_SCHEMA = """\
attributetype ( 1.2.840.113556.1.2.141 NAME 'department'
    EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{64} SINGLE-VALUE )
attributetype ( 1.2.840.113556.1.4.221 NAME 'sAMAccountName'
    EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.1.1 NAME 'adPerson' SUP top AUXILIARY
    MAY ( department $ sAMAccountName ) )
"""

ENTRIES = f"""\
dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,{SUFFIX}
objectClass: organizationalUnit
ou: people

dn: uid=pdevries,ou=people,{SUFFIX}
objectClass: inetOrgPerson
objectClass: adPerson
uid: pdevries
cn: Pieter de Vries
sn: de Vries
displayName: Pieter de Vries
title: Teamleider thuiszorg
department: Wijkteam Noord
sAMAccountName: pdevries
telephoneNumber: +31 33 123 4567
mobile: +31 6 1111 2222
preferredLanguage: nl

dn: uid=ajanssen,ou=people,{SUFFIX}
objectClass: inetOrgPerson
objectClass: adPerson
uid: ajanssen
cn: Anna Janssen
sn: Janssen
displayName: Anna Janssen
title: Planner
department: Planning
sAMAccountName: ajanssen
homePhone: +31-20-765-4321
"""


@contextmanager
def running_slapd(port: int) -> Iterator[str]:
    """slapd on 127.0.0.1:port with the entries above; yields its ldap:// URL."""
    slapd = shutil.which("slapd") or "/usr/sbin/slapd"
    if not Path(slapd).exists() or shutil.which("ldapadd") is None:
        missing("OpenLDAP (slapd, ldapadd)", "slapd ldap-utils")
    workdir = Path(tempfile.mkdtemp(prefix="stamgast-ldap-"))
    (workdir / "db").mkdir()
    (workdir / "ad.schema").write_text(AD_SCHEMA)
    config = workdir / "slapd.conf"
    config.write_text(
        "include /etc/ldap/schema/core.schema\n"
        "include /etc/ldap/schema/cosine.schema\n"
        "include /etc/ldap/schema/inetorgperson.schema\n"
        f"include {workdir / 'ad.schema'}\n"
        f"pidfile {workdir / 'slapd.pid'}\n"
        "modulepath /usr/lib/ldap\nmoduleload back_mdb\n"
        "database mdb\n"
        f'suffix "{SUFFIX}"\nrootdn "{ROOT_DN}"\nrootpw {ROOT_PW}\n'
        f"directory {workdir / 'db'}\n"
        "index objectClass eq\nindex telephoneNumber,mobile,homePhone eq,sub\n"
    )
    url = f"ldap://127.0.0.1:{port}"
    process = subprocess.Popen(
        [slapd, "-h", f"{url}/", "-f", str(config), "-d", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        subprocess.run(
            ["ldapadd", "-x", "-H", url, "-D", ROOT_DN, "-w", ROOT_PW],
            input=ENTRIES.encode(),
            check=True,
            capture_output=True,
        )
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)
