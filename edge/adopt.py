"""``gate-edge office adopt``: a single-gate site's registry joins the office's (DESIGN 6.3).

Not done yet: see the README's "The site" section for the manual path.
"""

from __future__ import annotations

from edge.commands import UsageError


def adopt_gate(office_config, gate_config) -> dict:
    raise UsageError("office adopt is not available in this version yet: register the gate's residents at the "
                     "office (gate-edge import -c office.yaml people.csv) and switch the gate to registry.source: site")
