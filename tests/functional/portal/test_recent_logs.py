"""The model page shows the model's recent log lines (escaped), and only to who may see the model."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from canopy.contracts.system import LogRecord
from canopy.logs.store import log_row, store_batch
from canopy.roles import Role
from canopy.runtime.backends import Backends
from tests.functional.portal.test_models import text, uploaded
from tests.portal_forms import PortalBrowser


def test_the_model_page_shows_its_recent_lines(
    signed_in: Callable[[Role], PortalBrowser], backends: Backends
) -> None:
    developer = signed_in(Role.AI_DEVELOPER)
    model_id = uploaded(developer)
    now = datetime.now(UTC)
    store_batch(
        backends.store,
        [
            log_row(
                LogRecord(at=now, level="ERROR", source="model", model_id=model_id, message="<b>boom</b>")
            ),
            log_row(LogRecord(at=now, level="INFO", source="model", model_id="m-other", message="not mine")),
        ],
    )
    page = developer.get(f"/portal/models/{model_id}")
    assert "ERROR &lt;b&gt;boom&lt;/b&gt;" in page.get_data(as_text=True)
    assert "not mine" not in text(page) and f"canopy logs --model {model_id} --follow" in text(page)
    assert signed_in(Role.APP_DEVELOPER).get(f"/portal/models/{model_id}").status_code == 403
