"""One-shot steps of the Docker Compose stack, run in the platform image: broker accounts, node join.

`python -m bootstrap.images.stack brokers` writes Mosquitto's config and accounts into its volume and
gives the platform's Kafka user its ACLs and topics; `python -m bootstrap.images.stack agent NODE`
enrols the node with the administrator's login on its first start, then runs the node agent.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from platform_sdk._client import ApiClient

from bootstrap.infra.mosquitto import mosquitto_conf
from bootstrap.infra.mosquitto_auth import ensure_platform_account, platform_env
from canopy.bus.kafka_acl import PLATFORM_USER, platform_grants
from canopy.bus.kafka_admin import Provisioner
from canopy.config import load_config
from canopy.nodes.enrolment import identity_dir
from canopy.private import write_private_file

BROKER_FILES = Path("/var/lib/canopy/broker")  # the Mosquitto volume, as the setup container mounts it
BROKER_DIR = Path("/var/lib/mosquitto")  # the same volume in the Mosquitto container
DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


def write_mosquitto_files(files: Path, port: int, username: str, password: str) -> None:
    """The broker's config and the dynamic-security accounts, with the platform account of the .env."""
    (files / "data").mkdir(parents=True, exist_ok=True)
    write_private_file(files / "platform.env", platform_env(port, username, password).encode())
    ensure_platform_account(files / "platform.env", files / "dynamic-security.json", port)
    conf = mosquitto_conf(
        BROKER_DIR / "data", BROKER_DIR / "dynamic-security.json", port, plugin=DYNSEC_PLUGIN
    )
    (files / "mosquitto.conf").write_text(conf)


def provision_kafka() -> None:
    """Create the platform services' SCRAM user, its ACLs and the topics (idempotent)."""
    config = load_config()
    admin = Provisioner(config.bus_url, config.kafka_admin_username, config.kafka_admin_password)
    admin.provision(PLATFORM_USER, config.kafka_password, platform_grants())


def brokers() -> None:
    """The broker step: Mosquitto's files, then Kafka's platform user."""
    config = load_config()
    port = int(os.environ["MQTT_PORT"])
    write_mosquitto_files(BROKER_FILES, port, config.mqtt_username, config.mqtt_password)
    provision_kafka()
    print("brokers ready: Mosquitto accounts written, Kafka platform user provisioned", flush=True)


def enrol(node_id: str) -> str:
    """Add the node with the administrator's login; the one-time token its agent joins with."""
    config = load_config()
    token = ApiClient(config.api_url).post(
        "/api/v1/auth/login", json={"user": "admin", "password": config.admin_password}
    )["token"]
    return str(
        ApiClient(config.api_url, token).post("/api/v1/nodes", json={"node_id": node_id})["join_token"]
    )


def agent(node_id: str) -> None:
    """Run the node agent with the docker runtime, joining first when this node has no identity yet."""
    from bootstrap.commands.agent import agent as agent_command

    args = ["--node-id", node_id, "--runtime", "docker"]
    if not (identity_dir(load_config().home, node_id) / "node.key").exists():
        args += ["--join-token", enrol(node_id)]
    agent_command.main(args=args, prog_name="canopy agent")


def main() -> None:
    """Python -m bootstrap.images.stack brokers | agent NODE_ID."""
    match sys.argv[1:]:
        case ["brokers"]:
            brokers()
        case ["agent", node_id]:
            agent(node_id)
        case _:
            sys.exit("usage: python -m bootstrap.images.stack brokers | agent NODE_ID")


if __name__ == "__main__":
    main()
