"""The host's window as a Starlette app: the page, its JSON API, and the guard in front.

Routes (every one behind :class:`Guard`)::

    GET  /                    the page (static/index.html); a ?token= sets the cookie
    GET  /static/{file}       app.js, style.css
    GET  /api/styles          host.list_styles() for the drop-down
    GET  /api/runtime         host.check_runtime(): what the plugins can do (audio, png)
    GET  /api/settings        the compose settings the form offers: kind, bounds, help (COMPOSE_SETTINGS)
    POST /api/compose         start a compose job -> {"job": id}
    POST /api/models          start a model-manager job -> {"job": id}
    GET  /api/jobs/{id}       a job's state and progress; its result when done
    GET  /files/{id}          a file a job wrote, by id

The app talks to plugins only through :class:`hostapi.Host`; it knows styles,
options and files, nothing of how a plugin composes. Every error is JSON
``{"error": message}``: 403 without the token, 400 for a foreign Host header or bad
input (including any attempt to name a file path), 404/405 as usual, 500 for a bug.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from hostapi import ComposeOptions, Host, ModelsRequest, Progress
from hostapi.commands import STYLE_NAME
from hostapi.errors import UserError
from hostapi.results import COMPOSE_SETTINGS

from .jobs import FileRegistry, JobRunner

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_PARAM = "token"
TOKEN_HEADER = "x-voc-token"
# The window's model manager offers these; the others take file paths or print settings.
MODEL_ACTIONS = ("list", "fetch", "pack", "verify", "repair", "remove")
NAME = re.compile(rf"^{STYLE_NAME.pattern}$")  # a style name, as the command lines take it; never a path
FILE_ID = re.compile(r"^[0-9a-f]{32}$")
JOB_ID = re.compile(r"^[0-9a-f]{16}$")


class BadRequest(Exception):
    """Bad input from the page: answered 400 with this one-line message."""


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def cookie_name(port: int) -> str:
    # Cookies ignore ports: two servers on one machine must not overwrite each other's.
    return f"voc_token_{port}"


class Guard:
    """ASGI middleware: the Host header must be this server's, and the token must come along.

    The token may come as ``?token=`` (the URL the server prints), as the cookie a
    tokened page load sets, or in the ``X-Voc-Token`` header (what app.js sends).
    """

    def __init__(self, app: ASGIApp, *, token: str, port: int) -> None:
        self.app = app
        self.token = token
        self.port = port
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here: refuse before anything runs
            await send({"type": "websocket.close", "code": 1008})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._check(scope, headers)
        if problem is not None:
            await problem(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if query.get(TOKEN_PARAM):  # the printed URL: remember the token for the page's requests

            async def send_with_cookie(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    cookie = (
                        f"{cookie_name(self.port)}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    )
                    message["headers"] = [*message["headers"], (b"set-cookie", cookie.encode())]
                await send(message)

            await self.app(scope, receive, send_with_cookie)
            return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope, headers: dict[str, str]) -> Response | None:
        # DNS rebinding: a page from evil.example resolved to 127.0.0.1 still says its own Host.
        if headers.get("host", "").lower() not in self.hosts:
            return error(400, f"foreign Host header {headers.get('host', '')!r}: "
                         f"this server answers only to 127.0.0.1:{self.port}")
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            return error(400, f"foreign Origin {origin!r}")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed Cookie header is just no cookie
            cookies = SimpleCookie()
        morsel = cookies.get(cookie_name(self.port))
        offered = [
            *(query.get(TOKEN_PARAM) or []),
            headers.get(TOKEN_HEADER, ""),
            morsel.value if morsel is not None else "",
        ]
        expected = self.token.encode()
        # Bytes: compare_digest refuses non-ASCII str, and a header may hold anything.
        if not any(t and secrets.compare_digest(t.encode(), expected) for t in offered):
            why = "a wrong token" if any(offered) else "no token"
            return error(403, f"{why}: open the URL voc-host serve printed (it carries ?token=)")
        return None


# -- input checking: the page sends names and numbers, never paths -------------------


def _int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"{key} must be a whole number from {low} to {high}, not {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}, not {value!r}") from None
    if not low <= number <= high:
        raise BadRequest(f"{key} must be from {low} to {high}, not {number}")
    return number


def _float(body: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        number = float("nan")
    if not low <= number <= high:  # NaN fails too
        raise BadRequest(f"{key} must be a number from {low:g} to {high:g}, not {value!r}")
    return number


def _text(body: dict[str, Any], key: str, longest: int = 400) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > longest:
        raise BadRequest(f"{key} must be text of at most {longest} characters, not {value!r}")
    return value.strip() or None


def _name(value: Any, what: str = "style") -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise BadRequest(f"{what} must be a name like 'bach' (letters, digits, _ . + -), "
                         f"not {value!r}: the page never names a file path")
    return value


def _only(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}: the page never names a file path "
                         f"(accepted: {', '.join(sorted(allowed))})")
    return body


#: What the page may send: the style and the compose settings the page offers (COMPOSE_SETTINGS).
PAGE_SETTINGS = tuple(setting for setting in COMPOSE_SETTINGS if setting.page)
COMPOSE_FIELDS = {"style"} | {setting.name for setting in PAGE_SETTINGS}
PAGE_DEFAULTS = {"png": True}  # the page draws the piano roll unless told not to


def compose_options(body: Any, out_dir: Path) -> tuple[str, ComposeOptions]:
    """The page's compose request as host options (files go where the server says)."""
    body = _only(body, COMPOSE_FIELDS)
    style = _name(body.get("style"))
    wide = 1e300  # the page parses types; the bounds are ComposeOptions.check's, as for the command lines
    parse: dict[str, Callable[[str], Any]] = {
        "int": lambda key: _int(body, key, -(2**63), 2**64),
        "float": lambda key: _float(body, key, -wide, wide),
        "text": lambda key: _text(body, key),
        "flag": lambda key: bool(body.get(key, PAGE_DEFAULTS.get(key, False))),
    }
    given = {setting.name: parse[setting.kind](setting.name) for setting in PAGE_SETTINGS}
    options = ComposeOptions(out_path=out_dir / f"{style}.mid",
                             **{name: value for name, value in given.items() if value is not None})
    try:
        options.check()
    except UserError as exc:
        raise BadRequest(str(exc)) from None
    return style, options


def models_request(body: Any) -> ModelsRequest:
    body = _only(body, {"action", "styles", "all"})
    action = body.get("action")
    if action not in MODEL_ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(MODEL_ACTIONS)}, not {action!r}")
    styles = body.get("styles") or []
    if not isinstance(styles, list):
        raise BadRequest("styles must be a list of style names")
    names = [_name(s) for s in styles]
    if action == "remove" and not names:
        raise BadRequest("remove needs at least one style")
    return ModelsRequest(action=action, styles=names, all=bool(body.get("all", False)))


# -- the app --------------------------------------------------------------------------


def _files_of(result: Any, files: FileRegistry) -> dict[str, Any]:
    """The composition's files as ids the page can fetch (paths stay on the server)."""
    variations = [files.add(p) for p in (result.variations or [result.path])]
    # The plugin's one-line account of the piece, as voc-host compose prints it.
    summary = (result.report or {}).get("summary")
    audio_paths = list(result.audio_variations or ([result.audio_path] if result.audio_path else []))
    return {
        "style": result.style,
        "plugin": result.plugin,
        "seed": result.seed,
        "events": result.events,
        "unit": "notes" if "notes" in (result.report or {}) else "events",  # what ``events`` counts
        "duration_seconds": result.duration_seconds,
        "model_id": result.model_id,
        "summary": summary if isinstance(summary, str) else "",
        "midi": variations[0],
        "variations": [v for v in variations if v],
        "png": files.add(result.png_path),
        "audio": [a for a in (files.add(p) for p in audio_paths) if a],
    }


def create_app(host: Host, *, token: str, port: int, session_dir: Path) -> Starlette:
    """The window for ``host``; ``session_dir`` receives every file the jobs write."""
    session_dir.mkdir(parents=True, exist_ok=True)
    files = FileRegistry(session_dir)
    jobs = JobRunner()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        jobs.shutdown()

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-store"})

    # Sync endpoints run in Starlette's thread pool: a catalogue fetch must not stall the polling.
    def styles(request: Request) -> Response:
        offline = request.query_params.get("offline") in ("1", "true")
        found = host.list_styles(offline=offline)
        failures = [f.line() for f in host.failures if f.hook == "list_styles"]
        return JSONResponse({"styles": [s.to_dict() for s in found], "warnings": failures[-5:]})

    def settings(request: Request) -> Response:
        return JSONResponse([setting.to_dict() for setting in PAGE_SETTINGS])

    def runtime(request: Request) -> Response:
        reports = host.check_runtime()
        return JSONResponse({
            "reports": [r.to_dict() for r in reports],
            "plugins": [p.to_dict() for p in host.plugins],
            "broken": [{"name": b.name, "reason": b.reason} for b in host.broken],
        })

    async def read_json(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None

    async def compose(request: Request) -> Response:
        body = await read_json(request)
        out_dir = session_dir / secrets.token_hex(8)
        style, options = compose_options(body, out_dir)

        def work(progress: Callable[[Progress], None]) -> dict[str, Any]:
            out_dir.mkdir(parents=True, exist_ok=True)
            return _files_of(host.compose(style, options, progress=progress), files)

        return JSONResponse({"job": jobs.start("compose", work).id}, status_code=202)

    async def models(request: Request) -> Response:
        req = models_request(await read_json(request))

        def work(progress: Callable[[Progress], None]) -> dict[str, Any]:
            result = host.manage_models(req, progress=progress)
            return {"action": result.action, "ok": result.ok, "text": result.text,
                    "plugin": result.plugin}

        return JSONResponse({"job": jobs.start("models", work).id}, status_code=202)

    async def job(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if not JOB_ID.match(job_id):
            raise BadRequest(f"bad job id {job_id!r}")
        state = jobs.get(job_id)
        return JSONResponse(state) if state is not None else error(404, f"no job {job_id}")

    async def file(request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if not FILE_ID.match(file_id):
            raise BadRequest("files are served by id, not by path")
        served = files.get(file_id)
        if served is None or not served.path.is_file():
            return error(404, f"no file {file_id}")
        return FileResponse(served.path, media_type=served.media_type, filename=served.name,
                            content_disposition_type="inline")

    async def bad_request(request: Request, exc: Exception) -> Response:
        return error(400, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, exc.detail or "error")

    async def internal(request: Request, exc: Exception) -> Response:
        return error(500, f"internal error: {type(exc).__name__}: {exc}")

    app = Starlette(
        routes=[
            Route("/", page),
            Route("/api/styles", styles),
            Route("/api/runtime", runtime),
            Route("/api/settings", settings),
            Route("/api/compose", compose, methods=["POST"]),
            Route("/api/models", models, methods=["POST"]),
            Route("/api/jobs/{job_id}", job),
            Route("/files/{file_id:path}", file),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={BadRequest: bad_request, HTTPException: http_error, Exception: internal},
        lifespan=lifespan,
    )
    app.add_middleware(Guard, token=token, port=port)
    return app
