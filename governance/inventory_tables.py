"""Tables owned by the model inventory (governance.inventory).

``model_inventory_edits`` keeps every admin edit of one inventory field of one model (the models
file holds the rest): the newest row per (model, field) wins over the file. ``value`` is the
field's value as JSON text (a date as ISO text, ``null`` for "not set"); rows are never updated,
so the table is also the history of the inventory.

``model_inventory_reminders`` remembers, per model, the review due date the health job last sent
an "inventory review overdue" webhook note about and when, so the note goes out once a week
rather than at every health run.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class InventoryEdit(Base):
    """One admin edit of ``field`` of ``model``'s inventory entry."""

    __tablename__ = "model_inventory_edits"
    __table_args__ = (Index("ix_model_inventory_edits_model_field", "model", "field"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)  # JSON
    edited_by: Mapped[str] = mapped_column(String(128))
    edited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text, default="")


class InventoryReminder(Base):
    """The last overdue-review note sent for ``model``: for which due date, and when."""

    __tablename__ = "model_inventory_reminders"

    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    due: Mapped[date | None] = mapped_column(Date, nullable=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
