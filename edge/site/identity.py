"""Is this gate's identity key the one the office lists for it? (issue 26: a gate given another gate's key)

The office publishes each gate's public key in its signed site settings (``gates: {name: {kid,
public_key}}``, DESIGN 6.1). A gate whose ``identity_key_file`` is not the key listed under its own name
signs events that the office and its peers refuse. ``check-config`` says so from the settings the gate's
database holds (it exits 2), and the running gate raises an ``identity`` device alert when settings
arrive (``edge.site.replica``).
"""

from __future__ import annotations

from pathlib import Path

from edge.keys import load_signer, load_verifier, verify_record


def identity_problem(gate: str, signer, settings: dict | None) -> str | None:
    """Why ``signer`` is not ``gate``'s key in the office's ``settings``; None when it is (or unknown)."""
    if not settings or signer is None:
        return None
    listed = (settings.get("gates") or {}).get(gate)
    if not isinstance(listed, dict):
        names = ", ".join(sorted(settings.get("gates") or {}))
        return f"the office's site settings list no gate {gate!r} (its gates: {names})"
    if listed.get("kid") != signer.kid:
        others = [name for name, entry in (settings.get("gates") or {}).items()
                  if isinstance(entry, dict) and entry.get("kid") == signer.kid and name != gate]
        whose = f"it is gate {others[0]}'s key" if others else "the office does not list it"
        return (f"{signer.path} (kid {signer.kid}) is not gate {gate}'s key, which the office lists as kid "
                f"{listed.get('kid')}: {whose}; everything this gate signs would be refused")
    return None


def stored_identity_problem(config) -> str | None:
    """The same check against the site settings held in the gate's database, read-only, when it has
    them (signed by the office's registry key); None when it cannot tell."""
    if not config.site_mode or config.identity_key_file is None or not Path(config.database).exists():
        return None
    from edge.store.records import stored_record

    settings = stored_record(config.database, "settings")
    if settings is None:
        return None
    if verify_record(load_verifier(config.registry.public_keys), settings):
        return None  # not the office's: nothing to compare with
    return identity_problem(config.gate, load_signer(config.identity_key_file), settings)


def line_of(path, key: str) -> int:
    """The line of ``key:`` in a YAML file (1 when not found): check-config names file:line."""
    try:
        for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(f"{key}:"):
                return number
    except OSError:
        pass
    return 1



