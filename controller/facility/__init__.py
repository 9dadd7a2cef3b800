"""A facility: many rooms on one Mosquitto, each role of each room with its own login and ACL."""
