"""Research tools for recorded sessions: analysis, replay, BIDS export and the session report."""
