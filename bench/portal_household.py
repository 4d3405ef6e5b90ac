"""The residents' portal's household (DESIGN 8: "well under a second") on a site-sized registry: 306 units of
three people, one car each, half of them in the car park; ``GET /my/api/household`` through the portal's
guard and app in process (tests/portal/portal_site.py: the office's store, no broker), p50/p95/max over N
requests, beside the registry's own reads for the same unit (``query_household``) without HTTP.

    python -m bench.portal_household [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench import use_test_helpers


def _figures(times: list[float]) -> str:
    times = sorted(times)
    return (f"p50 {statistics.median(times):.1f} ms, p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, "
            f"max {times[-1]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    use_test_helpers()
    from notify_site import site_time
    from portal_site import PortalSite

    from edge.registry.query import query_household

    site = PortalSite(Path(tempfile.mkdtemp(prefix="portal-bench-")), site_time("2026-12-03 10:00"))
    store = site.store
    with store.transaction():
        for u in range(306):
            unit = f"{u // 30 + 1}-{u % 30 + 101}"
            first = store.people.add(f"住户{u}", unit, f"139{u:08d}", care_watch=u % 5 == 0)
            for k in range(2):
                store.people.add(f"家人{u}-{k}", unit, None)
            plate = f"沪A{u:05d}"
            store.vehicles.upsert(plate, "resident" if u % 2 else "family", first, valid_until="2027-06-30")
            if u % 2 == 0:
                store.sessions.open(f"s{u}", plate, None, site.clock() - 3 * 3600, "east", f"e{u}")
    try:
        client = site.client()
        site.resident(client, "13900000100")
        http, direct = [], []
        for _ in range(args.requests):
            started = time.perf_counter()
            answer = client.get("/my/api/household")
            http.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
            started = time.perf_counter()
            query_household(store, site.config, "4-111", site.clock())
            direct.append((time.perf_counter() - started) * 1000)
        print(f"GET /my/api/household (918 people, 306 cars, 153 parked; {args.requests} requests): {_figures(http)}")
        print(f"query_household alone, the same unit:                                   {_figures(direct)}")
    finally:
        site.close()


if __name__ == "__main__":
    main()
