"""What the system says, marked for translation: a gate's reasons and alert details as stable codes, and messages.

A gate's sentences are stable codes: the reason of every decision and the detail of every device alert.

The one owner of these sentences. ``PHRASES`` maps each code to its English template; a ``Phrase`` is a
code with its parameters, and its English (``text``) is made from the template, so the text a payload
carries is always the code's. Payloads carry both (added fields of contract version 1)::

    "reason": "registered resident of 12-301", "reason_code": "resident_registered",
    "reason_params": {"unit": "12-301"}
    "detail": "not answering", "detail_code": "barrier_not_answering", "detail_params": {}

so a console says the sentence in its own language from the code and parameters, and a payload without
a code (from an older gate) is shown as its text.

A parameter is a string, a number (a template may give its format: ``{due_yuan:.2f}``), a boolean, or
another phrase (``why``: the camera's reason for being down, the pass check's refusal), on the wire
``{"code", "params"}``. A template may be followed by notes: each note is said when its parameter is
given (``fuzzy_match``: " (fuzzy match: 沪A12345)"), so a reason keeps its own code whatever is noted.

Every template is marked with ``N_`` for the console's catalog (``babel.cfg``; the Chinese is in
``edge/office/console/locale/zh/LC_MESSAGES/messages.po``). A template never changes once released
(translations are keyed by it, and receivers may compare texts): a new sentence is a new code.

What is said where it is written and never travels as a code (an error the console answers, and the
errors it carries from other modules: a plate's, a day's, a photo's, the broker's) is a ``Message``:
``tell(template, **params)``, its template the catalog's msgid (``tell`` and ``ptell`` are extraction
keywords). Both are ``Said``: ``text`` in English, ``render(translate)`` in a catalog's language; words
listed in a message are a ``Listing`` (``resident, family`` / ``guard or admin``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple


def N_(message: str) -> str:
    """Marks an English template for the catalogs (``pybabel extract -k N_``) and returns it unchanged."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """Marks a message with its context for the catalogs (``pybabel extract -k NP_:1c,2``)."""
    return context, message


class Note(NamedTuple):
    """Said after a phrase's template when the parameter ``param`` is given (not None, not False)."""

    param: str
    template: str


class Entry(NamedTuple):
    template: str
    notes: tuple[Note, ...] = ()


FUZZY = Note("fuzzy_match", N_(" (fuzzy match: {fuzzy_match})"))  # the registered plate a read matched
STRICT = Note("strict_mode", N_(" (strict mode)"))

PHRASES: dict[str, Entry] = {
    # -- decisions at the pedestrian gate (edge.rules.policy) -------------------------------------
    "unknown_face": Entry(N_("unknown face"), (STRICT,)),
    "pass_person_unregistered": Entry(N_("pass for an unregistered person"), (STRICT,)),
    "resident_registered": Entry(N_("registered resident of {unit}")),
    "pass_refused": Entry(N_("QR pass refused: {why}")),  # why: a pass check's phrase (below)
    "visitor_of_unit": Entry(N_("visitor of {unit} (visitor pass)")),
    "visitor_pass_on_foot": Entry(N_("a visitor pass of {unit} is for the pedestrian gate; a car is invited by "
                                     "its plate")),
    # -- a pass as checked (edge.registry.passes) ------------------------------------------------
    "pass_valid": Entry(N_("valid")),
    "pass_not_ours": Entry(N_("not a gate-edge pass")),
    "pass_no_key": Entry(N_("cannot verify: no pass key configured")),
    "pass_shared_key_at_site": Entry(N_("signed with a shared key; this site uses the office's pass key")),
    "pass_site_key_at_local_gate": Entry(N_(
        "signed with the office's pass key; this gate has only a shared key (passes.secret_file), not the "
        "office's public key (passes.public_keys)")),
    "pass_unknown_key": Entry(N_("signed with unknown key {kid}")),
    "pass_forged": Entry(N_("forged: signature does not verify")),
    "pass_expired": Entry(N_("expired")),
    "pass_not_yet_valid": Entry(N_("not valid yet (issued in the future: check the clock)")),
    "pass_not_begun": Entry(N_("not valid yet: the visit it was issued for has not begun")),
    "pass_unknown": Entry(N_("unknown pass (not issued by this site's registry)")),
    "pass_revoked": Entry(N_("revoked")),
    "pass_person_gone": Entry(N_("its person is no longer registered")),
    "pass_unit_gone": Entry(N_("nobody is registered in its unit any more")),
    # -- decisions at the car barrier (edge.rules.policy) ----------------------------------------
    "vehicle_blocked": Entry(N_("blocked vehicle"), (FUZZY,)),
    "vehicle_unregistered_strict": Entry(N_("strict mode: unregistered vehicle")),
    "lot_full": Entry(N_("lot full ({occupied}/{capacity})")),
    "resident_permit_valid": Entry(N_("resident permit valid"), (FUZZY,)),
    "family_vehicle": Entry(N_("family vehicle"), (FUZZY,)),
    "visitor": Entry(N_("visitor"), (FUZZY,)),
    "visitor_pass": Entry(N_("visitor pass"), (FUZZY,)),
    "vehicle_unregistered_visitor": Entry(N_("unregistered vehicle: visitor"), (FUZZY,)),
    "permit_expired_visitor": Entry(N_("permit expired: visitor rules"), (FUZZY,)),
    "exit_without_entry": Entry(N_("no recorded entry: let out, flagged")),
    "exit_without_entry_held": Entry(N_("no recorded entry: held for the guard")),
    "exit_look_alikes": Entry(N_("no recorded entry; {count} cars in the lot look like this reading: held for "
                                 "the guard")),
    "fee_due": Entry(N_("fee due: {due_yuan:.2f} yuan for {minutes:.0f} min")),
    "no_fee_due": Entry(N_("no fee due")),
    # -- parking sessions and the office's commands (edge.gate.controller) -----------------------
    "session_superseded": Entry(N_("superseded: the car entered again with no exit read")),
    "exit_reconciled": Entry(N_("the exit read {read_plate}: this session's car, entered as {plate}")),
    "session_corrected": Entry(N_("corrected by the office: the car is {plate}"), (
        Note("was", N_(" (was {was})")),
        Note("read_plate", N_("; the exit read {read_plate}")))),
    "correction_car_in_lot": Entry(N_("not corrected: {plate} is in the lot already (session {other_session}, "
                                      "entered at gate {entry_gate} at {entry_time}): check both readings, and "
                                      "correct that session first if its reading is wrong"), (
        Note("now_plate", N_("; that session's plate is now {now_plate}")),)),
    "opened_by_office": Entry(N_("opened by the office")),
    "payment_recorded": Entry(N_("paid {paid_yuan:.2f} yuan; {due_yuan:.2f} yuan still due"), (
        Note("waits_at", N_("; the car waits at {waits_at}")),
        Note("paid_in_advance", N_("; paid in advance: the exit opens when the car is read there")))),
    "payment_opened": Entry(N_("paid {paid_yuan:.2f} yuan")),
    # -- device alerts: cameras (edge.gate.jobs; why: drivers.camera) ----------------------------
    "camera_down": Entry(N_("no frame for {seconds:.0f} s ({why})")),
    "camera_cannot_open": Entry(N_("cannot open {source}")),
    "camera_cannot_reopen": Entry(N_("cannot reopen {source}")),
    "camera_frozen": Entry(N_("frozen: no frame for {seconds:.1f} s from {source}")),
    "camera_read_timeout": Entry(N_("no frame within {seconds:.1f} s from {source} (read timed out)")),
    "camera_no_frame": Entry(N_("no frame from {source}")),
    "camera_cannot_read_image": Entry(N_("cannot read image {path}")),
    "camera_image_gone": Entry(N_("image {path} disappeared")),
    "camera_error": Entry(N_("error: {error}")),  # a capture that failed unexpectedly, in its own words
    "worker_restarted": Entry(N_("analysis thread died and was restarted")),
    # -- barriers, the broker, the outbox, parking (edge.gate.jobs, edge.gate.daemon) -------------
    "barrier_not_answering": Entry(N_("not answering")),
    "barrier_fault": Entry(N_("{error}")),  # the driver's own words
    "broker_not_connected": Entry(N_("not connected")),
    "broker_error": Entry(N_("{error}")),  # the MQTT link's own words
    "broker_refused_message": Entry(N_("broker refused a message ({where}): {error}")),
    "outbox_row": Entry(N_("outbox row {seq}")),
    "kept_in_memory": Entry(N_("kept in memory")),
    "outbox_waiting": Entry(N_("{depth} messages waiting for the broker")),
    "parking_session_stale": Entry(N_("session {session} open for {days:.1f} days: check the lot")),
    "mqtt_session_taken": Entry(N_("{error}")),  # the MQTT link's own words
    "gate_session_back": Entry(N_("the gate keeps its connection again")),
    "office_session_back": Entry(N_("the office keeps its connection again")),
    # -- disk room and storage (edge.gate.jobs, edge.durable, edge.gate.waiting, edge.office) -----
    "disk_room": Entry(N_("{free_mb:.1f} MB free on {folder} (alert below {floor_mb} MB, retention.min_free_mb); "
                          "{reusable_mb:.1f} MB reusable inside the database"), (
        Note("deleted_events", N_("; deleted the {deleted_events} oldest sent events and {deleted_snapshots} "
                                  "snapshots to make room")),)),
    "storage_cannot_write": Entry(N_("cannot write {database}: {error}; events are kept in memory (up to "
                                     "{max_items}) and published directly; residents are still let in")),
    "storage_cannot_read": Entry(N_("cannot read or write {database}: {error}; events are kept in memory (up to "
                                    "{max_items}) and published directly; residents are still let in")),
    "storage_cannot_open": Entry(N_("cannot open {database}: {error}; nobody can be recognised or recorded; "
                                    "retrying with back-off up to {backoff_s:.0f} s")),
    "storage_stored_from_memory": Entry(N_("{written} messages kept in memory were stored")),
    "storage_writing_again": Entry(N_("writing again after {seconds:.0f} s; {written} messages kept in memory "
                                      "were stored"), (
        Note("dropped", N_("; {dropped} published events could not be kept here (seq {dropped_seqs}): the office "
                           "and the other gates have them")),)),
    "archive_cannot_write": Entry(N_(
        "cannot write {database}: {error}; the archive misses nothing: the broker keeps what the gates send until "
        "it can be stored; make room (or repair the disk): the office recovers without a restart")),
    "archive_cannot_read": Entry(N_(
        "cannot read or write {database}: {error}; the archive misses nothing: the broker keeps what the gates "
        "send until it can be stored; make room (or repair the disk): the office recovers without a restart")),
    # -- the clock (edge.gate.clockwatch) --------------------------------------------------------
    "clock_jumped": Entry(N_("the wall clock jumped {jump_s:+.0f} s; care-watch alerts wait until the office's "
                             "clock or the time server confirms the time")),
    "clock_offset": Entry(N_("this gate's clock is {offset_s:+.0f} s from the {source}'s (more than "
                             "clock.max_offset_s {max_offset_s:g})")),
    # -- faces, the registry, identity, the site (edge.gate.daemon, edge.site) -------------------
    "faces_must_reenrol": Entry(N_("{count} people enrolled with another encoder must be re-enrolled with a photo "
                                   "for '{encoder}' (`gate-edge person enroll`): {who}")),
    "faces_encoder_mismatch": Entry(N_("the site's face templates are made with '{site_encoder}' but this gate runs "
                                       "'{encoder}': set recognition.face.encoder: {site_encoder}")),
    "registry_in_sync": Entry(N_("in sync with the office")),
    "registry_never_synced": Entry(N_("never synced: this gate recognises nobody until the office's registry "
                                      "arrives (check the broker connection and the ACL)")),
    "registry_record_refused": Entry(N_("refused a registry record ({where}): {error}")),
    "registry_foreign_head": Entry(N_(
        "refused a registry head of registry {theirs} (epoch {epoch}, {people} people): this gate follows registry "
        "{mine}, and the head does not say it replaces it; this copy is kept (check the office's database:)")),
    "registry_other_office": Entry(N_("the broker holds a head of registry {theirs}; this office publishes {mine}")),
    "registry_replaced": Entry(N_("the office replaced the registry; the old copy {kept} is kept aside until an "
                                  "admin confirms: gate-edge confirm-replace -c CONFIG")),
    "registry_replaced_dropped": Entry(N_("the replaced registry's copy was dropped")),
    "identity_problem": Entry(N_("{error}")),  # edge.site.identity's own words
    "identity_ok": Entry(N_("the identity key is the one the office lists")),
    "site_own_registry": Entry(N_(
        "gate {gate} publishes on this site, but this gate keeps its own registry: care-watch residents who pass "
        "there are not seen here; set up the office's site registry (README, The site)")),
    "peer_events_refused": Entry(N_("{refused} peer events refused since {since} ({per_gate}); kept aside, not "
                                    "applied"), (
        Note("only_counted", N_("; {only_counted} of them only counted (more than {per_minute} a minute from one "
                                "gate)")),
        Note("last_reason", N_("; the last: gate {last_gate}: {last_reason}")))),
    # -- gates as the office hears them (edge.office) --------------------------------------------
    "gate_never_heard": Entry(N_("gate {gate} never heard from")),
    "gate_silent": Entry(N_("gate {gate} silent for {seconds:.0f} s")),
    "gate_offline": Entry(N_("gate {gate} offline (its last will)")),
    "gate_back": Entry(N_("gate {gate} is back")),
    # -- a notification channel that keeps failing (edge.office.notify.delivery) -------------------
    "notify_failing": Entry(N_("channel {channel}: {failures} tries in a row failed, the last: {error}")),
    "notify_back": Entry(N_("channel {channel} delivers again")),
    # -- the residents' portal's login codes (edge.office.portal.codes) ----------------------------
    "portal_codes_cap": Entry(N_("{count} login codes asked for within an hour, the site's limit of {limit} "
                                 "(portal.codes_per_hour): no more are sent until the hour passes")),
    "portal_codes_back": Entry(N_("login codes are sent again")),
    # -- any device alert cleared without a word of its own (edge.alerts) -------------------------
    "recovered": Entry(N_("recovered")),
}

Translate = Callable[[str, "str | None"], "str | None"]  # (English template, context) -> translation or None


def _english(template: str, context: str | None = None) -> str:
    return template


class Said:
    """Something said from an English template and its parameters: ``text`` is its English, ``render`` says
    it with a catalog's translations. A parameter may itself be said: a ``Phrase`` (a gate's reason within a
    reason: in the translation when it has one, else in English), a ``Message`` or a ``Listing`` of them
    (an error's part: translated too, or the whole is not)."""

    __slots__ = ("params",)
    context: str | None = None

    def entry(self) -> Entry:
        raise NotImplementedError

    @property
    def text(self) -> str:
        """The English sentence."""
        return self.render(_english)

    def render(self, translate: Translate) -> str | None:
        """The sentence with each template as ``translate`` gives it; None when its template or a note it
        says has no translation (never half translated)."""
        entry = self.entry()
        values = {k: _said(v, translate) for k, v in self.params.items()}
        if any(v is None for v in values.values()):
            return None  # a message within that cannot be said: never half translated
        parts = [entry.template, *(n.template for n in entry.notes if _given(self.params.get(n.param)))]
        said = []
        for template in parts:
            translated = translate(template, self.context)
            if translated is None:
                return None
            try:
                said.append(translated.format(**values))
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                return None  # a translation naming a parameter this one lacks, or a bad format
        return "".join(said)

    def __str__(self) -> str:
        return self.text

    __hash__ = None


class Phrase(Said):
    """A code of ``PHRASES`` with its parameters, as payloads carry it (``wire``). Made by ``say``."""

    __slots__ = ("code",)

    def __init__(self, code: str, params: Mapping[str, object]):
        if code not in PHRASES:
            raise KeyError(f"no phrase {code!r} in edge.schemas.phrases.PHRASES")
        self.code = code
        self.params = {k: v for k, v in params.items() if v is not None}

    def entry(self) -> Entry:
        return PHRASES[self.code]

    def wire(self) -> dict:
        """``{"code", "params"}`` as JSON carries it (a phrase parameter nested the same way)."""
        return {"code": self.code, "params": {k: v.wire() if isinstance(v, Phrase) else v
                                              for k, v in self.params.items()}}

    def fields(self, name: str) -> dict:
        """The payload fields ``name``, ``name_code`` and ``name_params`` (``reason``, ``detail``)."""
        wire = self.wire()
        return {name: self.text, f"{name}_code": wire["code"], f"{name}_params": wire["params"]}

    def __repr__(self) -> str:
        return f"say({self.code!r}, **{self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Phrase) and (self.code, self.params) == (other.code, other.params)


class Message(Said):
    """A message said where it is written (an error the console answers, and the errors of the modules it
    carries: a plate's, a date's, a photo's, the broker's): its English template is the catalog's msgid
    (``tell``, an extraction keyword), with an optional context (``NP_``'s) for a word said two ways."""

    __slots__ = ("template", "context")

    def __init__(self, template: str, params: Mapping[str, object], context: str | None = None):
        self.template = template
        self.context = context
        self.params = {k: v for k, v in params.items() if v is not None}

    def entry(self) -> Entry:
        return Entry(self.template)

    def __repr__(self) -> str:
        return f"tell({self.template!r}, **{self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Message) and (self.template, self.context, self.params) == (
            other.template, other.context, other.params)


JOINERS = {"and": NP_("listing", ", "), "or": NP_("listing", " or "), "then": NP_("listing", "; ")}


class Listing:
    """Words listed in a message (``resident, family, visitor`` / ``guard or admin``): each said, then joined
    by ``JOINERS[how]``, which a language says its own way."""

    __slots__ = ("items", "how")

    def __init__(self, items, how: str = "and"):
        self.items, self.how = list(items), how

    def render(self, translate: Translate) -> str:
        context, joiner = JOINERS[self.how]
        said = translate(joiner, context)
        items = [_said(item, translate) for item in self.items]
        if any(item is None for item in items):
            return None
        return (joiner if said is None else said).join(str(item) for item in items)

    @property
    def text(self) -> str:
        return self.render(_english)

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other) -> bool:
        return isinstance(other, Listing) and (self.items, self.how) == (other.items, other.how)

    __hash__ = None


def _said(value, translate: Translate):
    """A parameter as ``translate`` says it; None when it is a message (or a listing of them) it cannot say."""
    if isinstance(value, Phrase):
        return value.render(translate) or value.text
    if isinstance(value, (Message, Listing)):
        return value.render(translate)
    return value


def tell(template: str, /, **params) -> Message:
    """The message ``template`` (English, marked: ``tell`` is a keyword of ``pybabel extract``) with
    ``params``."""
    return Message(template, params)


def ptell(context: str, template: str, /, **params) -> Message:
    """``tell`` with a context (``ptell`` is a keyword too: ``-k ptell:1c,2``)."""
    return Message(template, params, context)


def _given(value) -> bool:
    return value is not None and value is not False  # 0 is given (a count), False is not (a flag not set)


def say(code: str, **params) -> Phrase:
    """The phrase ``code`` with ``params`` (None values are left out: a note not given is not said)."""
    return Phrase(code, params)


def fields(name: str, said: Phrase | str | None) -> dict:
    """A payload's ``name`` fields for ``said``: text, code and parameters for a phrase; the text alone
    for a plain string (what another gate wrote, replayed as it came)."""
    if isinstance(said, Phrase):
        return said.fields(name)
    return {name: said}


_SCALARS = (str, int, float, bool)


def from_wire(code, params) -> Phrase | None:
    """The phrase a payload names (its ``…_code`` and ``…_params``), or None when it names none, one this
    version does not know (a newer gate's), or parameters that cannot say it: the payload's text is shown."""
    if not isinstance(code, str) or code not in PHRASES or not isinstance(params, dict):
        return None
    values = {}
    for key, value in params.items():
        if isinstance(value, dict):
            value = from_wire(value.get("code"), value.get("params"))
            if value is None:
                return None
        elif value is not None and not isinstance(value, _SCALARS):
            return None
        values[key] = value
    phrase = Phrase(code, values)
    return phrase if phrase.render(_english) is not None else None
