"""Run the logger alone: python -m services.logger."""

from bootstrap.launch import run_services

run_services(["logger"])
