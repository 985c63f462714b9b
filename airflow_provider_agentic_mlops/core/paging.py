"""One page of an ordered list (the overview's models): which items it holds and where it stands."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """Page ``number`` (1-based) of ``size`` items out of ``total``.

    :param items: the items on this page (none when the page is beyond the last one).
    :param number: which page, counted from 1.
    :param size: items per page.
    :param total: items on all pages.
    """

    items: list[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (one, empty, when there are no items)."""
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        """1-based position of the page's first item in the whole list (0 on an empty page)."""
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last(self) -> int:
        """1-based position of the page's last item (0 on an empty page)."""
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def beyond_end(self) -> bool:
        """Whether the page is past the last one (a stale link, or a number typed by hand)."""
        return self.number > self.pages


def page_of(items: Sequence[T], number: int, size: int) -> Page[T]:
    """Page ``number`` (from 1) of ``size`` items of ``items``, in their order.

    :param items: the whole list, already filtered and in a stable order (so that pages do not overlap).
    :param number: which page, counted from 1.
    :param size: items per page, at least 1.
    """
    if number < 1 or size < 1:
        raise ValueError(f"page {number} of size {size}: pages are counted from 1 and hold at least one item")
    start = (number - 1) * size
    return Page(items=list(items[start : start + size]), number=number, size=size, total=len(items))
