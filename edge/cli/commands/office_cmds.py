"""``gate-edge office``: the committee office's service, ``office adopt`` (a single gate joins it), and a
gate's ``confirm-replace`` (the admin agrees that the office replaced the registry: the old copy goes)."""

from __future__ import annotations

import logging

from edge.cli.commands import OFFICE_CONFIG, UsageError, command, emit, load


def _office_config(args):
    config = load(args)
    if not config.is_office:
        raise UsageError(f"{args.config} is a gate's config; the office needs its own file with role: office "
                         "(README, The site)")
    return config


def office(args) -> int:
    from edge.config import log_warnings
    from edge.office.service import Office
    from edge.site.registry_identity import RegistryMismatch

    config = _office_config(args)
    if args.replace is not None and not args.replace.strip():
        raise UsageError("--replace needs the registry_id of the head on the broker")
    logging.getLogger().setLevel(getattr(logging, config.log_level))
    log_warnings(config)
    service = Office(config, new_site=args.new_site, replace=args.replace, config_path=args.config)
    try:
        try:
            service.start()
        except RegistryMismatch as exc:  # exit 2: systemd does not restart it (RestartPreventExitStatus=2)
            raise UsageError(str(exc)) from None
        return service.run()
    finally:
        service.close()


def adopt(args) -> int:
    from edge.config import load_config
    from edge.office.adopt import AdoptError, adopt_gate

    config = _office_config(args)
    gate_config = load_config(args.gate_config)
    if gate_config.is_office:
        raise UsageError(f"{args.gate_config} is an office config, not a gate's")
    try:
        emit(adopt_gate(config, gate_config))
    except AdoptError as exc:
        raise UsageError(str(exc)) from None
    return 0


def confirm_replace(args) -> int:
    from edge.store import Store

    config = load(args)
    if config.is_office:
        raise UsageError(f"{args.config} is the office's config: confirm-replace runs at each gate, with its config")
    with Store(config.database) as store, store.transaction():
        dropped = store.records.drop_aside()
    emit({"dropped": dropped, "detail": "the replaced registry's copy is deleted" if dropped
          else "no replaced registry's copy was kept aside"})
    return 0


def register(sub) -> None:
    p = sub.add_parser("office", help="the committee office's service (registry, archive); office adopt GATE")
    p.add_argument("-c", "--config", help=OFFICE_CONFIG)
    p.add_argument("--new-site", action="store_true",
                   help="create a new registry on an empty database (refused while the broker holds one with people, "
                        "unless --replace names it)")
    p.add_argument("--replace", metavar="REGISTRY_ID",
                   help="this database's registry replaces the one on the broker, which must have this registry_id; "
                        "gates keep their old copy aside until gate-edge confirm-replace")
    p.set_defaults(func=office)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    a = command(actions, "adopt", adopt, "bring a single-gate site's registry under the office (DESIGN 6.3)",
                config_help=OFFICE_CONFIG)
    a.add_argument("gate_config", help="the gate's YAML file (its database: the gate's registry.db)")
    command(sub, "confirm-replace", confirm_replace, "at a gate: delete the copy of a registry the office replaced "
            "(--new-site --replace), kept aside until now", config_help="the gate's YAML file")
