"""Media rendered on the room PC itself: VLC music and the bilateral tone synthesiser."""
