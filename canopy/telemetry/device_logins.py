"""A device's broker login on its transport: an MQTT account (mqtt) or a Kafka principal (kafka)."""

from __future__ import annotations

from canopy.bus.kafka_acl import provision_device, unprovision_device
from canopy.config import Config
from canopy.telemetry.mqtt_accounts import DeviceAccounts, put_account, remove_account


def grant_login(
    config: Config, accounts: DeviceAccounts, device_id: str, transport: str, credential: str
) -> None:
    """Let a device log in to its transport's broker with this credential (http devices need none)."""
    put_account(accounts, device_id, transport, credential)
    provision_device(config, device_id, transport, credential)


def revoke_login(config: Config, accounts: DeviceAccounts, device_id: str, transport: str) -> None:
    """Stop a removed device's broker login on its transport."""
    remove_account(accounts, device_id, transport)
    if transport == "kafka":
        unprovision_device(config, device_id)
