"""Run the deployer alone: python -m services.deployer."""

from bootstrap.launch import run_services

run_services(["deployer"])
