"""Run the node manager alone: python -m services.node_manager."""

from bootstrap.launch import run_services

run_services(["node_manager"])
