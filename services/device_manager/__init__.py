"""The device manager: judges telemetry from every route, keeps latest values, routes commands."""
