"""Real screens of the room: `sessionroom display` is one device on the broker, shown by a web page.

The page (`static/`) renders a headset/meditation display (`vr/<id>`) or a visual light
bar (`bls/<id>`); `server` is the process that speaks MQTT for it.
"""
