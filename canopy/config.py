"""Every CANOPY_* setting, declared once with its type, default and doc, and validated at start."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platform_sdk.environment import DEFAULT_API_URL, DEFAULT_HOME

from canopy.errors import CanopyError, ConfigError
from canopy.private import make_private_dir

Parser = Callable[[str], Any]


@dataclass(frozen=True)
class Setting:
    """One configuration key: its environment name, parser, default and documentation."""

    key: str
    doc: str
    default: str
    parse: Parser = str
    choices: tuple[str, ...] = ()
    accepted: str = "any text"
    secret: bool = False

    def read(self, raw: str) -> Any:
        """Parse a raw value, raising ConfigError that names the key and what it accepts."""
        if self.choices and raw not in self.choices:
            raise ConfigError(f"{self.key}={raw!r} is not valid; accepted values: {', '.join(self.choices)}")
        try:
            return self.parse(raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"{self.key}={raw!r} is not valid ({exc}); accepted values: {self.accepted}"
            ) from exc


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be between 0 and 65535")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _rootfs_dir(raw: str) -> str:
    """The root filesystem cache: as root a system directory workload uids can traverse, else the user's."""
    if raw:
        return str(Path(raw).expanduser())
    return "/var/lib/canopy/rootfs" if os.geteuid() == 0 else str(Path("~/.cache/canopy/rootfs").expanduser())


def _mail_domains(raw: str) -> tuple[str, ...]:
    from canopy.mail.addresses import parse_domains

    try:
        return parse_domains(raw)
    except CanopyError as exc:
        raise ValueError(exc.message) from None


def _mail_address(raw: str) -> str:
    from canopy.mail.addresses import parse_address

    try:
        return parse_address(raw, "address")
    except CanopyError as exc:
        raise ValueError(exc.message) from None


def _topic_prefix(raw: str) -> str:
    from canopy.bus.naming import parse_prefix

    return parse_prefix(raw)


def _url(*schemes: str) -> Parser:
    def parse(raw: str) -> str:
        if raw and "://" not in raw:
            raise ValueError(f"expected a URL like {schemes[0]}://...")
        return raw

    return parse


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "CANOPY_HOME",
        "Directory for the embedded backends' data, logs and caches.",
        DEFAULT_HOME,
        parse=lambda raw: str(Path(raw).expanduser()),
        accepted="a directory path",
    ),
    Setting(
        "CANOPY_ROOTFS_DIR",
        "Cache of the Debian root filesystems workloads run in (outside CANOPY_HOME, shared by every "
        "platform on the machine); empty: /var/lib/canopy/rootfs as root, else ~/.cache/canopy/rootfs.",
        "",
        parse=_rootfs_dir,
        accepted="a directory path, or empty",
    ),
    Setting(
        "CANOPY_BUS_URL",
        "Message bus: sqlite:///path or kafka://host:port[,host:port].",
        "sqlite:///{home}/bus.db",
        parse=_url("sqlite", "kafka"),
        accepted="sqlite:///path, kafka://host:port",
    ),
    Setting(
        "CANOPY_BUS_PARTITIONS",
        "Partitions given to topics created on demand.",
        "3",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_TOPIC_PREFIX",
        "This platform's namespace on a shared Kafka cluster: its topics, consumer groups and node and "
        "device logins are named <prefix>.<name> (e.g. team-a.canopy.telemetry), so platforms and test "
        "runs sharing one cluster never see each other's messages; empty: the plain names.",
        "",
        parse=_topic_prefix,
        accepted="letters, digits, '-' and '.', e.g. team-a; or empty",
    ),
    Setting(
        "CANOPY_KAFKA_USERNAME",
        "SASL/SCRAM user of this process on a kafka:// bus (`canopy infra status` prints it); empty: none.",
        "",
    ),
    Setting("CANOPY_KAFKA_PASSWORD", "SASL/SCRAM password of CANOPY_KAFKA_USERNAME.", "", secret=True),
    Setting(
        "CANOPY_KAFKA_ADMIN_USERNAME",
        "Kafka admin user the gateway creates node and device principals with; empty: it creates none.",
        "",
    ),
    Setting(
        "CANOPY_KAFKA_ADMIN_PASSWORD", "SASL/SCRAM password of CANOPY_KAFKA_ADMIN_USERNAME.", "", secret=True
    ),
    Setting(
        "CANOPY_DB_URL",
        "Platform state: an SQLAlchemy URL (sqlite:///path or postgresql://...).",
        "sqlite:///{home}/canopy.db",
        parse=_url("sqlite", "postgresql"),
        accepted="sqlite:///path, postgresql://user:pass@host:port/db",
        secret=True,
    ),
    Setting(
        "CANOPY_BLOB_URL",
        "Artifact store: file:///dir or azure://container.",
        "file://{home}/blobs",
        parse=_url("file", "azure"),
        accepted="file:///dir, azure://container",
    ),
    Setting(
        "CANOPY_AZURE_CONNECTION_STRING",
        "Azure Blob connection string, for azure:// blob URLs.",
        "",
        secret=True,
    ),
    Setting("CANOPY_AZURE_ACCOUNT", "Azure storage account name (used with CANOPY_AZURE_KEY).", ""),
    Setting(
        "CANOPY_AZURE_KEY", "Azure storage account key (used with CANOPY_AZURE_ACCOUNT).", "", secret=True
    ),
    Setting(
        "CANOPY_AZURE_ENDPOINT", "Blob endpoint for account/key auth; empty means Azure's public one.", ""
    ),
    Setting(
        "CANOPY_MQTT_URL",
        "MQTT broker the device manager bridges device telemetry from (mqtt://host:port); empty: no bridge.",
        "",
        parse=_url("mqtt"),
        accepted="mqtt://host:port, or empty",
    ),
    Setting(
        "CANOPY_MAIL_URL",
        "Where the notifier delivers e-mail: file:///dir writes one .eml file per mail; smtp://host:port, "
        "smtp+starttls://host:port or smtps://host:port sends through that SMTP server.",
        "file://{home}/outbox",
        parse=_url("file", "smtp", "smtp+starttls", "smtps"),
        accepted="file:///dir, smtp://host:port, smtp+starttls://host:port, smtps://host:port",
    ),
    Setting(
        "CANOPY_MAIL_FROM",
        "Sender address of the platform's e-mail.",
        "canopy@localhost",
        parse=_mail_address,
        accepted="one address like canopy@example.org",
    ),
    Setting("CANOPY_MAIL_USERNAME", "SMTP login of the notifier; empty: no login.", ""),
    Setting("CANOPY_MAIL_PASSWORD", "Password of CANOPY_MAIL_USERNAME.", "", secret=True),
    Setting(
        "CANOPY_MAIL_PER_INSTANCE",
        "E-mails one app instance may have sent per hour (on top of the gateway's 10 requests a minute); "
        "the notifier records the others as undelivered.",
        "30",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_MAIL_PER_RECIPIENT",
        "E-mails apps may have sent to one address per hour; the notifier records the others as undelivered.",
        "30",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_MAIL_RECIPIENT_DOMAINS",
        "Comma-separated mail domains an app may address with `to` (subdomains included); empty: any.",
        "",
        parse=_mail_domains,
        accepted="domains separated by commas, or empty",
    ),
    Setting(
        "CANOPY_POSTGRES_PORT",
        "Port of the PostgreSQL cluster `canopy infra up` runs (one Debian cluster per port).",
        "5432",
        parse=_port,
        accepted="0-65535",
    ),
    Setting(
        "CANOPY_MQTT_USERNAME",
        "MQTT account of the platform (the bridge and device account management).",
        "canopy-platform",
    ),
    Setting(
        "CANOPY_MQTT_PASSWORD",
        "Password of the platform's MQTT account; `canopy infra up` writes it to "
        "$CANOPY_HOME/infra/mosquitto/platform.env.",
        "",
        secret=True,
    ),
    Setting("CANOPY_API_HOST", "Address the gateway listens on.", "127.0.0.1", accepted="an IP address"),
    Setting("CANOPY_API_PORT", "Port the gateway listens on.", "8080", parse=_port, accepted="0-65535"),
    Setting(
        "CANOPY_API_THREADS",
        "Gateway threads for ordinary requests (streams and command waits get their own on top).",
        "8",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_STREAMS_PER_USER",
        "Device streams and command waits one user may hold open at once; more get 429.",
        "4",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_STREAMS_TOTAL",
        "Device streams and command waits the gateway serves at once, over all users; more get 429.",
        "32",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_API_URL",
        "Gateway URL used by the CLI and the SDK.",
        DEFAULT_API_URL,
        parse=_url("http", "https"),
    ),
    Setting(
        "CANOPY_GATEWAY_URL",
        "Gateway URL as a node agent reaches it, which app workloads call (docker workloads get the "
        "workload bridge's address with this port); empty: http://CANOPY_API_HOST:CANOPY_API_PORT.",
        "",
        parse=_url("http", "https"),
        accepted="http://host:port, or empty",
    ),
    Setting(
        "CANOPY_TOKEN",
        "API token used by the CLI and the SDK; overrides the one saved by login.",
        "",
        secret=True,
    ),
    Setting(
        "CANOPY_PASSWORD",
        "Password `canopy login` and `canopy user add` use instead of prompting.",
        "",
        secret=True,
    ),
    Setting(
        "CANOPY_ADMIN_PASSWORD",
        "Password given to the 'admin' user on first start; generated if empty.",
        "",
        secret=True,
    ),
    Setting(
        "CANOPY_PROMETHEUS_TOKEN",
        "Bearer token Prometheus sends to /api/v1/metrics/targets (service discovery); empty: admins only.",
        "",
        secret=True,
    ),
    Setting(
        "CANOPY_TOKEN_TTL_HOURS",
        "Lifetime of API tokens issued by login.",
        "720",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_BOOKING_MAX_HOURS",
        "Longest window a booking may book, in hours (each window of a recurring booking).",
        "24",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_BOOKING_HORIZON_DAYS",
        "How far ahead a recurring booking may run (its --until), and how far the next free slot of a "
        "conflict is searched, in days.",
        "31",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_BOOKING_LEAD_SECONDS",
        "How long before a booked window opens the scheduler binds the instance and fetches its package.",
        "60",
        parse=_non_negative_float,
        accepted="a number >= 0",
    ),
    Setting(
        "CANOPY_HEARTBEAT_INTERVAL",
        "Seconds between service heartbeats.",
        "2",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_NODE_REPORT_INTERVAL",
        "Seconds between a node agent's status reports (each carries its replicas' process state and probe).",
        "1",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_HEAL_REPLICA_TIMEOUT",
        "Seconds a replica may go without a good report before an exited or frozen process is restarted.",
        "1",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_HEAL_HANG_TIMEOUT",
        "Seconds a running replica may fail its probe before it counts as hung and is restarted.",
        "4",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_HEAL_NODE_TIMEOUT",
        "Seconds without a node's status report before the node, its replicas unreachable too, counts as "
        "lost and its replicas are placed elsewhere.",
        "6",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_HEAL_SERVICE_TIMEOUT",
        "Heartbeat intervals a platform service may miss before it is reported (and restarted by canopy up).",
        "3",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_HEAL_BACKOFF",
        "Seconds between a workload's first and second restart; doubles per restart up to 30 s.",
        "1",
        parse=_non_negative_float,
        accepted="a number >= 0",
    ),
    Setting(
        "CANOPY_HEAL_RESTARTS",
        "Restarts a workload gets per CANOPY_HEAL_WINDOW before it is marked failed and an alert goes out.",
        "5",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_HEAL_WINDOW",
        "Seconds over which CANOPY_HEAL_RESTARTS is counted.",
        "600",
        parse=_positive_float,
        accepted="a number > 0",
    ),
    Setting(
        "CANOPY_HEAL_ALERT_TO",
        "Address the heartbeat service's alerts (a workload given up on, a lost node) are mailed to; "
        "empty: the workload's owner.",
        "",
    ),
    Setting(
        "CANOPY_HEAL_SPARES",
        "on: a node on the process runtime keeps one warm spare of each model it serves (started after "
        "the replica is ready, confined like it, using its memory), so a crashed or hung replica is "
        "replaced by a handover instead of a cold start; off: no spares.",
        "on",
        parse=lambda raw: raw == "on",
        choices=("on", "off"),
    ),
    Setting(
        "CANOPY_DOCKER_POOL",
        "on: a node on the docker runtime keeps one ready container per dependencies image of the models it "
        "started (hardened like a replica, its framework imported, holding no package), which the next model "
        "of that image takes instead of starting cold; off: no pool.",
        "on",
        parse=lambda raw: raw == "on",
        choices=("on", "off"),
    ),
    Setting(
        "CANOPY_OPS_PORT",
        "Port for /health and /metrics of a standalone service; 0 picks a free one.",
        "0",
        parse=_port,
        accepted="0-65535",
    ),
    Setting(
        "CANOPY_LOG_RETENTION_DAYS",
        "Days the logger keeps log records and dead letters (finished days are archived to blob storage).",
        "7",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_LOG_MAX_RECORDS",
        "Most log records the logger keeps; the oldest go first.",
        "1000000",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_LOG_LINES_PER_SECOND",
        "Lines per second of one workload's output shipped to the logger; the rest are counted as dropped.",
        "200",
        parse=_positive_int,
        accepted="an integer >= 1",
    ),
    Setting(
        "CANOPY_LOG_LEVEL",
        "Log level of platform services.",
        "INFO",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    ),
)

_BY_KEY = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True)
class Config:
    """Validated settings, read by key name without the CANOPY_ prefix in lower case."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[f"CANOPY_{name.upper()}"]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def home(self) -> Path:
        """The data directory, created (mode 0700) on first use."""
        return make_private_dir(Path(self.values["CANOPY_HOME"]))


def gateway_url(config: Config) -> str:
    """The gateway as app workloads reach it: CANOPY_GATEWAY_URL, else the API's listen address."""
    if config.gateway_url:
        return str(config.gateway_url).rstrip("/")
    host = str(config.api_host)
    host = "127.0.0.1" if host in ("", "0.0.0.0") else f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.api_port}"


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate every CANOPY_* key; unknown CANOPY_* keys are refused with a suggestion."""
    env = os.environ if environ is None else environ
    for key in env:
        if key.startswith("CANOPY_") and key not in _BY_KEY:
            close = difflib.get_close_matches(key, _BY_KEY, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise ConfigError(f"Unknown setting {key}.{hint} Run 'canopy config' to list the settings.")
    home_setting = _BY_KEY["CANOPY_HOME"]
    home = home_setting.read(env.get(home_setting.key) or home_setting.default)
    values: dict[str, Any] = {home_setting.key: home}
    for setting in SETTINGS:
        if setting is home_setting:
            continue
        raw = env.get(setting.key)
        raw = setting.default.replace("{home}", home) if raw is None else raw
        values[setting.key] = setting.read(raw)
    return Config(values)


def describe_settings() -> list[dict[str, str]]:
    """Rows documenting every setting, for `canopy config` and the README."""
    return [
        {"key": s.key, "default": s.default, "accepted": ", ".join(s.choices) or s.accepted, "doc": s.doc}
        for s in SETTINGS
    ]
