"""The layering of DESIGN 3, checked: import-linter's contracts in setup.cfg hold, they are the ones DESIGN 3
asks for, and the checker does see a broken rule (so a passing run means something)."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
# DESIGN 3's rules: (source, forbidden) pairs that some contract of setup.cfg must hold.
DESIGN_RULES = [("edge.rules", m) for m in ("edge.store", "edge.site", "edge.durable", "edge.gate", "edge.office",
                                            "edge.cli")] + \
               [("edge.store", m) for m in ("edge.site", "edge.gate", "edge.office", "edge.cli")] + \
               [("edge.site", m) for m in ("edge.gate", "edge.office", "edge.cli")] + \
               [("edge.office", "edge.gate")] + \
               [(s, "edge.cli") for s in ("edge.gate", "edge.durable", "edge.store", "edge.site", "edge.rules",
                                          "edge.registry", "edge.office", "edge.config", "drivers", "models")] + \
               [(s, m) for s in ("drivers", "models") for m in ("edge.gate", "edge.site", "edge.store", "edge.cli")]


def lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(config), "--no-cache"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def contracts(path: Path) -> dict[str, configparser.SectionProxy]:
    parser = configparser.ConfigParser()
    parser.read(path, encoding="utf-8")
    return {name: parser[name] for name in parser.sections() if name.startswith("importlinter:contract:")}


def test_every_layering_contract_is_kept():
    done = lint(REPO / "setup.cfg")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(contracts(REPO / 'setup.cfg'))} kept, 0 broken" in done.stdout, done.stdout


def test_the_contracts_hold_the_rules_of_design_section_3():
    held = set()
    for contract in contracts(REPO / "setup.cfg").values():
        assert contract["type"] == "forbidden"
        sources, forbidden = contract["source_modules"].split(), contract["forbidden_modules"].split()
        held |= {(s, f) for s in sources for f in forbidden}
    assert [rule for rule in DESIGN_RULES if rule not in held] == []


def test_a_broken_rule_is_reported(tmp_path):
    """The same checker on a rule the code does not keep (the gate stores what it decides): it must say so."""
    config = tmp_path / "broken.cfg"
    config.write_text("[importlinter]\nroot_packages =\n    edge\n\n[importlinter:contract:x]\n"
                      "name = the gate stores nothing\ntype = forbidden\nsource_modules =\n    edge.gate\n"
                      "forbidden_modules =\n    edge.store\n", encoding="utf-8")
    done = lint(config)
    assert done.returncode != 0 and "BROKEN" in done.stdout, done.stdout
    assert "edge.gate" in done.stdout and "edge.store" in done.stdout


def test_the_root_of_edge_keeps_only_the_shared_leaves():
    modules = sorted(p.name for p in (REPO / "edge").glob("*.py"))
    assert len(modules) <= 10, modules
