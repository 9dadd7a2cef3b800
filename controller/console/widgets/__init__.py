"""The console's widgets, one per file; each renders a `RoomView` and never talks to MQTT."""
