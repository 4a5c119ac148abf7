"""Run the scheduler alone: python -m services.scheduler."""

from bootstrap.launch import run_services

run_services(["scheduler"])
