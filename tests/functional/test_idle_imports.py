"""`canopy up --demo` on the embedded defaults loads no library it does not use (each costs idle memory)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOAD_THE_PLATFORM = """
import sys
from bootstrap.commands.up import up
from bootstrap.launch import SERVICES, factory_for
for name in SERVICES:
    factory_for(name)
print(" ".join(sorted(sys.modules)))
"""
UNUSED_ON_THE_EMBEDDED_DEFAULTS = {
    "confluent_kafka": "the Kafka bus and its admin client",
    "requests": "HTTP simulated devices",
    "docker": "the docker runtime",
    "psycopg": "PostgreSQL",
    "paho": "an MQTT broker",
    "alembic": "a store that needs migrating",
    "sqlalchemy.dialects.postgresql": "a PostgreSQL store",
    "cryptography": "Azure blob storage (node and command signatures use PyNaCl, 4 MB smaller)",
    "bootstrap.commands.model": "the client commands (`canopy model`, `canopy device`, ...)",
    "bootstrap.commands.device": "the client commands",
}


def test_the_embedded_platform_loads_only_what_it_uses() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_THE_PLATFORM],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    packages = {name.split(".")[0] for name in loaded}
    unused = {
        name: why
        for name, why in UNUSED_ON_THE_EMBEDDED_DEFAULTS.items()
        if name in packages or name in loaded
    }
    assert unused == {}
