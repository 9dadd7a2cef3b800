"""The session engine: clock, phases, scenes, fades, safety gate, control API and journal."""
