"""``gate-edge office adopt``: a single-gate site's registry joins the office's (DESIGN 6.3).

The office takes the gate's people (with names, phones, face templates and, when the office keeps them,
photos), vehicles and the state of its passes into the site registry under new office ids, each person
record naming where it came from (``adopted_from``: the gate and its old id). The gate, switched to
``registry.source: site``, keeps serving from its old local registry until its first full sync; then,
in one transaction, it moves what it keeps under old ids (last-seen times, open alerts) to the office's
ids and replaces its registry with the replica (``Replica``), so nobody inherits anyone else's state and
nobody has to enrol again. Names, phones and photos leave the gate then.

Passes issued by the gate were signed with its shared secret, which site-mode gates no longer accept:
they are listed to be re-issued at the office.

Run it where both databases can be read (the gate's ``registry.db`` copied next to the office, and a copy
of the gate's YAML pointing at it), before the gate is switched to site mode.
"""

from __future__ import annotations

import json
import time

ADOPTED_KEY = "adopted:person:{}"


class AdoptError(Exception):
    """Why a gate's registry cannot be adopted as asked; nothing was changed (the command line exits 2)."""


def adopt_gate(office_config, gate_config) -> dict:
    from edge.office.service import open_office_store
    from edge.store import Store

    if gate_config.site_mode:
        raise AdoptError(f"gate {gate_config.gate} already follows a site registry (registry.source: site); "
                         "adopt reads a local gate's registry before it is switched")
    if gate_config.site != office_config.site:
        raise AdoptError(f"gate {gate_config.gate} belongs to site {gate_config.site!r}, the office to "
                         f"{office_config.site!r}")
    if not gate_config.database.exists():
        raise AdoptError(f"{gate_config.database}: no such database; copy the gate's registry.db here and point "
                         "the gate config's database: at it")
    from models.faces import templates_of

    encoder = templates_of(office_config.site_settings.face_encoder)  # the templates its gates match
    keep_photos = office_config.enrolment.keep_photos
    now = time.time()
    with Store(gate_config.database) as gate, open_office_store(office_config)[0] as office:
        done = office.kv_get(f"adopted_gate:{gate_config.gate}")
        if done:
            raise AdoptError(f"gate {gate_config.gate}'s registry was adopted already ({done})")
        ids, must_reenrol = {}, []
        with office.transaction():
            for person in gate.people.all():
                new = office.people.add(person["name"], person["unit"], person["phone"],
                                        bool(person["care_watch"]), face_consent=person["face_consent_at"] is not None)
                office.kv_set(ADOPTED_KEY.format(new), json.dumps({"gate": gate_config.gate,
                                                                   "person_id": person["id"]}))
                templates = gate.templates.of_person(person["id"])
                by_encoder: dict[str, list] = {}
                for name, vector in templates:
                    by_encoder.setdefault(name, []).append(vector)
                photos = gate.templates.photos(person["id"]) if keep_photos else []
                for name, vectors in by_encoder.items():
                    office.templates.add(new, name, vectors, photos if name == encoder else ())
                if encoder not in by_encoder:
                    must_reenrol.append({"person_id": new, "unit": person["unit"]})
                office.registry_changed("person", new)  # the record names where it came from
                ids[person["id"]] = new
            vehicles = gate.vehicles.all()
            taken = [v["plate"] for v in vehicles if office.vehicles.get(v["plate"]) is not None]
            if taken:  # the office's record of a plate is never overwritten silently
                raise AdoptError(f"the office already registers {len(taken)} of the gate's plates "
                                 f"({', '.join(taken[:10])}); remove them at the office or at the gate first; "
                                 "nothing was adopted")
            for vehicle in vehicles:
                office.vehicles.upsert(vehicle["plate"], vehicle["class"], ids.get(vehicle["person_id"]),
                                       valid_from=vehicle["valid_from"], valid_until=vehicle["valid_until"])
            office.kv_set(f"adopted_gate:{gate_config.gate}", f"{len(ids)} people, {len(vehicles)} vehicles")
        reissue = [p["pass_id"] for p in gate.passes.all()
                   if p["revoked_epoch"] is None and p["valid_until_epoch"] > now]
    return {"gate": gate_config.gate, "people": len(ids), "person_ids": {str(k): v for k, v in ids.items()},
            "vehicles": len(vehicles), "must_reenrol": must_reenrol, "passes_to_reissue": reissue,
            "next": f"switch {gate_config.gate} to registry.source: site (README, The site) and restart it"}
