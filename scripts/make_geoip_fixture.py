#!/usr/bin/env python3
"""Builds fixtures/geoip/auditlake-test-city.mmdb, our own licence-clean GeoIP2-City-shaped
database, from fixtures/geoip/cities.json.

Why our own: MaxMind's GeoLite2 licence forbids committing the database to a repository, and
tests plus `auditlake demo` need a City database that answers the same way every time.

Run with the project's venv (it has mmdb-writer):
    $(bash scripts/python-env.sh) scripts/make_geoip_fixture.py
The output is reproducible: the build epoch comes from SOURCE_DATE_EPOCH (default: a fixed
date), not the clock, so regenerating an unchanged cities.json gives the same bytes.
"""

import json
import os
import sys
from pathlib import Path

from mmdb_writer import MMDBWriter, MmdbF64, MmdbU16, MmdbU32
from netaddr import IPNetwork, IPSet

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "fixtures" / "geoip" / "cities.json"
OUT = ROOT / "fixtures" / "geoip" / "auditlake-test-city.mmdb"
# 2025-01-01T00:00:00Z: a fixed build time keeps the committed file byte-stable.
DEFAULT_EPOCH = 1735689600

# The enricher treats these as "no location" by design, so a fixture entry inside one would
# never be looked up; refuse them rather than ship a silently dead entry.
RESERVED = IPSet(
    [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
        "::/8", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32",
    ]
)


class FixedEpochWriter(MMDBWriter):
    def __init__(self, epoch: int, **kw):
        super().__init__(**kw)
        self._epoch = epoch

    def _build_meta(self):
        meta = super()._build_meta()
        meta["build_epoch"] = self._epoch
        return meta


def names(en: str) -> dict:
    return {"en": en}


def record(e: dict) -> dict:
    """One City record, laid out and typed like MaxMind's GeoIP2-City."""
    rec = {
        "city": {"geoname_id": MmdbU32(e["geoname_id"]), "names": names(e["city"])},
        "continent": {"code": e["continent"]["code"], "names": names(e["continent"]["name"])},
        "country": {"iso_code": e["country"]["iso_code"], "names": names(e["country"]["name"])},
        "registered_country": {
            "iso_code": e["country"]["iso_code"],
            "names": names(e["country"]["name"]),
        },
        "location": {
            "accuracy_radius": MmdbU16(e["accuracy_radius"]),
            "latitude": MmdbF64(e["latitude"]),
            "longitude": MmdbF64(e["longitude"]),
            "time_zone": e["time_zone"],
        },
    }
    if e.get("region"):
        rec["subdivisions"] = [
            {"iso_code": e["region"]["iso_code"], "names": names(e["region"]["name"])}
        ]
    return rec


def main() -> int:
    entries = json.loads(SRC.read_text(encoding="utf-8"))
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", DEFAULT_EPOCH))
    w = FixedEpochWriter(
        epoch,
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description={"en": "auditlake test City database (synthetic; not real IP allocations)"},
    )
    seen = IPSet()
    for e in entries:
        net = IPNetwork(e["network"])
        if RESERVED & IPSet([net]):
            print(f"{net} is private/reserved/documentation space", file=sys.stderr)
            return 1
        if seen & IPSet([net]):
            print(f"{net} overlaps another entry", file=sys.stderr)
            return 1
        seen.add(net)
        rec = record(e)
        # ipv4_compatible stores IPv4 under ::/96, where readers look IPv4 up; MaxMind's own
        # databases also answer for IPv4-mapped IPv6 (::ffff:a.b.c.d), so alias that too.
        nets = [net]
        if net.version == 4:
            nets.append(IPNetwork(f"::ffff:{net.ip}/{96 + net.prefixlen}"))
        w.insert_network(IPSet(nets), rec)
    w.to_db_file(str(OUT))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(entries)} networks, {OUT.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
