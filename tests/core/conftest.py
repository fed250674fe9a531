"""Fixtures shared by the core's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from threadline.testing import CapturedSpans, capture


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    """The spans threadline records during the test (no integration installed)."""
    with capture(integrations=[]) as captured:
        yield captured
