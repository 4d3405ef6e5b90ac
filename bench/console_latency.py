"""The console's live passages: the time from a gate's decision to its row in the browser, p50 and p95.

A real site on loopback (mosquitto with the site's ACL, the office with its console, one gate daemon with
a simulated barrier) and Debian's chromium driven by Playwright on the passages page. For each of
``--passages`` (20) a resident passes the gate; a MutationObserver in the page stamps the moment the
row appears (the page's clock and ours are the same machine's). Target: p50 ≤ 1 s.

    .venv/bin/python -m bench.console_latency [--passages 20] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import use_test_helpers

WATCH = """() => {
  window.__seen = {};
  const body = document.querySelector('#passages tbody');
  new MutationObserver((changes) => {
    const now = performance.timeOrigin + performance.now();
    for (const change of changes) for (const node of change.addedNodes)
      if (node.dataset && node.dataset.eventId) window.__seen[node.dataset.eventId] = now;
  }).observe(body, {childList: true});
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=20)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        print(f"{args.chromium} is not installed (apt-get install chromium)", file=sys.stderr)
        return 2
    use_test_helpers()  # the tests' site: the same office, gate and broker set-up
    from console_site import USERS, console_site, resident
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder, console_site(Path(folder)) as site, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(f"{site.url}/login?next=/passages")
            page.fill("input[name=username]", "guard1")
            page.fill("input[name=password]", USERS["guard1"][1])
            page.click("button[type=submit]")
            page.wait_for_selector("#live.on")
            page.evaluate(WATCH)
            person = resident(site, "王建国", "12-301")
            latencies = []
            for i in range(args.passages):
                started = time.time() * 1000
                event = site.gate.gate.person("in" if i % 2 == 0 else "out", person, credential="qr")
                page.wait_for_function("id => window.__seen[id] !== undefined", arg=event["event_id"], timeout=10_000)
                latencies.append(page.evaluate("id => window.__seen[id]", event["event_id"]) - started)
                time.sleep(0.2)
        finally:
            browser.close()
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"gate decision -> row in the browser over {len(latencies)} passages: "
          f"p50 {statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms "
          "(target p50 <= 1000 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
