"""The Fractals app's web API (faafo's REST contract) and its HTML gallery."""

from __future__ import annotations

import math
import re
import tarfile
import uuid as uuidlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from firstapp.errors import FirstappError
from firstapp.fractals.db import check_db_url, make_engine, make_sessionmaker, shown_url
from firstapp.fractals.imagestore import (
    DATABASE,
    DEFAULT_STORE_TIMEOUT,
    DatabaseImages,
    ImageMissing,
    ImageStore,
    ImageStoreDown,
    open_image_store,
)
from firstapp.fractals.models import FAILED, PENDING, READY, RECORD_FIELDS, Fractal
from firstapp.fractals.params import FIELDS, InvalidParameter, validate
from firstapp.fractals.worker import RenderPool, params_of

#: Page size when ``results_per_page`` is not given (flask-restless's default, as faafo).
DEFAULT_PAGE_SIZE = 10
#: Largest accepted ``results_per_page``.
MAX_PAGE_SIZE = 100
#: Thumbnails per gallery page.
GALLERY_PAGE_SIZE = 24
#: Largest request body, in bytes (a fractal's JSON is a few hundred).
MAX_REQUEST_BODY = 64 * 1024

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
_INTEGER = re.compile(r"-?[0-9]+")
_RESULT_FIELDS = frozenset(RECORD_FIELDS) - set(FIELDS) - {"uuid"}

bp = Blueprint("fractals", __name__)


class ApiError(Exception):
    """An error answered as JSON: ``{"message": ..., "field": ...}``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@dataclass
class AppState:
    engine: Engine
    sessions: sessionmaker[Session]
    pool: RenderPool
    store: ImageStore


def create_app(db_url: str, *, workers: int = 2, image_store: str = DATABASE,
               store_timeout: float = DEFAULT_STORE_TIMEOUT,
               conn_factory: Any = None) -> Flask:
    """The Flask app on the database at ``db_url`` with ``workers`` render threads, keeping
    its images in ``image_store`` (``db``, or ``swift://CONTAINER`` signed in from the OS_*
    settings, or through ``conn_factory`` when given; each call to it bounded by
    ``store_timeout`` seconds).

    Fractals left pending by an earlier run are queued again. Call
    :func:`close_app` when done with it.
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BODY
    app.json.sort_keys = False
    engine = open_database(db_url)
    sessions = make_sessionmaker(engine)
    try:
        store = open_image_store(image_store, sessions, timeout=store_timeout,
                                 conn_factory=conn_factory)
    except BaseException:
        engine.dispose()
        raise
    state = AppState(engine, sessions, RenderPool(sessions, workers, store), store)
    app.extensions["fractals"] = state
    app.register_blueprint(bp)
    state.pool.resume()
    return app


def open_database(db_url: str) -> Engine:
    """The engine of the app's database, created if new and checked by reading it.

    A database that cannot be used (a bad path or URL, no driver, unreachable, not a
    Fractals app database) raises a FirstappError naming it, password hidden.
    """
    check_db_url(db_url, allow_memory=True)
    shown = shown_url(db_url)
    try:
        engine = make_engine(db_url)
    except ImportError as exc:
        raise FirstappError(
            f"cannot open the database {shown}: its driver is not installed ({exc})"
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        raise FirstappError(f"cannot open the database {shown}: {_cause(exc)}") from None
    try:
        with engine.connect() as connection:
            connection.execute(select(*Fractal.__table__.columns).limit(1)).all()
    except SQLAlchemyError as exc:
        engine.dispose()
        raise FirstappError(
            f"cannot read the fractals in {shown}: {_cause(exc)}; is it a Fractals app "
            "database? (--db a new file creates one)"
        ) from None
    return engine


def _cause(exc: BaseException) -> str:
    """A database error's own message, without SQLAlchemy's statement and links."""
    return str(getattr(exc, "orig", None) or exc).strip()


def close_app(app: Flask) -> None:
    """Stop the render threads and close the database connections."""
    state: AppState = app.extensions["fractals"]
    state.pool.shutdown()
    state.store.close()
    state.engine.dispose()


def _state() -> AppState:
    return current_app.extensions["fractals"]


@bp.app_errorhandler(ApiError)
def _api_error(error: ApiError):
    body: dict[str, Any] = {"message": error.message}
    if error.field:
        body["field"] = error.field
    return jsonify(body), error.status


@bp.app_errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return jsonify({"message": error.description}), error.code


def _query_int(name: str, default: int, low: int, high: int, hint: str = "") -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # plain ASCII digits only: int() would also take "1_0", " 7" and other scripts' digits
    if not _INTEGER.fullmatch(raw):
        raise ApiError(400, f"{name} must be an integer, got {raw!r}", name)
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}{hint}", name)
    return value


def _checked_uuid(value: Any) -> str:
    if not isinstance(value, str) or not _UUID.match(value):
        example = uuidlib.UUID(int=0)
        raise ApiError(400, f"uuid must be a UUID like {example}, got {value!r}", "uuid")
    return value.lower()


def _json_object() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    for field in body:
        if field in _RESULT_FIELDS:
            raise ApiError(400, f"{field} is set by the worker and cannot be written", field)
        if field not in FIELDS and field != "uuid":
            raise ApiError(400, f"unknown field {field!r}; accepted: uuid, {', '.join(FIELDS)}",
                           field)
    return body


def _validated(data: dict[str, Any]):
    try:
        return validate(data)
    except InvalidParameter as exc:
        raise ApiError(400, exc.message, exc.field) from None


def _get_or_404(session: Session, uuid: str) -> Fractal:
    fractal = session.get(Fractal, _checked_uuid(uuid))
    if fractal is None:
        raise ApiError(404, f"no fractal with uuid {uuid}")
    return fractal


def _page(page: int, per_page: int) -> dict[str, Any]:
    with _state().sessions() as session:
        total = session.scalar(select(func.count()).select_from(Fractal)) or 0
        rows = session.scalars(
            select(Fractal).order_by(Fractal.created_at, Fractal.uuid)
            .offset((page - 1) * per_page).limit(per_page)
        ).all()
        objects = [row.to_json() for row in rows]
    return {
        "num_results": total,
        "page": page,
        "total_pages": math.ceil(total / per_page),
        "objects": objects,
    }


@bp.get("/v1/fractal")
def list_fractals():
    page = _query_int("page", 1, 1, 2**31 - 1)
    per_page = _query_int(
        "results_per_page", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE,
        "; there is no value meaning 'all': read every page, from page=1 to total_pages",
    )
    return jsonify(_page(page, per_page))


@bp.post("/v1/fractal")
def create_fractal():
    body = _json_object()
    uuid = _checked_uuid(body["uuid"]) if body.get("uuid") is not None else str(uuidlib.uuid4())
    params = _validated(body)
    state = _state()
    try:
        with state.sessions.begin() as session:
            if session.get(Fractal, uuid) is not None:
                raise ApiError(409, f"a fractal with uuid {uuid} already exists", "uuid")
            fractal = Fractal(uuid=uuid, status=PENDING, **params.as_dict())
            session.add(fractal)
    except IntegrityError:
        raise ApiError(409, f"a fractal with uuid {uuid} already exists", "uuid") from None
    state.pool.submit(uuid)
    response = jsonify(fractal.to_json())
    response.status_code = 201
    response.headers["Location"] = f"/v1/fractal/{uuid}"
    return response


@bp.get("/v1/fractal/<uuid>")
def get_fractal(uuid: str):
    with _state().sessions() as session:
        return jsonify(_get_or_404(session, uuid).to_json())


@bp.put("/v1/fractal/<uuid>")
def update_fractal(uuid: str):
    body = _json_object()
    uuid = _checked_uuid(uuid)
    if "uuid" in body and str(body["uuid"]).lower() != uuid:
        raise ApiError(400, "uuid cannot be changed", "uuid")
    state = _state()
    with state.sessions.begin() as session:
        fractal = _get_or_404(session, uuid)
        current = params_of(fractal)
        params = _validated({**current.as_dict(), **{f: body[f] for f in FIELDS if f in body}})
        changed = params != current
        if changed:
            session.execute(
                update(Fractal).where(Fractal.uuid == uuid).values(
                    **params.as_dict(), status=PENDING, revision=Fractal.revision + 1,
                    checksum=None, size=None, duration=None, generated_by=None, image=None,
                )
            )
    if changed:
        state.pool.submit(uuid)
    with state.sessions() as session:
        return jsonify(_get_or_404(session, uuid).to_json())


@bp.delete("/v1/fractal/<uuid>")
def delete_fractal(uuid: str):
    with _state().sessions.begin() as session:
        result = session.execute(delete(Fractal).where(Fractal.uuid == _checked_uuid(uuid)))
        if result.rowcount == 0:
            raise ApiError(404, f"no fractal with uuid {uuid}")
    _state().pool.forget(uuid.lower())
    return Response(status=204)


@bp.get("/fractal/<uuid>")
def get_image(uuid: str):
    state = _state()
    with state.sessions() as session:
        row = session.execute(
            select(Fractal.status, Fractal.checksum, Fractal.size,
                   Fractal.image.is_not(None).label("in_database"))
            .where(Fractal.uuid == _checked_uuid(uuid))
        ).one_or_none()
    if row is None:
        raise ApiError(404, f"no fractal with uuid {uuid}")
    if row.status == PENDING or row.checksum is None:
        raise ApiError(409, f"fractal {uuid} is not rendered yet; try again shortly")
    if row.status == FAILED:
        raise ApiError(409, f"rendering fractal {uuid} failed; see the server log")
    if request.if_none_match.contains_weak(row.checksum):  # the client has it: no store call
        response = Response(status=304)
        response.set_etag(row.checksum)
        return response
    return _image_response(uuid.lower(), row.checksum, row.in_database)


# [start serve-image]
def _store_holding(state: AppState, in_database: bool) -> ImageStore:
    """Where an image is: the app's image store, or the database for an image not yet
    moved out of it (``move-images``)."""
    return DatabaseImages(state.sessions) if in_database else state.store


def _image_response(uuid: str, checksum: str, in_database: bool) -> Response:
    """The image streamed from where it is, with its SHA-256 as the ETag."""
    store = _store_holding(_state(), in_database)
    try:
        image = store.open(uuid, checksum)
    except ImageStoreDown as exc:
        response = jsonify({"message": f"the image store {store.spec} is not available: "
                            f"{exc}; try again later"})
        response.status_code = 503
        response.headers["Retry-After"] = "10"
        return response
    except ImageMissing as exc:
        raise ApiError(502, str(exc)) from None
    response = Response(image.chunks, mimetype="image/png", direct_passthrough=True)
    response.call_on_close(image.close)
    response.content_length = image.size
    response.set_etag(checksum)
    return response
# [end serve-image]


@bp.get("/v1/fractal-images")
def get_images():
    """Many images in one answer (an addition to faafo's API, for backups): a tar stream
    with ``<uuid>.png`` for each rendered fractal named by a ``uuid`` parameter, in the
    order asked; the others are left out (``GET /fractal/<uuid>`` says why)."""
    asked = request.args.getlist("uuid")
    if not 1 <= len(asked) <= MAX_PAGE_SIZE:
        raise ApiError(400, f"give 1 to {MAX_PAGE_SIZE} uuid parameters, got {len(asked)}",
                       "uuid")
    wanted = list(dict.fromkeys(_checked_uuid(uuid) for uuid in asked))
    state = _state()
    with state.sessions() as session:
        rows = {row.uuid: row for row in session.execute(
            select(Fractal.uuid, Fractal.checksum, Fractal.created_at,
                   Fractal.image.is_not(None).label("in_database"))
            .where(Fractal.uuid.in_(wanted), Fractal.status == READY,
                   Fractal.checksum.is_not(None)))}
    found = [rows[uuid] for uuid in wanted if uuid in rows]
    return Response(_tar_stream(state, found), mimetype="application/x-tar")


def _tar_stream(state: AppState, rows: list[Any]) -> Iterator[bytes]:
    """A tar archive of the rows' images, read one at a time; an image its store cannot
    give now is left out."""
    for row in rows:
        store = _store_holding(state, row.in_database)
        try:
            image = store.open(row.uuid, row.checksum)
        except (ImageStoreDown, ImageMissing):
            continue
        try:
            data = b"".join(image.chunks)
        finally:
            image.close()
        member = tarfile.TarInfo(f"{row.uuid}.png")
        member.size, member.mode = len(data), 0o644
        if row.created_at is not None:
            member.mtime = int(row.created_at.replace(tzinfo=UTC).timestamp())
        yield member.tobuf(tarfile.USTAR_FORMAT) + data + bytes(-len(data) % tarfile.BLOCKSIZE)
    yield bytes(2 * tarfile.BLOCKSIZE)  # the end of the archive


@bp.get("/v1/image-store")
def image_store():
    """Where the app keeps its images (an addition to faafo's API, for backups)."""
    return jsonify(_state().store.describe())


@bp.get("/")
def gallery():
    page = _query_int("page", 1, 1, 2**31 - 1)
    listing = _page(page, GALLERY_PAGE_SIZE)
    return render_template("gallery.html", **listing)
