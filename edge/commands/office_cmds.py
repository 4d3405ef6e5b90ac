"""``gate-edge office``: the committee office's service, and ``office adopt`` (a single gate joins it)."""

from __future__ import annotations

import logging

from edge.commands import UsageError, emit, load


def _office_config(args):
    config = load(args)
    if not config.is_office:
        raise UsageError(f"{args.config} is a gate's config; the office needs its own file with role: office "
                         "(README, The site)")
    return config


def office(args) -> int:
    from edge.config import log_warnings
    from edge.office import Office

    config = _office_config(args)
    logging.getLogger().setLevel(getattr(logging, config.log_level))
    log_warnings(config)
    service = Office(config)
    try:
        service.start()
        return service.run()
    finally:
        service.close()


def adopt(args) -> int:
    from edge.adopt import adopt_gate
    from edge.config import load_config

    config = _office_config(args)
    gate_config = load_config(args.gate_config)
    if gate_config.is_office:
        raise UsageError(f"{args.gate_config} is an office config, not a gate's")
    emit(adopt_gate(config, gate_config))
    return 0


def register(sub) -> None:
    p = sub.add_parser("office", help="the committee office's service (registry, archive); office adopt GATE")
    p.add_argument("-c", "--config", help="the office's YAML file (role: office)")
    p.set_defaults(func=office)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = actions.add_parser("adopt", help="bring a single-gate site's registry under the office (DESIGN 6.3)")
    a.add_argument("-c", "--config", required=True, help="the office's YAML file (role: office)")
    a.add_argument("gate_config", help="the gate's YAML file (its database: the gate's registry.db)")
    a.set_defaults(func=adopt)
