"""Run the heartbeat service alone: python -m services.heartbeat."""

from bootstrap.launch import run_services

run_services(["heartbeat"])
