from __future__ import annotations

import pytest

from canopy.errors import ValidationFailed
from canopy.workloads.builder import python_candidates


def test_newest_python_is_tried_first() -> None:
    assert python_candidates("") == ["3.11", "3.9"]


def test_a_requested_python_is_the_only_candidate() -> None:
    assert python_candidates("3.9") == ["3.9"]


def test_a_python_without_a_base_image_is_refused() -> None:
    with pytest.raises(ValidationFailed, match=r"no root filesystem for Python 3\.10"):
        python_candidates("3.10")
