"""The ``fractal`` table (faafo's model) and its JSON form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PENDING = "pending"
READY = "ready"
FAILED = "failed"

#: Fields of the JSON record, in order (the image itself is never part of it).
RECORD_FIELDS = (
    "uuid", "status", "checksum", "size", "duration", "width", "height", "iterations",
    "xa", "xb", "ya", "yb", "generated_by",
)


def utcnow() -> datetime:
    """The current time in UTC, without tzinfo (as stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Fractal(Base):
    """One fractal: its parameters and, once rendered, the PNG and what describes it."""

    __tablename__ = "fractal"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    # Bumped whenever the parameters change, so a stale render is never stored.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    iterations: Mapped[int] = mapped_column(Integer)
    xa: Mapped[float] = mapped_column(Float)
    xb: Mapped[float] = mapped_column(Float)
    ya: Mapped[float] = mapped_column(Float)
    yb: Mapped[float] = mapped_column(Float)
    checksum: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(Integer)
    duration: Mapped[float | None] = mapped_column(Float)
    generated_by: Mapped[str | None] = mapped_column(String(255))
    image: Mapped[bytes | None] = mapped_column(LargeBinary(length=2**31 - 1), deferred=True)

    def to_json(self) -> dict[str, Any]:
        """The API record: every field but the image."""
        return {field: getattr(self, field) for field in RECORD_FIELDS}
