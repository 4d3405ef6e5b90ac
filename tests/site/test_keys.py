"""Keys and trust (DESIGN 6.1): Ed25519 signatures with key ids and rotation, shared secrets read
byte-exact, ``gate-edge keys new``, the config keys that hold them, and Ed25519 QR passes."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest
import yaml

from edge import keys
from edge.keys import (
    KeyFileError,
    canonical_json,
    kid_of,
    load_signer,
    load_verifier,
    read_secret,
    sign_record,
    verify_record,
    write_gate_key,
    write_local_secrets,
    write_site_keys,
)

T0 = 1_790_000_000


# -- canonical JSON, kids, signatures ----------------------------------------------------------------------
def test_canonical_json_is_compact_sorted_utf8_unescaped():
    assert canonical_json({"unit": "12-301", "name": "王秀英", "a": [1, {"z": None, "b": True}]}) == (
        '{"a":[1,{"b":true,"z":null}],"name":"王秀英","unit":"12-301"}'.encode())


def test_the_kid_is_a_short_hash_of_the_raw_public_key(site_keys):
    signer = load_signer(site_keys / "registry.key")
    raw = (site_keys / "registry.pub").read_bytes()
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(raw)
    expected = hashlib.sha256(public.public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)).hexdigest()[:16]
    assert signer.kid == kid_of(public) == expected and len(expected) == 16
    assert load_verifier(site_keys / "registry.pub").kids == {expected}
    assert signer.path == site_keys / "registry.key"


def test_a_signed_record_round_trips_and_names_its_key(site_keys):
    signer, verifier = load_signer(site_keys / "registry.key"), load_verifier([site_keys / "registry.pub"])
    record = {"person_id": 7, "unit": "12-301", "care_watch": True, "epoch": 1, "version": 12}
    signed = sign_record(signer, record)
    assert signed == {**record, "kid": signer.kid, "sig": signed["sig"]} and len(signed["sig"]) == 128
    assert verify_record(verifier, signed) is None
    # The signature is over the canonical JSON with kid, without sig: anyone can check it by hand.
    message = canonical_json({**record, "kid": signer.kid})
    assert verifier.verify(signer.kid, message, signed["sig"])
    # Key order and JSON spelling on the wire do not matter: the receiver re-canonicalises.
    assert verify_record(verifier, json.loads(json.dumps(dict(reversed(list(signed.items())))))) is None


def test_forged_tampered_and_unsigned_records_are_refused_with_the_reason(site_keys):
    signer, verifier = load_signer(site_keys / "registry.key"), load_verifier(site_keys / "registry.pub")
    signed = sign_record(signer, {"plate": "沪A12345", "class": "resident", "version": 3})
    assert verify_record(verifier, {**signed, "class": "blocked"}) == "signature does not verify"
    assert verify_record(verifier, {**signed, "sig": "00" * 64}) == "signature does not verify"
    assert verify_record(verifier, {**signed, "sig": "not hex"}) == "signature does not verify"
    assert verify_record(verifier, {k: v for k, v in signed.items() if k != "sig"}) == "no signature"
    assert verify_record(verifier, {"plate": "沪A12345"}) == "no signature"
    assert verify_record(verifier, {**signed, "kid": "0123456789abcdef"}) == (
        "signed with unknown key 0123456789abcdef")
    # Verifier.verify never raises, whatever it is given.
    for kid, sig in ((signer.kid, None), (signer.kid, "zz" * 64), (None, signed["sig"]), (5, 5)):
        assert verifier.verify(kid, b"x", sig) is False


def test_a_gate_key_cannot_sign_for_the_office(site_keys):
    """A stolen gate box holds east.key: what it signs is refused by every receiver of registry.pub."""
    east = load_signer(site_keys / "east.key")
    office_verifier = load_verifier(site_keys / "registry.pub")
    forged = sign_record(east, {"person_id": 1, "unit": "1-101", "version": 99})
    assert verify_record(office_verifier, forged) == f"signed with unknown key {east.kid}"
    # Claiming the office's kid does not help either.
    office_kid = load_signer(site_keys / "registry.key").kid
    relabelled = {**forged, "kid": office_kid}
    assert verify_record(office_verifier, relabelled) == "signature does not verify"
    assert verify_record(load_verifier(site_keys / "east.pub"), forged) is None  # it is east's own signature


def test_rotation_add_the_new_key_sign_with_it_then_remove_the_old(tmp_path):
    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    write_site_keys(old_dir)
    write_site_keys(new_dir)
    old, new = load_signer(old_dir / "registry.key"), load_signer(new_dir / "registry.key")
    before = sign_record(old, {"person_id": 1, "version": 1})
    # 1. every receiver lists both public keys: old and new signatures are accepted.
    both = load_verifier([old_dir / "registry.pub", new_dir / "registry.pub"])
    assert both.kids == {old.kid, new.kid}
    after = sign_record(new, {"person_id": 1, "version": 2})
    assert verify_record(both, before) is None and verify_record(both, after) is None
    # 2. the old public key is removed: what the old key signs is refused from then on.
    only_new = load_verifier([new_dir / "registry.pub"])
    assert verify_record(only_new, after) is None
    assert verify_record(only_new, before) == f"signed with unknown key {old.kid}"


def test_key_files_that_are_not_keys_are_refused_naming_the_file_and_never_the_key(site_keys, tmp_path):
    with pytest.raises(KeyFileError, match=r"pass\.key: not an Ed25519 public key in PEM \(this is a private key"):
        load_verifier([site_keys / "pass.key"])
    with pytest.raises(KeyFileError, match=r"pass\.pub: not an Ed25519 private key"):
        load_signer(site_keys / "pass.pub")
    with pytest.raises(KeyFileError, match=r"nothing\.pub: no such public key file"):
        load_verifier(tmp_path / "nothing.pub")
    secret = tmp_path / "short.key"
    secret.write_bytes(b"s3cr3t-s3cr3t")
    with pytest.raises(KeyFileError) as short:
        read_secret(secret)
    assert str(secret) in str(short.value) and "keys new --local" in str(short.value)
    assert "s3cr3t" not in str(short.value)
    assert isinstance(short.value, ValueError)
    assert "PRIVATE" not in repr(load_signer(site_keys / "pass.key"))


# -- shared secrets, byte-exact ----------------------------------------------------------------------------
def test_a_key_ending_in_a_whitespace_byte_now_verifies_with_its_exact_bytes(tmp_path):
    """About 1 random key in 22 ends in a whitespace byte; main's ``.strip()`` cut it and signed with
    another key than the office's. read_secret keeps every byte."""
    from edge.registry.passes import check_pass, issue_token
    from edge.site.remote import parse_command, sign

    exact = bytes(range(0x40, 0x5F)) + b"\x0b"  # 32 random-looking bytes, the last a vertical tab
    path = tmp_path / "command.key"
    path.write_bytes(exact)
    assert read_secret(path) == exact
    body = sign(exact, "open", {"request_id": "r-1", "ts": T0, "v": 1}, site="tianlin12", gate="east")
    raw = json.dumps(body).encode()
    assert parse_command("open", raw, read_secret(path), 120, lambda _: False, now=T0,
                         site="tianlin12", gate="east").request_id == "r-1"
    # What main did: strip() -> 31 bytes -> a different HMAC key -> the office's command is refused.
    stripped = path.read_bytes().strip()
    assert stripped != exact
    from edge.site.remote import CommandRefused

    with pytest.raises(CommandRefused, match="bad signature"):
        parse_command("open", raw, stripped, 120, lambda _: False, now=T0, site="tianlin12", gate="east")
    token, _ = issue_token(exact, person_id=1, valid_hours=1, now=T0)
    assert check_pass(token, read_secret(path), None, now=T0).valid
    assert check_pass(token, stripped, None, now=T0).reason == "forged: signature does not verify"


def test_a_text_key_loses_only_its_one_final_newline(tmp_path):
    path = tmp_path / "k"
    path.write_bytes(b"a" * 64 + b"\n")
    assert read_secret(path) == b"a" * 64
    path.write_bytes(b"a" * 64 + b"\n\n")
    assert read_secret(path) == b"a" * 64 + b"\n"  # byte-exact but for one newline
    path.write_bytes(b" padded key, spaces are key bytes ")
    assert read_secret(path) == b" padded key, spaces are key bytes "
    binary = bytes(range(200, 231)) + b"\n"  # random bytes that end in 0x0a: not a text file, kept whole
    path.write_bytes(binary)
    assert read_secret(path) == binary


def test_local_secrets_are_64_hex_characters_and_that_text_is_the_key(tmp_path):
    written = write_local_secrets(tmp_path / "k")
    assert [p.name for p in written] == ["pass.key", "command.key"]
    for path in written:
        data = path.read_bytes()
        assert len(data) == 65 and data.endswith(b"\n") and int(data[:64], 16) >= 0
        assert read_secret(path) == data[:64]  # the hex text itself, not the bytes it spells
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert not keys.is_old_secret(path)
    with pytest.raises(FileExistsError, match="refusing to overwrite"):
        write_local_secrets(tmp_path / "k")


def test_site_and_gate_pairs_are_pem_private_files_600_and_never_overwritten(tmp_path):
    written = write_site_keys(tmp_path)
    assert sorted(p.name for p in written) == sorted(
        ["registry.key", "registry.pub", "command.key", "command.pub", "pass.key", "pass.pub"])
    for path in written:
        text = path.read_text()
        if path.suffix == ".key":
            assert text.startswith("-----BEGIN PRIVATE KEY-----") and stat.S_IMODE(path.stat().st_mode) == 0o600
        else:
            assert text.startswith("-----BEGIN PUBLIC KEY-----")
    before = (tmp_path / "pass.key").read_bytes()
    with pytest.raises(FileExistsError):
        write_site_keys(tmp_path)
    assert (tmp_path / "pass.key").read_bytes() == before
    for bad in ("office", "registry", "alert", "east/../west", "-x", ""):
        with pytest.raises(ValueError):
            write_gate_key(tmp_path, bad)


# -- gate-edge keys new --------------------------------------------------------------------------------------
def test_keys_new_writes_site_pairs_a_gate_pair_and_local_secrets(tmp_path, capsys):
    from edge.cli.main import main

    assert main(["keys", "new", "--dir", str(tmp_path / "site")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "site" and len(out["files"]) == 6
    by_name = {f["file"].rsplit("/", 1)[-1]: f for f in out["files"]}
    assert by_name["pass.key"]["kid"] == by_name["pass.pub"]["kid"] == load_signer(tmp_path / "site" / "pass.key").kid
    assert by_name["command.pub"]["kid"] != by_name["pass.pub"]["kid"]

    assert main(["keys", "new", "--dir", str(tmp_path / "site"), "--gate", "east"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "gate" and out["gate"] == "east"
    assert [f["file"].rsplit("/", 1)[-1] for f in out["files"]] == ["east.key", "east.pub"]
    assert out["files"][0]["kid"] == out["files"][1]["kid"] == load_signer(tmp_path / "site" / "east.key").kid

    assert main(["keys", "new", "--dir", str(tmp_path / "local"), "--local"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "local" and [f["file"].rsplit("/", 1)[-1] for f in out["files"]] == ["pass.key",
                                                                                              "command.key"]
    assert all("kid" not in f for f in out["files"])
    assert "BEGIN" not in json.dumps(out)
    assert (tmp_path / "local" / "pass.key").read_text()[:64] not in json.dumps(out)  # never the key itself


@pytest.mark.parametrize("argv, code, message", [
    (["--gate", "office"], 2, "'office' is a reserved name"),
    (["--gate", "registry"], 2, "'registry' is a reserved name"),
    (["--gate", "alert"], 2, "'alert' is a reserved name"),
    (["--gate", "east gate"], 2, "'east gate' is not a gate name"),
    (["--gate", "../west"], 2, "is not a gate name"),
])
def test_keys_new_refuses_reserved_and_invalid_gate_names(tmp_path, capsys, argv, code, message):
    from edge.cli.main import main

    assert main(["keys", "new", "--dir", str(tmp_path), *argv]) == code
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_keys_new_refuses_to_overwrite(tmp_path, capsys):
    from edge.cli.main import main

    assert main(["keys", "new", "--dir", str(tmp_path)]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["keys", "new", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "already exist" in err and "refusing to overwrite" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "command.key").write_text("x")
    assert main(["keys", "new", "--dir", str(tmp_path / "local"), "--local"]) == 1
    assert not (tmp_path / "local" / "pass.key").exists()  # nothing half-written
    with pytest.raises(SystemExit) as usage:
        main(["keys", "new", "--dir", str(tmp_path), "--local", "--gate", "east"])
    assert usage.value.code == 2


# -- config: command_public_keys, passes.public_keys, warnings ------------------------------------------------
def gate_yaml(tmp_path, **sections) -> str:
    data = {"site": "tianlin12", "gate": "east", "database": str(tmp_path / "registry.db"), **sections}
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def test_a_site_mode_gate_config_holds_the_offices_public_keys(site_keys, tmp_path):
    from edge.config import load_config
    from edge.registry.passes import PassError, pass_checker, pass_issuer
    from edge.site.remote import command_checker

    path = gate_yaml(tmp_path, mqtt={"command_public_keys": [str(site_keys / "command.pub")]},
                     passes={"public_keys": [str(site_keys / "pass.pub")]})
    config = load_config(path)
    assert config.mqtt.command_public_keys == [site_keys / "command.pub"]
    assert config.warnings == []
    assert command_checker(config).kids == {load_signer(site_keys / "command.key").kid}
    assert pass_checker(config).kids == {load_signer(site_keys / "pass.key").kid}
    with pytest.raises(PassError, match="issue passes at the office"):
        pass_issuer(config)


def test_config_refuses_a_private_key_as_public_key_and_both_kinds_of_key(site_keys, tmp_path, capsys):
    from edge.cli.main import main

    secret = write_local_secrets(tmp_path / "local")
    path = gate_yaml(tmp_path, mqtt={"command_key_file": str(secret[1]),
                                     "command_public_keys": [str(site_keys / "command.pub")]},
                     passes={"secret_file": str(secret[0]), "public_keys": [str(site_keys / "pass.key")]})
    assert main(["check-config", path]) == 2
    err = capsys.readouterr().err
    assert ("mqtt.command_public_keys: mqtt.command_key_file (a shared secret: a gate without an office) and "
            "mqtt.command_public_keys (the office's command.pub: site mode) are both set") in err
    assert "passes.public_keys.0: " in err and "not an Ed25519 public key in PEM (this is a private key" in err


def test_check_config_warns_about_an_old_raw_bytes_key_and_still_says_ok(tmp_path, capsys):
    from edge.cli.main import main

    old = tmp_path / "pass.key"
    old.write_bytes(bytes(range(100, 132)))  # head -c 32 /dev/urandom, as the README used to say
    new = write_local_secrets(tmp_path / "new")[1]
    path = gate_yaml(tmp_path, mqtt={"command_key_file": str(new)}, passes={"secret_file": str(old)})
    assert main(["check-config", path]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok\n"
    [warning] = captured.err.splitlines()
    assert warning.startswith(f"{path}:") and ": passes.secret_file: " in warning
    assert "gate-edge keys new --local" in warning and str(old) in warning


# -- QR passes: GE2, signed by the office's pass.key --------------------------------------------------------
@pytest.fixture
def registry(tmp_path):
    from edge.store import Store

    with Store(tmp_path / "registry.db") as reg:
        yield reg


def test_a_pass_from_the_office_verifies_at_every_gate_until_it_expires(site_keys, store):
    from edge.registry.passes import check_pass, issue_token, record_pass

    office = load_signer(site_keys / "pass.key")
    gate = load_verifier([site_keys / "pass.pub"])
    person = store.people.add("陈明", "5-101")
    token, claim = issue_token(office, person_id=person, valid_hours=2, now=T0)
    assert token.startswith("GE2:") and set(token[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    # A gate need not have a row for the office's pass: the signature is the proof.
    check = check_pass(token, gate, store, now=T0 + 60)
    assert check.valid and check.claim.person_id == person and check.claim.pass_id == claim.pass_id
    assert check_pass(token, gate, store, now=T0 + 7201).reason == "expired"
    plate_token, _ = issue_token(office, plate="沪AD12345", valid_hours=2, now=T0)
    assert check_pass(plate_token, gate, store, now=T0).claim.plate == "沪AD12345"
    record_pass(store, claim)
    store.passes.revoke(claim.pass_id, T0)
    assert check_pass(token, gate, store, now=T0 + 60).reason == "revoked"
    store.people.remove(person)
    other, _ = issue_token(office, person_id=person, valid_hours=2, now=T0)
    assert check_pass(other, gate, store, now=T0).reason == "its person is no longer registered"


def test_forged_passes_and_passes_of_the_other_kind_are_refused(site_keys, tmp_path):
    from edge.registry.passes import SHARED_AT_SITE_GATE, SITE_AT_LOCAL_GATE, check_pass, issue_token

    office = load_signer(site_keys / "pass.key")
    gate = load_verifier(site_keys / "pass.pub")
    token, _ = issue_token(office, person_id=3, valid_hours=2, now=T0)
    # A stolen gate's own key, or the office's command key, cannot make a pass.
    for wrong in ("east.key", "command.key"):
        signer = load_signer(site_keys / wrong)
        forged, _ = issue_token(signer, person_id=3, valid_hours=2, now=T0)
        assert check_pass(forged, gate, None, now=T0).reason == f"signed with unknown key {signer.kid}"
    # One bit changed in the signature, or in the payload: the signature does not verify.
    import base64

    blob = bytearray(base64.b32decode(token[4:] + "=" * (-len(token[4:]) % 8)))
    blob[-1] ^= 1
    tampered = "GE2:" + base64.b32encode(bytes(blob)).decode().rstrip("=")
    assert check_pass(tampered, gate, None, now=T0).reason == "forged: signature does not verify"
    blob = bytearray(base64.b32decode(token[4:] + "=" * (-len(token[4:]) % 8)))
    blob[8] ^= 1  # valid_until moved
    tampered = "GE2:" + base64.b32encode(bytes(blob)).decode().rstrip("=")
    assert check_pass(tampered, gate, None, now=T0).reason == "forged: signature does not verify"
    # A shared-key pass at a site gate, and an office pass at a local gate: each refused with its reason.
    shared, _ = issue_token(b"k" * 32, person_id=3, valid_hours=2, now=T0)
    assert check_pass(shared, gate, None, now=T0).reason == SHARED_AT_SITE_GATE
    assert SHARED_AT_SITE_GATE == "signed with a shared key; this site uses the office's pass key"
    assert check_pass(token, b"k" * 32, None, now=T0).reason == SITE_AT_LOCAL_GATE
    assert check_pass(token, None, None, now=T0).reason.startswith("cannot verify")


def test_the_shared_key_pass_is_byte_for_byte_what_it_was():
    from edge.registry.passes import check_pass, issue_token

    raw_id = bytes.fromhex("0102030405aa")
    person, _ = issue_token(b"k" * 32, person_id=7, valid_hours=2, now=T0, pass_id=raw_id)
    plate, _ = issue_token(b"k" * 32, plate="沪AD12345", valid_hours=2, now=T0, pass_id=raw_id)
    assert person == "GE1:AEAWVMJ3QBVLCV5AAEBAGBAFVIAAAAAH6URU3DX5C2OMIPIGC3BA"
    assert plate == "GE1:AEBGVMJ3QBVLCV5AAEBAGBAFVLTLFKSBIQYTEMZUGXMMY7DUCUHHHTZ3GRAC6"
    assert check_pass(person, b"k" * 32, None, now=T0).valid


def test_pass_issue_and_identify_through_the_office_key_and_a_site_gate(site_keys, tmp_path, capsys):
    """``pass issue`` with a config naming passes.signing_key_file (the office's), ``identify`` at a gate
    holding only pass.pub: the QR scans and verifies."""
    from types import SimpleNamespace

    from edge.registry.passes import check_pass, issue_token, pass_checker, pass_issuer
    from models.qr import QrReader, write_qr_png

    office = SimpleNamespace(passes=SimpleNamespace(signing_key_file=site_keys / "pass.key", public_keys=[],
                                                    secret_file=None))
    issuer = pass_issuer(office)
    assert issuer.kid == load_signer(site_keys / "pass.key").kid
    assert pass_checker(office).kids == {issuer.kid}  # the office checks its own passes
    token, _ = issue_token(issuer, plate="沪A12345", valid_hours=24)
    out = tmp_path / "pass.png"
    write_qr_png(token, out)
    from models.images import load_rgb

    [code] = QrReader().read(load_rgb(out))
    assert code.text == token
    from edge.config import load_config

    gate = load_config(gate_yaml(tmp_path, passes={"public_keys": [str(site_keys / "pass.pub")]}))
    assert check_pass(code.text, pass_checker(gate), None).valid
