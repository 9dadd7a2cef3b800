"""Media rendered on the room PC itself: VLC music, the WAV loop and the bilateral tone synthesiser."""
