"""E-mail building: addresses, header injection refused, message headers and body, the outbox writer."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from canopy.config import load_config
from canopy.errors import ConfigError, NoSuchDriver, ValidationFailed
from canopy.mail import Mail, build_message, open_mail
from canopy.mail.addresses import check_recipient, domain_allowed, one_line, parse_address, parse_domains
from canopy.mail.transport import OutboxTransport, SmtpTransport

AT = datetime(2025, 3, 30, 7, 30, tzinfo=UTC)


def mail(**changes: object) -> Mail:
    values: dict[str, object] = {
        "to": "ada@example.org",
        "subject": "Fan failure predicted",
        "body": "p=0.93 — the fan at plant-fan-2.\n",
        "mail_id": "0123abcd",
        "at": AT,
        "kind": "app-notification",
        "headers": {"Instance": "i-1"},
    }
    values.update(changes)
    return Mail(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ada@example.org", "ada@example.org"),
        ("  Ada.Lovelace+fans@Example.ORG ", "Ada.Lovelace+fans@example.org"),
        ("ops@localhost", "ops@localhost"),
    ],
)
def test_plain_addresses_are_accepted_and_their_domain_lower_cased(text: str, expected: str) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ada@example.org\r\nBcc: victim@example.net",
        "ada@example.org\nBcc: victim@example.net",
        "ada@example.org, victim@example.net",
        "ada@example.org;victim@example.net",
        "Ada <ada@example.org>",
        "ada",
        "@example.org",
        "ada@",
        "ada@@example.org",
        "ada@exa mple.org",
        ".ada@example.org",
        "a..da@example.org",
        "ada@-example.org",
        "adä@example.org",
        "x" * 65 + "@example.org",
        "ada@" + "a" * 300 + ".org",
    ],
)
def test_anything_but_one_plain_address_is_refused(text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_address(text)
    assert "to" in caught.value.details


@pytest.mark.parametrize(
    "subject", ["hi\r\nBcc: x@example.net", "hi\nthere", "hi\rthere", "a\x00b", "a\u2028b"]
)
def test_a_subject_with_a_line_break_or_control_character_is_refused(subject: str) -> None:
    with pytest.raises(ValidationFailed, match="subject must be one line"):
        build_message(mail(subject=subject), "canopy@localhost")


def test_a_recipient_header_injection_is_refused_when_building() -> None:
    with pytest.raises(ValidationFailed):
        build_message(mail(to="ada@example.org\r\nBcc: victim@example.net"), "canopy@localhost")


def test_a_platform_made_header_text_is_flattened_to_one_line() -> None:
    assert one_line("fan-monitor\r\nBcc: x@y.z\tat\x00plant") == "fan-monitor Bcc: x@y.z at plant"


def test_recipient_domains_allow_the_listed_domains_and_their_subdomains_only() -> None:
    domains = parse_domains("Example.org, @ops.example.net")
    assert domains == ("example.org", "ops.example.net")
    assert domain_allowed("a@example.org", domains) and domain_allowed("a@mail.example.org", domains)
    assert not domain_allowed("a@badexample.org", domains) and not domain_allowed("a@example.net", domains)
    assert domain_allowed("a@anything.test", ())
    with pytest.raises(ValidationFailed, match="CANOPY_MAIL_RECIPIENT_DOMAINS"):
        check_recipient("a@example.com", domains)
    assert check_recipient("A@Mail.Example.org", domains) == "A@mail.example.org"


def test_the_message_has_the_headers_and_a_utf8_body() -> None:
    message = build_message(mail(), "canopy@localhost")
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert parsed["From"] == "canopy@localhost"
    assert parsed["To"] == "ada@example.org"
    assert parsed["Subject"] == "Fan failure predicted"
    assert parsed["Message-ID"] == "<0123abcd@canopy.invalid>"
    assert parsed["Date"] == "Sun, 30 Mar 2025 07:30:00 +0000"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["X-Canopy-Kind"] == "app-notification"
    assert parsed["X-Canopy-Instance"] == "i-1"
    assert parsed.get_content().replace("\r\n", "\n") == "p=0.93 — the fan at plant-fan-2.\n"
    assert b"\r\n" in message.as_bytes()  # SMTP line endings


def test_a_long_non_ascii_subject_is_encoded_not_split_into_new_headers() -> None:
    subject = "Fühler ausgefallen: " + "ä" * 150
    parsed = email.message_from_bytes(
        build_message(mail(subject=subject), "canopy@localhost").as_bytes(), policy=email.policy.default
    )
    assert parsed["Subject"] == subject
    assert parsed["Bcc"] is None


def test_the_outbox_writes_each_mail_atomically_as_a_private_eml_file(tmp_path: Path) -> None:
    outbox = OutboxTransport(f"file://{tmp_path}/outbox")
    where = outbox.send(build_message(mail(), "canopy@localhost"))
    path = Path(where)
    assert path == tmp_path / "outbox" / "0123abcd.eml"
    assert os.stat(path).st_mode & 0o777 == 0o600
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "ada@example.org"
    assert sorted(p.name for p in path.parent.iterdir()) == ["0123abcd.eml"]  # no temporary file left
    outbox.send(build_message(mail(body="again\n"), "canopy@localhost"))  # a redelivery replaces it
    assert sorted(p.name for p in path.parent.iterdir()) == ["0123abcd.eml"]


def test_the_mail_url_picks_the_driver_or_names_the_one_meant(tmp_path: Path) -> None:
    config = load_config({"CANOPY_HOME": str(tmp_path)})
    assert isinstance(open_mail(config), OutboxTransport)
    smtp = open_mail(load_config({"CANOPY_HOME": str(tmp_path), "CANOPY_MAIL_URL": "smtp://127.0.0.1:1025"}))
    assert isinstance(smtp, SmtpTransport) and (smtp.host, smtp.port, smtp.security) == (
        "127.0.0.1",
        1025,
        "plain",
    )
    tls = open_mail(load_config({"CANOPY_HOME": str(tmp_path), "CANOPY_MAIL_URL": "smtp+starttls://mx.test"}))
    assert isinstance(tls, SmtpTransport) and (tls.port, tls.security) == (587, "starttls")
    with pytest.raises(NoSuchDriver, match="Did you mean 'smtp'"):
        open_mail(load_config({"CANOPY_HOME": str(tmp_path), "CANOPY_MAIL_URL": "smtpp://mx.test"}))
    with pytest.raises(ConfigError, match="CANOPY_MAIL_URL"):
        load_config({"CANOPY_HOME": str(tmp_path), "CANOPY_MAIL_URL": "mx.test:25"})
    with pytest.raises(ConfigError, match="CANOPY_MAIL_FROM"):
        load_config({"CANOPY_HOME": str(tmp_path), "CANOPY_MAIL_FROM": "Canopy <canopy@x.test>"})
    with pytest.raises(ConfigError, match="CANOPY_MAIL_RECIPIENT_DOMAINS"):
        load_config(
            {"CANOPY_HOME": str(tmp_path), "CANOPY_MAIL_RECIPIENT_DOMAINS": "example.org, bad domain"}
        )
