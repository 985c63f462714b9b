"""Pages of an ordered list: the overview's pagination."""

from __future__ import annotations

import pytest

from airflow_provider_agentic_mlops.core.paging import page_of

NAMES = [f"m{i:02d}" for i in range(23)]


def test_pages_cover_the_list_once_in_order_and_say_where_they_stand() -> None:
    pages = [page_of(NAMES, n, 5) for n in range(1, 6)]
    assert [name for page in pages for name in page.items] == NAMES
    second = pages[1]
    assert (second.items, second.first, second.last, second.total, second.pages) == (NAMES[5:10], 6, 10, 23, 5)
    assert (pages[-1].first, pages[-1].last, pages[-1].beyond_end) == (21, 23, False)


def test_a_page_past_the_last_is_empty_and_says_so() -> None:
    page = page_of(NAMES, 6, 5)
    assert (page.items, page.first, page.last, page.beyond_end, page.pages) == ([], 0, 0, True, 5)
    assert page_of(NAMES, 10**30, 5).beyond_end


def test_no_items_is_one_empty_page() -> None:
    page = page_of([], 1, 50)
    assert (page.items, page.pages, page.beyond_end, page.first) == ([], 1, False, 0)
    assert page_of([], 2, 50).beyond_end


@pytest.mark.parametrize(("number", "size"), [(0, 5), (1, 0), (-1, 5)])
def test_pages_count_from_one_and_hold_at_least_one_item(number: int, size: int) -> None:
    with pytest.raises(ValueError, match=f"page {number} of size {size}"):
        page_of(NAMES, number, size)
