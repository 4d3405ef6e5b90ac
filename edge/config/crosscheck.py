"""Checks that span several keys, run on the raw YAML data so they report alongside schema errors."""

from __future__ import annotations

from collections.abc import Iterator

Problem = tuple[tuple, str]


def barrier_types() -> tuple[str, ...]:
    from drivers.barriers import _DRIVERS

    return tuple(_DRIVERS)


def _items(data: dict, key: str) -> list[tuple[int, dict]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def cross_checks(data: object) -> Iterator[Problem]:
    """Yield (loc, message) for every cross-field mistake found in the raw config mapping."""
    if not isinstance(data, dict):
        return
    cameras = _items(data, "cameras")
    barriers = [(i, b) for i, b in _items(data, "barriers") if b.get("type") in barrier_types()]
    yield from _duplicate_ids("cameras", cameras)
    yield from _duplicate_ids("barriers", barriers)

    barrier_lanes = {}
    for _, barrier in barriers:
        lanes = barrier.get("lanes", ["in", "out"])
        if isinstance(barrier.get("id"), str) and isinstance(lanes, list):
            barrier_lanes[barrier["id"]] = lanes

    served: set[tuple[str, str]] = set()
    for index, camera in cameras:
        lane, target = camera.get("lane"), camera.get("barrier")
        if target is not None:
            if target not in barrier_lanes:
                known = ", ".join(barrier_lanes) or "none configured"
                yield (("cameras", index, "barrier"), f"no barrier {target!r}; barriers: {known}")
            elif lane not in barrier_lanes[target]:
                yield (
                    ("cameras", index, "lane"),
                    f"camera watches lane {lane!r} but barrier {target!r} only serves {barrier_lanes[target]}",
                )
            else:
                served.add((target, lane))
        else:
            candidates = [b for b, lanes in barrier_lanes.items() if lane in lanes]
            if len(candidates) > 1:
                yield (
                    ("cameras", index, "lane"),
                    f"barriers {candidates} all serve lane {lane!r}; say which one with 'barrier:'",
                )
            served.update((b, lane) for b in candidates)

    mqtt = data.get("mqtt")
    if isinstance(mqtt, dict):
        tls = mqtt.get("tls")
        if isinstance(tls, dict):
            if tls.get("cert") and not tls.get("key"):
                yield (("mqtt", "tls", "cert"), "tls.cert is set without tls.key; give both or neither")
            if tls.get("key") and not tls.get("cert"):
                yield (("mqtt", "tls", "key"), "tls.key is set without tls.cert; give both or neither")
            if (tls.get("cert") or tls.get("key")) and not tls.get("ca"):
                yield (("mqtt", "tls", "ca"), "a client certificate needs TLS: set tls.ca to the broker's CA file")
        if mqtt.get("password_file") and not mqtt.get("username"):
            yield (("mqtt", "password_file"), "password_file is set without username; set mqtt.username too")
    yield from _one_kind_of_key(data, "mqtt", "command_key_file", "command_public_keys", "command")
    yield from _one_kind_of_key(data, "passes", "secret_file", "public_keys", "pass")


def _one_kind_of_key(data: dict, section: str, secret: str, public: str, what: str) -> Iterator[Problem]:
    """A shared secret (local mode) and the office's public keys (site mode) for the same purpose: one."""
    node = data.get(section)
    if isinstance(node, dict) and node.get(secret) and node.get(public):
        yield (
            (section, public),
            f"{section}.{secret} (a shared secret: a gate without an office) and {section}.{public} (the "
            f"office's {what}.pub: site mode) are both set; keep the one for this gate's mode",
        )


def config_warnings(config) -> Iterator[Problem]:
    """Yield (loc, message) for what a validated config accepts but should change (printed, never fatal)."""
    from edge.keys import is_old_secret

    yield from _lanes_without_camera(config)
    if getattr(config, "site_mode", False):
        for section in ("policy", "parking", "inactivity"):
            if section in config.model_fields_set:
                yield ((section,), f"this gate follows the site (registry.source: site): its own {section} is "
                       "used only until the office's signed site settings arrive; change it in the office's "
                       "site_settings")

    for section, key in (("mqtt", "command_key_file"), ("passes", "secret_file")):
        path = getattr(getattr(config, section, None), key, None)
        if path is not None and is_old_secret(path):
            yield (
                (section, key),
                f"{path} is a key file of an earlier version (raw bytes, not 64 hex characters); it still works, "
                "but replace it: gate-edge keys new --local --dir DIR, then give the new key to everyone who "
                "shares it",
            )


def _lanes_without_camera(config) -> Iterator[Problem]:
    """A barrier lane no camera watches is a valid layout (the exit opened by the guard or the office,
    DESIGN 4.2's example): a warning, so the technician knows, never a refusal."""
    cameras, barriers = getattr(config, "cameras", []), getattr(config, "barriers", [])
    served = set()
    for camera in cameras:
        if camera.barrier:
            served.add((camera.barrier, camera.lane))
        else:
            served.update((b.id, camera.lane) for b in barriers if camera.lane in b.lanes)
    for index, barrier in enumerate(barriers):
        for lane in barrier.lanes:
            if (barrier.id, lane) not in served:
                yield (("barriers", index, "lanes"),
                       f"lane {lane!r} of barrier {barrier.id!r} has no camera: only the guard or the office opens "
                       f"it (gate-edge cmd, the console); add a camera with lane: {lane} if one should")


def _duplicate_ids(section: str, items: list[tuple[int, dict]]) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, item in items:
        ident = item.get("id")
        if not isinstance(ident, str):
            continue
        if ident in first:
            yield ((section, index, "id"), f"duplicate id {ident!r} (already used by {section}.{first[ident]})")
        else:
            first[ident] = index
