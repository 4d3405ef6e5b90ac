"""The daemon's one clock (edge.timeutil): the system's, or the site demo's declared simulated time."""

from __future__ import annotations

import time

from test_config import BASE, problems_of

from edge.config import load_config
from edge.timeutil import advance_simulated, clock_from_config


def test_simulated_time_is_declared_in_the_config_and_shared_through_one_file(write_config, tmp_path):
    path = write_config(BASE + "clock:\n  mode: simulated\n  offset_file: clock-offset\n")
    config = load_config(path)
    gate_clock, office_clock = clock_from_config(config), clock_from_config(config)
    assert gate_clock.simulated and abs(gate_clock() - time.time()) < 1
    advance_simulated(tmp_path / "clock-offset", 49 * 3600)
    # Every process reading the file follows the fast-forward, and a second one adds to the first.
    assert abs(gate_clock() - time.time() - 49 * 3600) < 1 and abs(office_clock() - gate_clock()) < 1
    assert advance_simulated(tmp_path / "clock-offset", 60) == 49 * 3600 + 60


def test_a_real_clock_is_the_default_and_reads_no_file(minimal_config):
    clock = clock_from_config(load_config(minimal_config))
    assert not clock.simulated and abs(clock() - time.time()) < 1


def test_the_clock_section_refuses_what_it_cannot_mean(write_config):
    assert any("clock.offset_file" in p for p in problems_of(write_config(BASE + "clock:\n  mode: simulated\n")))
    problems = problems_of(write_config(BASE + "clock:\n  offset_file: x\n"))
    assert any("only read with clock.mode: simulated" in p for p in problems), problems
    problems = problems_of(write_config(BASE + "clock:\n  mode: fast\n"))
    assert any("'real' or 'simulated'" in p for p in problems), problems
