"""Local audio rendered on the room PC through libvlc: music playlists and looped tone files."""
