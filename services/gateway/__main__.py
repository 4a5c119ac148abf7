"""Run the gateway alone: python -m services.gateway."""

from bootstrap.launch import run_services

run_services(["gateway"])
