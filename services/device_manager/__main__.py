"""Run the device manager alone: python -m services.device_manager."""

from bootstrap.launch import run_services

run_services(["device_manager"])
