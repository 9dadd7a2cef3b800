"""Journal events in plain words: one short line per event, for replay output and timelines."""

from __future__ import annotations

import json
from typing import Any

from controller.journal import Event
from controller.research.check_words import describe_check
from controller.untrusted import finite_number

NOTE_HIDDEN = "note (text left out)"


def describe(event: Event, *, notes: bool = False) -> str:
    """What `event` says, in a few plain words; a note's text only when `notes` is true."""
    payload = event.payload
    if event.kind == "note":
        return f"note: {payload}" if notes and isinstance(payload, str) else NOTE_HIDDEN
    if not isinstance(payload, dict):
        text = "" if payload is None else str(payload)
        return f"{event.kind} {text}".strip()
    describer = _DESCRIBERS.get(event.kind)
    return describer(event, payload) if describer else f"{event.kind} {compact(payload)}"


def compact(value: Any) -> str:
    """`value` as compact JSON text (for payloads without a better description)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _session(event: Event, payload: dict[str, Any]) -> str:
    if payload.get("event") == "start":
        return (
            f"session started: plan {payload.get('plan')}, participant {payload.get('participant')}"
        )
    if payload.get("event") == "end":
        return "session ended"
    return f"session {compact(payload)}"


def _phase(event: Event, payload: dict[str, Any]) -> str:
    planned = finite_number(payload.get("planned_s"))
    length = f", planned {planned:g} s" if planned is not None else ""
    return f"phase {payload.get('to')} ({payload.get('reason')}{length})"


def _scene(event: Event, payload: dict[str, Any]) -> str:
    fade = finite_number(payload.get("fade_s"))
    return f"scene {payload.get('name')}" + (f" (fade {fade:g} s)" if fade is not None else "")


def _command(event: Event, payload: dict[str, Any]) -> str:
    device = event.device or "?"
    bls = payload.get("bls")
    if bls == "start":
        length = (
            f"{payload['passes']} passes"
            if payload.get("passes") is not None
            else f"{payload.get('seconds')} s"
        )
        return f"BLS set on {device}: {payload.get('speed_hz')} Hz, {length}"
    if bls == "stop":
        return f"BLS stopped on {device} ({payload.get('why')})"
    if bls == "set complete":
        return f"BLS set complete on {device}"
    return f"{device} ← {event.topic} {payload.get('payload', compact(payload))}"


def _state(event: Event, payload: dict[str, Any]) -> str:
    return f"{event.device} reports {compact(payload)}"


def _availability(event: Event, payload: dict[str, Any]) -> str:
    return f"{event.device} {payload.get('available')}"


def _operator(event: Event, payload: dict[str, Any]) -> str:
    if "cue" in payload and "action" not in payload:
        return f"cue: {payload.get('label') or compact(payload.get('do'))}"
    parameters = {
        key: value
        for key, value in payload.items()
        if key not in ("action", "source", "refused", "run", "scene", "overrides", "emergency")
    }
    words = " ".join(f"{key}={value}" for key, value in parameters.items())
    source = f" [{payload['source']}]" if payload.get("source") else ""
    refused = f" — refused: {payload['refused']}" if payload.get("refused") else ""
    return f"{payload.get('action')} {words}".rstrip() + source + refused


def _vitals(event: Event, payload: dict[str, Any]) -> str:
    readings = (_reading(key, value) for key, value in payload.items() if key != "ts")
    return f"{event.device}: {' '.join(reading for reading in readings if reading)}"


def _reading(key: str, value: object) -> str | None:
    """One measure of a vitals event; None for a number no float holds (no reading)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key} {value}"
    number = finite_number(value)
    return None if number is None else f"{key} {number:g}"


def _alert(event: Event, payload: dict[str, Any]) -> str:
    if payload.get("cleared"):
        return f"alert cleared: {payload.get('key')}"
    return f"ALERT {payload.get('message') or payload.get('key')}"


def emergency_step(payload: dict[str, Any]) -> str | None:
    """`start`, `immediate` or `cleared` for an emergency's safety event, else None."""
    emergency = payload.get("emergency")
    return emergency if emergency in ("start", "immediate", "cleared") else None


def _safety(event: Event, payload: dict[str, Any]) -> str:
    emergency = emergency_step(payload)
    if emergency is not None:
        return {
            "start": "EMERGENCY: lights up, everything stops",
            "immediate": "EMERGENCY: immediate",
            "cleared": "emergency cleared",
        }[emergency]
    reason = payload.get("reason") or compact(payload)
    return f"safety on {event.device}: {reason}" if event.device else f"safety: {reason}"


def _broker(event: Event, payload: dict[str, Any]) -> str:
    if not payload.get("connected"):
        return f"broker lost ({payload.get('reason')})"
    outage = finite_number(payload.get("outage_s"))
    return "broker connected" if outage is None else f"broker back after {outage:.1f} s"


def _resume(event: Event, payload: dict[str, Any]) -> str:
    gap = payload.get("gap_s")
    return f"engine resumed the session after {gap:.1f} s" if isinstance(gap, float) else "resumed"


def _error(event: Event, payload: dict[str, Any]) -> str:
    return f"error: {payload.get('error') or compact(payload)}"


def _check(event: Event, payload: dict[str, Any]) -> str:
    return describe_check(payload)


_DESCRIBERS = {
    "session": _session,
    "phase": _phase,
    "scene": _scene,
    "command": _command,
    "state": _state,
    "availability": _availability,
    "operator": _operator,
    "vitals": _vitals,
    "alert": _alert,
    "safety": _safety,
    "broker": _broker,
    "resume": _resume,
    "error": _error,
    "check": _check,
}
