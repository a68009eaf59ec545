"""The host's window as a Starlette app: the page, its JSON API, and the guard in front.

Routes (every one behind :class:`Guard`)::

    GET  /                    the page (static/index.html); a ?token= sets the cookie
    GET  /static/{file}       app.js, style.css
    GET  /api/styles          host.list_styles() for the drop-down
    GET  /api/runtime         host.check_runtime(): what the plugins can do (audio, png)
    GET  /api/settings        the compose settings the form offers: kind, bounds, help (COMPOSE_SETTINGS)
    POST /api/compose         start a compose job -> {"job": id}
    POST /api/models          start a model-manager job -> {"job": id}
    POST /api/upload          MIDI files (multipart) into the session folder -> [{"id", "name", ...}]
    POST /api/train           train a style on uploaded files (or resume it) -> {"job": id}
    GET  /api/jobs/{id}       a job's state and progress (training: its curve points); its result when done
    POST /api/jobs/{id}/cancel  stop a job at its next progress report (a training run stays resumable)
    GET  /api/score/{id}      a MusicXML file a job wrote, engraved as SVG pages (verovio)
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

from hostapi import ComposeOptions, Host, ModelsRequest, Progress, TrainOptions
from hostapi.commands import STYLE_NAME
from hostapi.errors import UserError
from hostapi.results import COMPOSE_SETTINGS

from .jobs import FileRegistry, JobRunner, Reporter
from .score import ScoreUnavailable, engrave

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


def _safe_name(name: str) -> str:
    """An uploaded file's own name, reduced to a plain file name (no folders, no odd characters)."""
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", Path(name.replace("\\", "/")).name).strip(" .") or "upload"
    return base[:120] if base.lower().endswith((".mid", ".midi")) else base[:116] + ".mid"


def _only(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}: the page never names a file path "
                         f"(accepted: {', '.join(sorted(allowed))})")
    return body


#: What the page may send: the style, the compose settings the page offers (COMPOSE_SETTINGS), and a
#: primer as the id of a file it uploaded.
PAGE_SETTINGS = tuple(setting for setting in COMPOSE_SETTINGS if setting.page)
COMPOSE_FIELDS = {"style", "primer"} | {setting.name for setting in PAGE_SETTINGS}
PAGE_DEFAULTS = {"png": True}  # the page draws the piano roll unless told not to
MAX_UPLOAD_BYTES = 16_000_000  # per file: the largest MIDI files of the corpus are a few hundred kB
MAX_UPLOAD_FILES = 500
CORPUS_STYLE = "corpus"  # a model of the whole corpus: where a style may start from (fine-tuning)


def _upload(value: Any, files: FileRegistry, what: str) -> Path:
    """The path of a file the page uploaded, by its id (the page never names a path)."""
    if not isinstance(value, str) or not FILE_ID.match(value):
        raise BadRequest(f"{what} must be the id of an uploaded file, not {value!r}")
    served = files.get(value)
    if served is None or served.kind != "upload" or not served.path.is_file():
        raise BadRequest(f"{what}: no uploaded file {value}")
    return served.path


def compose_options(body: Any, out_dir: Path, files: FileRegistry | None = None) -> tuple[str, ComposeOptions]:
    """The page's compose request as host options (files go where the server says)."""
    body = _only(body, COMPOSE_FIELDS)
    primer = None
    if body.get("primer") not in (None, ""):
        if files is None:
            raise BadRequest("primer: this server takes no uploads")
        primer = _upload(body["primer"], files, "primer")
    style = _name(body.get("style"))
    wide = 1e300  # the page parses types; the bounds are ComposeOptions.check's, as for the command lines
    parse: dict[str, Callable[[str], Any]] = {
        "int": lambda key: _int(body, key, -(2**63), 2**64),
        "float": lambda key: _float(body, key, -wide, wide),
        "text": lambda key: _text(body, key),
        "flag": lambda key: bool(body.get(key, PAGE_DEFAULTS.get(key, False))),
    }
    given = {setting.name: parse[setting.kind](setting.name) for setting in PAGE_SETTINGS}
    options = ComposeOptions(out_path=out_dir / f"{style}.mid", primer=primer,
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
        "musicxml": [m for m in (files.add(p) for p in result.musicxml_variations) if m],
    }


def train_request(body: Any, files: FileRegistry) -> dict[str, Any]:
    """The page's train request: a new style's name, its uploaded MIDI files, a budget; or resume."""
    body = _only(body, {"style", "files", "minutes", "fine_tune", "resume"})
    style = _name(body.get("style"))
    resume = bool(body.get("resume", False))
    minutes = body.get("minutes", 5)
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0.25 <= minutes <= 24 * 60:
        raise BadRequest(f"minutes must be a number from 0.25 to 1440, not {minutes!r}")
    ids = body.get("files") or []
    if not resume:
        if not isinstance(ids, list) or not ids:
            raise BadRequest("files: upload at least one MIDI file to train on")
        if len(ids) > MAX_UPLOAD_FILES:
            raise BadRequest(f"files: at most {MAX_UPLOAD_FILES} files")
    paths = [_upload(i, files, "files") for i in ids] if not resume else []
    return {"style": style, "paths": paths, "minutes": float(minutes), "resume": resume,
            "fine_tune": bool(body.get("fine_tune", False))}


def create_app(host: Host, *, token: str, port: int, session_dir: Path) -> Starlette:
    """The window for ``host``; ``session_dir`` receives every file the jobs write."""
    session_dir.mkdir(parents=True, exist_ok=True)
    files = FileRegistry(session_dir)
    jobs = JobRunner()
    runs = session_dir / "training"  # one folder per style trained from the page: corpus/ and run/

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
        style, options = compose_options(body, out_dir, files)

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

    async def upload(request: Request) -> Response:
        """MIDI files from the page, each into a folder of its own in the session (names kept for the user)."""
        async with request.form(max_files=MAX_UPLOAD_FILES, max_fields=16, max_part_size=MAX_UPLOAD_BYTES) as form:
            parts = [p for p in form.getlist("files") if hasattr(p, "read")]
            if not parts:
                raise BadRequest("upload: no files (send them as multipart field 'files')")
            saved = []
            for part in parts:
                name = _safe_name(part.filename or "upload.mid")
                data = await part.read(MAX_UPLOAD_BYTES + 1)
                if len(data) > MAX_UPLOAD_BYTES:
                    raise BadRequest(f"{name}: larger than {MAX_UPLOAD_BYTES // 1_000_000} MB; is it a MIDI file?")
                if not data.startswith(b"MThd"):
                    raise BadRequest(f"{name}: not a MIDI file (it does not start with MThd)")
                folder = session_dir / "uploads" / secrets.token_hex(8)
                folder.mkdir(parents=True)
                (folder / name).write_bytes(data)
                saved.append(files.add(folder / name, kind="upload"))
        return JSONResponse({"files": saved})

    async def train(request: Request) -> Response:
        req = train_request(await read_json(request), files)
        if jobs.busy("train"):
            raise BadRequest("a style is training already: wait for it, or cancel it")
        style = req["style"]
        folder = runs / style
        corpus, out = folder / "corpus", folder / "run"
        if req["resume"] and not (out / "run.json").is_file():
            raise BadRequest(f"{style}: there is no training run of that name to resume in this window")
        if not req["resume"] and folder.exists():
            raise BadRequest(f"{style}: this window has trained a style of that name already; resume it, "
                             "or choose another name")
        fine_tune = req["fine_tune"] and not req["resume"]
        if fine_tune and not any(s.name == CORPUS_STYLE and s.installed for s in host.list_styles(offline=True)):
            raise BadRequest("fine-tune: no corpus network is installed (fetch the style 'corpus' first)")
        if not req["resume"]:
            corpus.mkdir(parents=True)
            for k, path in enumerate(req["paths"]):
                (corpus / f"{k:03d}-{path.name}").write_bytes(path.read_bytes())
        # Fine-tuning starts from the corpus network's weights with a gentler step (as train-all does).
        options = TrainOptions(resume=req["resume"], checkpoint_every=1, time_budget=req["minutes"] * 60,
                               init_from=CORPUS_STYLE if fine_tune else None,
                               extra={"samples": 1, **({"learning_rate": 1e-3} if fine_tune else {})})

        def work(progress: Reporter) -> dict[str, Any]:
            shown: dict[Path, Any] = {}

            def relay(p: Progress) -> None:
                progress(p)
                # A checkpoint's sample, as the plugin hands it over: shown as a piano roll, labelled by epoch.
                fresh = [Path(f) for f in p.files if Path(f).suffix.lower() == ".png" and Path(f) not in shown]
                for roll in fresh:
                    served = files.add(roll)
                    if served is not None:
                        shown[roll] = {**served, "label": f"epoch {int(p.done)}"}
                if fresh:
                    progress.attach("pianorolls", list(shown.values()))

            result = host.train(corpus, style, out, options, progress=relay)
            text = ""
            if result.model_path is not None:
                installed = host.manage_models(ModelsRequest(action="install", files=[Path(result.model_path)],
                                                             force=True))
                text = installed.text
            return {"style": style, "epochs_run": result.epochs_run, "recommended_epoch": result.recommended_epoch,
                    "reason": result.reason, "installed": result.model_path is not None, "text": text}

        job_id = jobs.start("train", work, lane="train").id
        return JSONResponse({"job": job_id}, status_code=202)

    async def job(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if not JOB_ID.match(job_id):
            raise BadRequest(f"bad job id {job_id!r}")
        state = jobs.get(job_id)
        return JSONResponse(state) if state is not None else error(404, f"no job {job_id}")

    async def cancel(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if not JOB_ID.match(job_id):
            raise BadRequest(f"bad job id {job_id!r}")
        if not jobs.cancel(job_id):
            return error(409, f"job {job_id} is not running")
        return JSONResponse({"job": job_id, "cancelling": True}, status_code=202)

    def score(request: Request) -> Response:
        file_id = request.path_params["file_id"]
        if not FILE_ID.match(file_id):
            raise BadRequest("files are served by id, not by path")
        served = files.get(file_id)
        if served is None or not served.path.is_file() or served.path.suffix != ".musicxml":
            return error(404, f"no score {file_id}")
        try:
            return JSONResponse(engrave(served.path))
        except ScoreUnavailable as exc:
            return error(501, str(exc))

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
            Route("/api/upload", upload, methods=["POST"]),
            Route("/api/train", train, methods=["POST"]),
            Route("/api/jobs/{job_id}", job),
            Route("/api/jobs/{job_id}/cancel", cancel, methods=["POST"]),
            Route("/api/score/{file_id}", score),
            Route("/files/{file_id:path}", file),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={BadRequest: bad_request, HTTPException: http_error, Exception: internal},
        lifespan=lifespan,
    )
    app.add_middleware(Guard, token=token, port=port)
    return app
