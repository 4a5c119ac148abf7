"""Run the notifier alone: python -m services.notifier."""

from bootstrap.launch import run_services

run_services(["notifier"])
