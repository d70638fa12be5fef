"""The page helpers escape what they are given and embed only PNG data URIs."""

from __future__ import annotations

import pytest

from deepfit.report.html import Section, escape, image, paragraph, render_page, table


def test_escape_covers_markup_and_quotes() -> None:
    assert escape('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"


def test_table_escapes_cells_and_marks_the_best_column() -> None:
    html = table(["metric", "<b>"], [("RMSE", "1<2")], best_column=1)
    assert '<th class="best">&lt;b&gt;</th>' in html
    assert '<td class="best">1&lt;2</td>' in html
    assert "<b>" not in html


def test_image_accepts_only_png_data_uris() -> None:
    assert '<img src="data:image/png;base64,AAAA"' in image("data:image/png;base64,AAAA", "x")
    with pytest.raises(ValueError, match="PNG data URIs"):
        image("https://example.com/chart.png", "remote")


def test_page_has_no_scripts_and_a_strict_content_policy() -> None:
    page = render_page("<t>", ["a<b"], [Section("s", "S&S", paragraph("<script>"))])
    assert "<script" not in page
    assert "default-src 'none'" in page
    assert "<title>&lt;t&gt;</title>" in page
    assert "S&amp;S" in page
    assert "a&lt;b" in page
