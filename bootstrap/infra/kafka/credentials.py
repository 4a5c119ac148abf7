"""The Kafka logins `canopy infra up` generates per install, kept 0600 under CANOPY_HOME/infra/kafka."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from canopy.bus.kafka_acl import ADMIN_USER, PLATFORM_USER
from canopy.private import write_private_file

FILE_NAME = "credentials.json"
CONTROLLER_USER = "controller"


@dataclass(frozen=True)
class KafkaCredentials:
    """Passwords of the admin super user, the platform services and the internal controller listener."""

    admin_password: str = field(repr=False)
    platform_password: str = field(repr=False)
    controller_password: str = field(repr=False)
    admin_user: str = ADMIN_USER
    platform_user: str = PLATFORM_USER

    def environment(self) -> dict[str, str]:
        """The CANOPY_* settings of a platform process using these logins."""
        return {
            "CANOPY_KAFKA_USERNAME": self.platform_user,
            "CANOPY_KAFKA_PASSWORD": self.platform_password,
            "CANOPY_KAFKA_ADMIN_USERNAME": self.admin_user,
            "CANOPY_KAFKA_ADMIN_PASSWORD": self.admin_password,
        }


def credentials_path(cache: Path) -> Path:
    """Where the Kafka component keeps its credentials file."""
    return cache / FILE_NAME


def load_credentials(path: Path) -> KafkaCredentials | None:
    """The saved credentials, or None when this install has none yet."""
    try:
        data = json.loads(path.read_text())
        return KafkaCredentials(
            str(data["admin_password"]), str(data["platform_password"]), str(data["controller_password"])
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path} is not a valid Kafka credentials file ({exc}); remove it to start over"
        ) from exc


def create_credentials(path: Path) -> KafkaCredentials:
    """Generate fresh random passwords and write them with mode 0600."""
    made = KafkaCredentials(secrets.token_hex(24), secrets.token_hex(24), secrets.token_hex(24))
    body = {
        "admin_user": made.admin_user,
        "admin_password": made.admin_password,
        "platform_user": made.platform_user,
        "platform_password": made.platform_password,
        "controller_password": made.controller_password,
    }
    write_private_file(path, (json.dumps(body, indent=2) + "\n").encode())
    return made
