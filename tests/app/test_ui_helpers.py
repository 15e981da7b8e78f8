"""Pure helpers of the UI package: secrets never shown, user text never interpreted."""

from __future__ import annotations

import re

import pytest

from ui.components import esc
from ui.escape import WORD_JOINER
from ui.loaders import mask_url


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://vigil:s3cr@t@db:5432/vigil", "postgresql+psycopg://vigil:***@db:5432/vigil"),
    ("http://scraper:pw@prometheus:9090", "http://scraper:***@prometheus:9090"),
    ("sqlite:////srv/vigil/data/vigil.db", "sqlite:////srv/vigil/data/vigil.db"),
    ("http://prometheus:9090/api@v1", "http://prometheus:9090/api@v1"),
])
def test_mask_url_hides_only_the_password(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_esc_neutralises_markdown_links_html_and_emphasis() -> None:
    text = "[click](http://evil) <img src=x> **bold** `code`\n# heading"
    escaped = esc(text)
    assert "\n" not in escaped
    assert not re.search(r"(?<!\\)[\[\]<>*`#]", escaped)  # every special character is escaped
    assert "http://" not in escaped  # no auto-link either (issue 8 item 9)
    assert escaped.replace("\\", "").replace(WORD_JOINER, "") == text.replace("\n", " ")
