"""The heartbeat service: detects crashed, hung and lost workloads, nodes and services, and heals them."""
