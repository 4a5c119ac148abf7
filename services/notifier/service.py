"""Assemble the notifier: one subscription to booking events and notification requests, and a transport."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from canopy.bus.typed import Subscriber
from canopy.config import Config
from canopy.contracts import topics
from canopy.mail import MailTransport, open_mail
from canopy.runtime import Component
from canopy.runtime.backends import Backends
from canopy.runtime.subscription import SubscriptionLoop
from services.notifier.delivery import Notifier, Policy, store_recipients

log = logging.getLogger(__name__)

GROUP = "notifier"


@dataclass(frozen=True)
class Placement:
    """The notifier's consumer group and start offsets (tests on a shared broker start at the newest)."""

    group: str = GROUP
    from_beginning: bool = True


def mail_policy(config: Config) -> Policy:
    """The sender and the app-mail bounds of the CANOPY_MAIL_* settings."""
    return Policy(
        sender=str(config.mail_from),
        per_instance=int(config.mail_per_instance),
        per_recipient=int(config.mail_per_recipient),
        recipient_domains=tuple(config.mail_recipient_domains),
    )


def notifier_components(
    backends: Backends, transport: MailTransport | None = None, placement: Placement | None = None
) -> list[Component]:
    """The notifier's components on the configured backends and CANOPY_MAIL_URL."""
    where = placement or Placement()
    transport = transport or open_mail(backends.config)
    notifier = Notifier(
        backends.bus, transport, store_recipients(backends.store), mail_policy(backends.config), where.group
    )
    log.info("notifier: mail goes to %s", transport.describe())
    subscribed = [topics.BOOKINGS, topics.NOTIFICATIONS]
    return [
        SubscriptionLoop(
            "notifier",
            lambda: Subscriber(
                backends.bus, where.group, subscribed, notifier.handle, from_beginning=where.from_beginning
            ),
        )
    ]
