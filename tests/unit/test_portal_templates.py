"""Every form of the portal's templates that posts carries the CSRF token field."""

from __future__ import annotations

import re

from services.gateway.portal import TEMPLATES

FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
POSTS = re.compile(r"""method=["']?post""", re.I)
# The csrf() macro, or the hidden field it renders written out (the layout's sign-out form).
TOKEN_FIELD = re.compile(
    re.escape("{{ csrf() }}") + "|" + re.escape('name="{{ csrf_field }}" value="{{ csrf_token() }}"')
)


def forms_without_token(template: str) -> list[str]:
    """The opening tags of the template's posting forms that carry no CSRF token field."""
    return [
        f"<form{attributes}>"
        for attributes, body in FORM.findall(template)
        if POSTS.search(attributes) and not TOKEN_FIELD.search(body)
    ]


def test_every_posting_form_carries_the_token() -> None:
    templates = sorted(TEMPLATES.rglob("*.html"))
    forms = [attributes for path in templates for attributes, _ in FORM.findall(path.read_text())]
    posting = sum(1 for attributes in forms if POSTS.search(attributes))
    assert posting >= 25, "the templates' forms were not found"
    missing = {
        str(path.relative_to(TEMPLATES)): found
        for path in templates
        if (found := forms_without_token(path.read_text()))
    }
    assert missing == {}


def test_a_form_without_the_token_is_found() -> None:
    page = (
        '<form method="post" action="/a">{{ csrf() }}<button>ok</button></form>'
        '<form method="get" class="filter"><input name="q"></form>'
        '<form method="POST" action="/b"><input name="x"></form>'
    )
    assert forms_without_token(page) == ['<form method="POST" action="/b">']
