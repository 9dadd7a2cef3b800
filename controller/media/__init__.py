"""Media played on the room PC itself: VLC music, the WAV loop and the bilateral tones."""
