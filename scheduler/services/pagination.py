from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select

from ..extensions import db


@dataclass
class Page:
    items: list
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def paginate(query: Select, page: int, page_size: int) -> Page:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(db.session.scalars(query.limit(page_size).offset((page - 1) * page_size)))
    return Page(items=items, total=total or 0, page=page, page_size=page_size)
