"""Where the Fractals app keeps its data: database URLs, engines, the schema."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from firstapp.fractals.defaults import default_db_path
from firstapp.fractals.models import Base


def resolve_db_url(db: str | Path | None) -> str:
    """A SQLAlchemy URL for ``--db``: a URL as given, a path as an SQLite URL."""
    if db is None:
        db = default_db_path()
    text = str(db)
    if "://" in text:
        make_url(text)  # raises ArgumentError when malformed
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def shown_url(db_url: str) -> str:
    """The URL for messages and logs: any password replaced by ``***``."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: nothing to hide in it either
        return db_url


def sqlite_path(db_url: str) -> Path | None:
    """The file behind an SQLite URL, or None (another database, or in memory)."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _on_sqlite_connect(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(db_url: str) -> Engine:
    """An engine safe to share between the web and render threads; creates the schema."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(db_url)
        if path is None:
            engine = create_engine(
                url, connect_args={"check_same_thread": False}, poolclass=StaticPool
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(engine, "connect", _on_sqlite_connect)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (records are returned after it)."""
    return sessionmaker(engine, expire_on_commit=False)
