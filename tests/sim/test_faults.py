"""Fault specifications as the command line writes them, and the gate that drops or delays."""

from __future__ import annotations

import pytest

from controller.sim.faults import CommandGate, Fault, FaultKind, parse_fault


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("strip:offline", Fault("strip", FaultKind.OFFLINE)),
        ("strip:offline@30+10", Fault("strip", FaultKind.OFFLINE, at_s=30, for_s=10)),
        ("strip:online@1m", Fault("strip", FaultKind.ONLINE, at_s=60)),
        ("tappers:drop@1m+20s", Fault("tappers", FaultKind.DROP, at_s=60, for_s=20)),
        ("ceiling:delay=2.5", Fault("ceiling", FaultKind.DELAY, delay_s=2.5)),
        ("ceiling:delay=2@90s+1:00", Fault("ceiling", FaultKind.DELAY, 90, 60, 2)),
        ("*:garbage@5", Fault("*", FaultKind.GARBAGE, at_s=5)),
    ],
)
def test_fault_specs(spec: str, fault: Fault) -> None:
    assert parse_fault(spec) == fault


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("strip", "is not DEVICE:KIND"),
        ("strip:explode", "unknown fault 'explode'"),
        ("strip:delay", "delay needs =SECONDS"),
        ("strip:delay=0", "a delay of 0 s is no fault"),
        ("strip:drop=3", "drop takes no =SECONDS"),
        ("strip:garbage@1+5", "garbage happens once"),
        ("strip:offline@soon", "'soon' is not a duration"),
        ("strip:offline@5+0", "times must be positive"),
        ("strip:delay=nan@5", "'nan' is not a duration"),
        ("strip:offline@5+1e999", "'1e999' is not a duration"),
    ],
)
def test_bad_fault_specs_say_what_is_wrong(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_fault(spec)


def test_descriptions_read_as_sentences() -> None:
    assert (
        parse_fault("strip:offline@30+10").describe()
        == "strip goes offline abruptly at 30 s for 10 s"
    )
    assert parse_fault("*:delay=2").describe() == "every device delays commands by 2 s at 0 s"


def test_the_gate_passes_commands_through_by_default() -> None:
    gate = CommandGate("lamp")
    assert gate.admit("cmnd/lamp/Power", b"ON", 0.0) == [("cmnd/lamp/Power", b"ON")]


def test_a_dropping_gate_loses_commands() -> None:
    gate = CommandGate("lamp")
    gate.dropping = True
    assert gate.admit("cmnd/lamp/Power", b"ON", 0.0) == []
    gate.dropping = False
    assert gate.release(100.0) == []


def test_a_delaying_gate_releases_commands_late_and_in_order() -> None:
    gate = CommandGate("lamp")
    gate.delay_s = 2.0
    assert gate.admit("a", b"1", 10.0) == []
    gate.delay_s = 0.5
    assert gate.admit("b", b"2", 10.5) == []  # may not overtake the first
    assert gate.release(11.9) == []
    assert gate.release(12.0) == [("a", b"1"), ("b", b"2")]
    gate.delay_s = 0.0
    assert gate.admit("c", b"3", 13.0) == [("c", b"3")]
