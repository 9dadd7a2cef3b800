"""The controller's MQTT API: topics, commands and the state snapshot that consoles rely on.

Engine and consoles share only this package; a console never imports the engine.
"""
