"""Config validation: every problem at once, each with file, line, dotted key and a fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edge.cli.main import main
from edge.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


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
     "5: barriers.0.type: unknown type 'magic'; use one of: modbus_rtu, simulated"),
    ("bad baudrate", BASE + "cameras:\n  - {id: c, source: rtsp://x, role: plate, lane: in}\n"
     "barriers:\n  - {id: car, type: modbus_rtu, port: /dev/ttyUSB0, baudrate: 9601, lanes: [in]}\n",
     "7: barriers.0.baudrate: unknown value 9601; use one of: 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200"
     " — serial speed; must match the controller's DIP switches"),
    ("bad log level", BASE + "log_level: VERBOSE\n",
     "4: log_level: unknown value 'VERBOSE'; use one of: DEBUG, INFO, WARNING, ERROR — logging level"),
    ("bad lane key", BASE + "barriers:\n  - {id: car, type: modbus_rtu, port: /dev/ttyUSB0, loop_inputs: {up: 1}}\n",
     "5: barriers.0.loop_inputs.up: unknown key 'up'; use one of: in, out"),
    ("bad coil map key", BASE + "barriers:\n  - {id: car, type: modbus_rtu, port: /dev/ttyUSB0, open_coil: {up: 1}}\n",
     "5: barriers.0.open_coil.up: unknown key 'up'; use one of: in, out"),
    ("not a coil", BASE + "barriers:\n  - {id: car, type: modbus_rtu, port: /dev/ttyUSB0, open_coil: one}\n",
     "5: barriers.0.open_coil: Input should be a valid integer or a valid dictionary, got 'one' — coil address "
     "pulsed to open; one number for all lanes or {{in: 0, out: 1}}"),
    ("no barrier type", BASE + "barriers:\n  - {id: car, lanes: [in]}\n",
     "5: barriers.0: missing 'type:'; say which driver (modbus_rtu or simulated)"),
    ("unknown province", BASE + "recognition:\n  plate: {province: 申}\n",
     "5: recognition.plate.province: unknown province '申'; use one of: 京, 津, 沪, 渝, 冀, 豫, 云, 辽, 黑, 湘, "
     "皖, 鲁, 新, 苏, 浙, 赣, 鄂, 桂, 甘, 晋, 蒙, 陕, 吉, 闽, 贵, 粤, 青, 藏, 川, 宁, 琼"),
    ("unknown role", "role: gat\n" + BASE,
     "1: role: unknown value 'gat'; use one of: gate, office — gate (this file) or office (the committee office's "
     "file, checked by the same check-config)"),
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
     "mobilefacenet, ensemble, ensemble-yunet"),
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
    if name == "gate.example.yaml":
        path = _with_stand_ins(REPO / "config" / name, tmp_path)
    else:
        from edge.cli.demo import prepare

        # The demo config is completed in its working folder (broker port, barrier pty, keys, media).
        path = prepare(tmp_path, 18830, "/dev/ttyUSB0")
    load_config(path)


def _with_stand_ins(source: Path, tmp_path: Path) -> Path:
    """A copy of ``source`` whose files under /etc/gate-edge (keys, password, CA: they exist on a real gate)
    and /var/lib/gate-edge are stand-ins in ``tmp_path``; comments are kept."""
    import re

    from edge.keys import write_local_secrets

    write_local_secrets(tmp_path)  # pass.key and command.key as `gate-edge keys new --local` writes them
    text = source.read_text(encoding="utf-8")
    for real in sorted(set(re.findall(r"(?<=[\s:\[])/etc/gate-edge/[\w.-]+", text))):
        stand_in = tmp_path / Path(real).name
        if not stand_in.exists():
            stand_in.write_text("x")
        text = text.replace(real, str(stand_in))
    text = text.replace("/var/lib/gate-edge/", f"{tmp_path}/")
    path = tmp_path / f"checked-{source.name}"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_is_generated_from_the_models():
    import difflib

    from edge.config.example import COMMAND, render

    committed = (REPO / "config" / "gate.example.yaml").read_text(encoding="utf-8")
    generated = render()
    diff = "".join(list(difflib.unified_diff(committed.splitlines(True), generated.splitlines(True),
                                             "config/gate.example.yaml (committed)", "generated"))[:40])
    assert committed == generated, (
        f"config/gate.example.yaml differs from the config models' descriptions and defaults; regenerate it "
        f"(from the repository root): .venv/bin/{COMMAND}\n{diff}")


def test_the_example_config_lists_every_key():
    """Every key of every section, and of each kind of camera and barrier, is in the example."""
    import typing

    import yaml
    from pydantic import BaseModel

    from edge.config import GateConfig

    data = yaml.safe_load((REPO / "config" / "gate.example.yaml").read_text(encoding="utf-8"))
    missing = []

    def walk(model: type[BaseModel], node: dict, path: str):
        for name, field in model.model_fields.items():
            if name not in node:
                missing.append(f"{path}{name}")
                continue
            models = _config_models(field.annotation)
            if not models:
                continue
            if typing.get_origin(field.annotation) is not list:
                walk(models[0], node[name], f"{path}{name}.")
                continue
            for kind in models:  # each kind of item (a driver's barrier) at least once, with all its keys
                tags = typing.get_args(kind.model_fields["type"].annotation) if "type" in kind.model_fields else ()
                items = [item for item in node[name] if not tags or item.get("type") in tags]
                if not items:
                    missing.append(f"{path}{name}: no {tags or kind.__name__} item")
                    continue
                walk(kind, {key: value for item in items for key, value in item.items()}, f"{path}{name}[].")

    walk(GateConfig, data, "")
    assert missing == []


def _config_models(annotation) -> list:
    """The config sections inside an annotation (a Section, list[Section], a union of barrier drivers)."""
    import typing

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _config_models(arg)]


class _MapKey(str):
    """A mapping's key in a dotted path (one channel of notify.channels): an item of its own section."""


def _enumerated_keys():
    """(root model, dotted path, item model or None, Literal values) of every enumerated key of the gate's and
    the office's files, inside sections and list items (each camera, each barrier driver)."""
    import typing

    from edge.config.root import GateConfig
    from edge.config.site import OfficeConfig

    def literal(annotation):
        if typing.get_origin(annotation) is typing.Literal:
            return list(typing.get_args(annotation))
        for arg in typing.get_args(annotation):
            if literal(arg):
                return literal(arg)
        return []

    found = []

    def walk(root, model, path, item):
        for name, field in model.model_fields.items():
            models = _config_models(field.annotation)
            if models and typing.get_origin(field.annotation) is list:
                for inner in models:
                    walk(root, inner, (*path, name, 0), inner)
            elif models and typing.get_origin(field.annotation) is dict:  # name → section (notify.channels)
                for inner in models:
                    walk(root, inner, (*path, name, _MapKey("x")), inner)
            elif models:
                walk(root, models[0], (*path, name), item)
            elif literal(field.annotation) and not (name in ("type", "role") and len(literal(field.annotation)) == 1):
                found.append((root, (*path, name), item, literal(field.annotation), _shape(field.annotation)))

    def _shape(annotation):  # where the enumerated value goes: the value, a list item, or a mapping's key
        import typing

        kinds = {typing.get_origin(a) for a in (annotation, *typing.get_args(annotation))}
        return "key" if dict in kinds else "item" if list in kinds else "value"

    walk(GateConfig, GateConfig, (), None)
    walk(OfficeConfig, OfficeConfig, (), None)
    return found


ENUMERATED = _enumerated_keys()
# What a file needs besides the key under test, and the required keys of a list item.
_FILES = {"GateConfig": {"site": "s", "gate": "g", "database": "r.db"},
          "OfficeConfig": {"role": "office", "site": "s", "database": "office.db",
                           "registry": {"signing_key_file": "registry.key"}}}
_REQUIRED = {"id": "x", "source": "rtsp://x", "role": "face", "lane": "in", "port": "/dev/ttyUSB0",
             "url_file": "registry.key", "secret_file": "registry.key", "url": "http://127.0.0.1/",
             "host": "127.0.0.1", "from": "office@example.org"}


@pytest.mark.parametrize("root, path, item, allowed, shape", ENUMERATED, ids=[
    f"{root.__name__}:{'.'.join(map(str, path))}{':' + item.__module__.rsplit('.')[-1] if item else ''}"
    for root, path, item, *_ in ENUMERATED])
def test_every_enumerated_key_is_checked_and_its_message_lists_the_allowed_values(root, path, item, allowed, shape,
                                                                                  write_config, tmp_path, capsys):
    import typing

    (tmp_path / "registry.key").write_text("x")
    data = {key: dict(value) if isinstance(value, dict) else value for key, value in _FILES[root.__name__].items()}
    node = data
    for index, part in enumerate(path[:-1]):
        if isinstance(part, int | _MapKey):
            part = str(part) if isinstance(part, _MapKey) else part  # YAML writes plain strings
            type_field = item.model_fields.get("type")
            node[part] = {"type": typing.get_args(type_field.annotation)[0]} if type_field else {}
            required = {f.alias or k for k, f in item.model_fields.items() if f.is_required()}
            node[part].update({k: v for k, v in _REQUIRED.items() if k in required and k != "type"})
        elif isinstance(path[index + 1], int):
            node[part] = [None]
        elif isinstance(path[index + 1], _MapKey):
            node[part] = {}
        else:
            node.setdefault(part, {})
        node = node[part]
    name = path[-1]
    node[name], where = {"item": (["bogus"], f"{name}.0"), "key": ({"bogus": 1}, f"{name}.bogus"),
                         "value": ("bogus", name)}[shape]
    file = write_config(data)
    assert main(["check-config", str(file)]) == 2
    err = capsys.readouterr().err
    dotted = ".".join(map(str, (*path[:-1], where)))
    what = "key" if shape == "key" else "value"
    assert f"{dotted}: unknown {what} 'bogus'; use one of: {', '.join(map(str, allowed))}" in err, err


@pytest.mark.parametrize("key, value, allowed", [
    ("recognition.face.encoder", "arcfase", "default, dlib, faceplugin, mobilefacenet, ensemble"),
    ("recognition.plate.province", "申", "京, 津, 沪"),
])
def test_keys_checked_against_a_list_name_its_values(key, value, allowed, write_config, capsys):
    section, sub_section, name = key.split(".")
    path = write_config(BASE + f"{section}:\n  {sub_section}: {{{name}: {value}}}\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{key}: unknown" in err and f"{value!r}; use one of: {allowed}" in err


def test_the_design_example_config_starts_with_a_warning(tmp_path, capsys):
    """DESIGN 4.2's example, as written there: a barrier for both lanes, cameras at the entry only (the exit
    is opened by the guard or the office). check-config says ok (exit 0) and prints the lane warning."""
    path = _with_stand_ins(REPO / "tests" / "data" / "design-4.2-gate.yaml", tmp_path)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == "ok\n"
    assert out.err.splitlines() == [
        f"{path}:18: barriers.0.lanes: lane 'out' of barrier 'east-car' has no camera: only the guard or the office "
        "opens it (gate-edge cmd, the console); add a camera with lane: out if one should"]


def test_the_config_warnings_are_logged_when_the_daemon_starts(write_config, monkeypatch, caplog):
    import edge.gate.daemon

    started = []

    class NoDaemon:  # the real one opens the broker link and the cameras: only the start-up log matters here
        def __init__(self, config):
            started.append(config)

        def stop_on_signals(self):
            pass

        def start(self):
            pass

        def run(self):
            return 0

        def close(self):
            pass

    monkeypatch.setattr(edge.gate.daemon, "Daemon", NoDaemon)
    path = write_config(BASE + "cameras:\n  - {id: c, source: rtsp://x, role: plate, lane: in}\n"
                        "barriers:\n  - {id: car, type: simulated, lanes: [in, out]}\n")
    with caplog.at_level("WARNING", logger="edge.config"):
        assert main(["run", "-c", str(path)]) == 0
    assert started
    assert any("barriers.0.lanes: lane 'out' of barrier 'car' has no camera" in r.getMessage() for r in caplog.records)


def test_a_camera_url_with_a_password_is_never_printed(write_config, capsys):
    from edge.cli.main import main

    path = write_config("site: s\ngate: g\ndatabase: r.db\ncameras:\n  - rtsp://admin:hunter2@192.0.2.5/stream1\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rtsp://***@192.0.2.5/stream1" in err and "hunter2" not in err
