"""Config validation: every problem at once, each with file, line, dotted key and a fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]


def problems_of(path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def yaml_text(body: str) -> str:
    return textwrap.dedent(body).lstrip()


BASE = """\
site: tianlin12
gate: east
database: registry.db
"""

# (name, YAML text, the exact problem line expected, without the "<file>:" prefix)
MALFORMED = [
    ("typo at top level", BASE + "gatee: west\n", "4: gatee: unknown key 'gatee'; did you mean 'gate'?"),
    ("typo in a section", BASE + "mqtt:\n  hots: broker\n",
     "5: mqtt.hots: unknown key 'hots'; did you mean 'host'?"),
    ("wrong type", BASE + "mqtt:\n  port: abc\n",
     "5: mqtt.port: Input should be a valid integer, unable to parse string as an integer, got 'abc'"
     " — 1883 plain, 8883 with TLS"),
    ("out of range", BASE + "mqtt:\n  port: 70000\n",
     "5: mqtt.port: Input should be less than or equal to 65535, got 70000 — 1883 plain, 8883 with TLS"),
    ("missing file", BASE + "mqtt:\n  tls:\n    ca: /nonexistent/ca.crt\n",
     "6: mqtt.tls.ca: file '/nonexistent/ca.crt' does not exist; create it or fix the path"),
    # A secret typed where its file belongs is never repeated (it would reach the journal).
    ("secret as a path", BASE + "passes:\n  secret_file: hunter2-the-key\n",
     "5: passes.secret_file: the file named here does not exist; create it or fix the path (give the path of a "
     "file holding the secret, never the secret itself)"),
    ("password in yaml", BASE + "mqtt:\n  username: gate\n  password: hunter2\n",
     "6: mqtt.password: never put the password in YAML: write it to a file readable only by the gate-edge "
     "user and set mqtt.password_file"),
    ("unknown time zone", BASE + "timezone: Asia/Shangai\n",
     "4: timezone: unknown time zone 'Asia/Shangai'; use an IANA name such as 'Asia/Shanghai'"),
    ("missing site", "gate: east\n", "1: site: required key is missing; add it"),
    ("bad identifier", BASE.replace("east", "east gate"),
     "2: gate: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]*$', got 'east gate'"
     " — this gate's name (east, west…)"),
    ("bad yaml", BASE + "mqtt: {host: [\n",
     "5: (yaml): not valid YAML: expected the node content, but found '<stream end>'"),
    ("duplicate key", BASE + "gate: west\n", "4: gate: key given twice; keep one (the last one wins in YAML)"),
    ("unknown barrier type", BASE + "barriers:\n  - {id: car, type: magic}\n",
     "5: barriers.0.type: unknown type 'magic'; use one of: 'modbus_rtu', 'simulated'"),
    ("bad baudrate", BASE + "cameras:\n  - {id: c, source: rtsp://x, role: plate, lane: in}\n"
     "barriers:\n  - {id: car, type: modbus_rtu, port: /dev/ttyUSB0, baudrate: 9601, lanes: [in]}\n",
     "7: barriers.0.baudrate: Input should be 1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200, got 9601"
     " — serial speed; must match the controller's DIP switches"),
    ("roi not a box", BASE + "cameras:\n  - {id: c, source: rtsp://x, role: face, lane: in, roi: [100, 0, 50, 10]}\n",
     "5: cameras.0.roi: roi [100, 0, 50, 10] is not a box: give [x1, y1, x2, y2] with x2 > x1 and y2 > y1"),
    ("camera file missing", BASE + "cameras:\n  - {id: c, source: media/none.mp4, role: face, lane: in}\n",
     "5: cameras.0.source: camera file '{dir}/media/none.mp4' does not exist; fix the path or use rtsp://, "
     "/dev/videoN"),
    ("duplicate camera id", BASE + "cameras:\n  - {id: c, source: rtsp://x, role: face, lane: in}\n"
     "  - {id: c, source: rtsp://y, role: plate, lane: in}\n",
     "6: cameras.1.id: duplicate id 'c' (already used by cameras.0)"),
    ("unknown face encoder", BASE + "recognition:\n  face: {encoder: arcfase}\n",
     "5: recognition.face.encoder: unknown face encoder 'arcfase'; use one of: default, dlib, faceplugin, "
     "mobilefacenet, ensemble"),
    ("tls cert without key", BASE + "mqtt:\n  tls: {ca: ca.pem, cert: ca.pem}\n",
     "5: mqtt.tls.cert: tls.cert is set without tls.key; give both or neither"),
    ("camera names unknown barrier", BASE + "cameras:\n  - {id: c, source: rtsp://x, role: face, lane: in, "
     "barrier: foot}\n", "5: cameras.0.barrier: no barrier 'foot'; barriers: none configured"),
    ("extra key in barrier", BASE + "cameras:\n  - {id: c, source: rtsp://x, role: plate, lane: in}\n"
     "barriers:\n  - {id: car, type: simulated, lanes: [in], pulse: 5}\n",
     "7: barriers.0.pulse: unknown key 'pulse'; did you mean 'pulse_ms'?"),
]


@pytest.mark.parametrize("name, text, expected", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_config_names_line_key_and_fix(write_config, tmp_path, name, text, expected):
    (tmp_path / "ca.pem").write_text("not really a certificate")
    path = write_config(text)
    assert f"{path}:{expected.format(dir=tmp_path)}" in problems_of(path)


def test_one_run_reports_typo_type_missing_file_and_cross_field_each_on_its_line(write_config, capsys):
    path = write_config(
        yaml_text(
            """
            site: tianlin12
            gate: east
            databse: registry.db
            mqtt:
              port: eighty
              password_file: /nonexistent/secret
            cameras:
              - {id: face-in, source: rtsp://cam, role: face, lane: in, barrier: nope}
            barriers:
              - {id: car, type: simulated, lanes: [in, out]}
            """
        )
    )
    assert main(["check-config", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert [line.split(": ")[0].removeprefix(f"{path}:") + " " + line.split(": ")[1] for line in lines] == [
        "3 databse",
        "5 mqtt.port",
        "6 mqtt.password_file",
        "6 mqtt.password_file",
        "8 cameras.0.barrier",
    ]
    assert "did you mean 'database'?" in lines[0]
    assert "password_file is set without username" in "\n".join(lines)


def test_a_barrier_lane_without_a_camera_is_a_warning_not_a_refusal(write_config, capsys):
    # DESIGN 4.2's own example: a barrier for both lanes, cameras at the entry only (the exit is opened by
    # the guard or the office). It must start; check-config says so and exits 0.
    path = write_config(BASE + "cameras:\n  - {id: c, source: rtsp://x, role: plate, lane: in}\n"
                        "barriers:\n  - {id: car, type: simulated, lanes: [in, out]}\n")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "ok"
    assert f"{path}:7: barriers.0.lanes: lane 'out' of barrier 'car' has no camera: only the guard or the " \
           "office opens it" in out.err


def test_valid_config_prints_ok(minimal_config, capsys):
    assert main(["check-config", str(minimal_config)]) == 0
    assert capsys.readouterr().out == "ok\n"


def test_missing_config_file_is_exit_2(tmp_path, capsys):
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_relative_paths_resolve_against_the_config_folder(write_config, tmp_path):
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "pass.key").write_bytes(b"k" * 32)
    config = load_config(write_config(BASE + "passes: {secret_file: keys/pass.key}\n"))
    assert config.database == tmp_path / "registry.db"
    assert config.passes.secret_file == tmp_path / "keys" / "pass.key"


def test_defaults_follow_the_design(config):
    assert config.parking.capacity == 306
    assert config.parking.visitor_free_minutes == 30
    assert config.parking.family_free_minutes == 120
    assert config.inactivity.threshold_hours == 48
    assert config.mqtt.topic_prefix == "gate"
    assert config.client_id == "tianlin12-east"


def test_every_field_has_a_description():
    from pydantic import BaseModel

    from edge.config import GateConfig

    missing, seen = [], set()

    def walk(model):
        if model in seen:
            return
        seen.add(model)
        for name, field in model.model_fields.items():
            if not field.description and name != "type" and not _is_model(field.annotation):
                missing.append(f"{model.__name__}.{name}")
            for inner in _models_in(field.annotation):
                walk(inner)

    def _models_in(annotation):
        import typing

        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield annotation
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)

    def _is_model(annotation):
        return any(True for _ in _models_in(annotation))

    walk(GateConfig)
    assert missing == []


@pytest.mark.parametrize("name", ["gate.example.yaml", "demo.yaml"])
def test_shipped_configs_are_valid(name, tmp_path):
    text = (REPO / "config" / name).read_text(encoding="utf-8")
    if name == "gate.example.yaml":
        # The example names files that exist on a real gate; point them at stand-ins here.
        for real in ("/etc/gate-edge/pass.key", "/etc/gate-edge/mqtt.password", "/etc/gate-edge/ca.pem",
                     "/etc/gate-edge/command.key"):
            stand_in = tmp_path / Path(real).name
            stand_in.write_text("x")
            text = text.replace(real, str(stand_in))
        text = text.replace("/var/lib/gate-edge/registry.db", str(tmp_path / "registry.db"))
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
    else:
        from edge.demo import prepare

        # The demo config is completed in its working folder (broker port, barrier pty, keys, media).
        path = prepare(tmp_path, 18830, "/dev/ttyUSB0")
    load_config(path)


def test_a_camera_url_with_a_password_is_never_printed(write_config, capsys):
    from edge.cli import main

    path = write_config("site: s\ngate: g\ndatabase: r.db\ncameras:\n  - rtsp://admin:hunter2@192.0.2.5/stream1\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rtsp://***@192.0.2.5/stream1" in err and "hunter2" not in err
