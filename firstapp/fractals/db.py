"""Where the Fractals app keeps its data: database URLs, engines, the schema."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from firstapp.errors import FirstappError
from firstapp.fractals.defaults import default_db
from firstapp.fractals.models import Base


class InvalidDatabase(FirstappError):
    """A ``--db`` that cannot work: unparsable, in memory where it must persist, or a path
    where no database file can be."""


def resolve_db_url(db: str | Path | None) -> str:
    """A SQLAlchemy URL for ``--db``: a URL as given, a path as an SQLite URL.

    Raises :class:`InvalidDatabase` for a URL SQLAlchemy cannot parse.
    """
    if db is None:
        db = default_db()  # $FRACTALS_DB, else the default file
    text = str(db)
    if "://" in text:
        _parse(text)
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def _parse(db_url: str) -> URL:
    try:
        return make_url(db_url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise InvalidDatabase(
            f"--db: {shown_url(db_url)} is not a database path or SQLAlchemy URL ({exc})"
        ) from None


def in_memory(url: URL) -> bool:
    """True for an SQLite database that lives in memory (``sqlite://``, ``:memory:``,
    ``file:...?mode=memory``): it is gone when the process ends."""
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


def check_db_url(db_url: str, *, allow_memory: bool = False) -> str:
    """``db_url`` if a database can live there, else :class:`InvalidDatabase` saying why.

    Checks, without creating anything: that SQLAlchemy can parse it; that it is not an
    in-memory SQLite database (unless ``allow_memory``: nothing written there is kept);
    that an SQLite file path is not a directory and not below a regular file.
    """
    url = _parse(db_url)
    if in_memory(url):
        if allow_memory:
            return db_url
        raise InvalidDatabase(
            f"--db: {db_url} is an in-memory database: nothing written to it "
            "would be kept; give a file path or a server's URL"
        )
    path = sqlite_path(db_url)
    if path is None:
        return db_url
    if path.name.startswith("file:") or str(path).startswith("file:"):
        return db_url  # an SQLite URI filename: SQLite resolves it
    if path.is_dir():
        raise InvalidDatabase(f"--db: {path} is a directory, not a database file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InvalidDatabase(
                    f"--db: {path} is below {parent}, which is a file, not a directory"
                )
            break
    return db_url


#: Query-string keys whose values :func:`shown_url` hides (``?password=...``, ``sslkey``...)
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential", re.I)


def shown_url(db_url: str) -> str:
    """The URL for messages and logs: its password, and any query-string value whose key
    names a secret, replaced by ``***``."""
    try:
        url = make_url(db_url)
        hidden = {k: "***" for k in url.query if _SECRET_KEY.search(k)}
        shown = url.update_query_dict(hidden).render_as_string(hide_password=True)
        return shown.replace("=%2A%2A%2A", "=***")
    except Exception:  # not a URL SQLAlchemy can parse: hide what looks like a password
        shown = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", db_url)
        return re.sub(rf"([?&][^=&]*(?:{_SECRET_KEY.pattern})[^=&]*=)[^&]*", r"\1***",
                      shown, flags=re.I)


def sqlite_path(db_url: str) -> Path | None:
    """The file behind an SQLite URL, or None (another database, or in memory)."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or in_memory(url):
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
