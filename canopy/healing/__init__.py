"""Pure failure detection and restart pacing: the heartbeat service's decision logic."""
