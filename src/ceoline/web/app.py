"""The internal dashboard: calls, the review queue, themes, latency, exports and the audit log.

Every page needs a login; an anonymous page request is sent to /login, an anonymous export
gets 401. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import jinja2
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ceoline.config import LANGUAGE_NAMES, Config, base_language
from ceoline.insights.summary import SENTIMENTS, load_taxonomy
from ceoline.store import Store
from ceoline.web import auth, charts, queries

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "ceoline_session"
LOGIN_CSRF_COOKIE = "ceoline_login_csrf"
MAX_TEAM_LENGTH = 60
MAX_NOTE_LENGTH = 2000
MAX_SPLIT_ITEMS = 500
_BACK = re.compile(r"^/(review|calls/[A-Za-z0-9_-]{1,64})$")
_SECURITY_HEADERS = {
    # No script runs on any page, and nothing loads from anywhere but here.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    def __init__(self, api: bool):
        self.api = api


class Forbidden(Exception):
    pass


class NotFound(Exception):
    pass


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _timestamp(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else "—"


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # everything a caller said is escaped, in every template
    )
    env.filters["ts"] = _timestamp
    env.globals["language_names"] = LANGUAGE_NAMES
    env.globals["base_language"] = base_language
    return Jinja2Templates(env=env)


def _csv(rows: list[dict]) -> str:
    """CSV whose cells cannot run as spreadsheet formulas (callers' words are in them)."""
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    k: "'" + v
                    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r")
                    else v
                    for k, v in row.items()
                }
            )
    return out.getvalue()


def require(action: str, *, api: bool = False) -> Callable[[Request], auth.Session]:
    """A dependency: the logged-in session, allowed ACTION."""

    def dependency(request: Request) -> auth.Session:
        store = request.app.state.store
        session = auth.load_session(store, request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise LoginRequired(api)
        if not session.may(action):
            raise Forbidden()
        return session

    return dependency


def require_form(action: str) -> Callable[[Request], Awaitable[tuple[auth.Session, dict]]]:
    """A dependency: the session allowed ACTION and the posted form, whose CSRF token matches."""
    base = require(action)

    async def dependency(request: Request) -> tuple[auth.Session, dict]:
        session = base(request)
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        if not auth.csrf_matches(session.csrf_token, form.get("csrf_token")):
            raise Forbidden()
        return session, form

    return dependency


Viewer = Annotated[auth.Session, Depends(require("view"))]
Exporter = Annotated[auth.Session, Depends(require("export", api=True))]
Auditor = Annotated[auth.Session, Depends(require("audit"))]
ViewForm = Annotated[tuple[auth.Session, dict], Depends(require_form("view"))]
ReviewForm = Annotated[tuple[auth.Session, dict], Depends(require_form("review"))]


def create_app(config: Config, *, store: Store | None = None) -> FastAPI:
    store = store or Store.open(config.data_dir)
    areas = load_taxonomy(config.path(config.insights.taxonomy))
    # A box with one line never shows one: there is nothing to tell apart.
    lines = tuple(line.name for line in config.lines)
    templates = _templates()
    app = FastAPI(title="ceoline dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if exc.api:
            return JSONResponse({"error": "login required"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return HTMLResponse("<h1>403 Forbidden</h1>", status_code=403)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return HTMLResponse("<h1>404 Not found</h1>", status_code=404)

    def render(
        request: Request, name: str, session: auth.Session | None, status: int = 200, **context
    ) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            name,
            {"session": session, "areas": areas, "lines": lines, **context},
            status_code=status,
        )

    # -- login and logout -----------------------------------------------------------------

    def login_page(request: Request, error: str = "", status: int = 200) -> HTMLResponse:
        token = secrets.token_urlsafe(32)
        response = render(request, "login.html", None, status, csrf_token=token, error=error)
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            max_age=3600,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if auth.load_session(store, request.cookies.get(SESSION_COOKIE)):
            return RedirectResponse("/calls", status_code=303)
        return login_page(request)

    @app.post("/login")
    def login(
        request: Request,
        name: Annotated[str, Form(max_length=256)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf_token: Annotated[str, Form(max_length=256)] = "",
    ) -> Response:
        # Before a session exists, the form's token must match the one set in the cookie.
        if not auth.csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf_token):
            raise Forbidden()
        ip = _client_ip(request)
        if auth.login_blocked(store, name, ip):
            auth.audit(store, name, "login_blocked", ip=ip)
            return login_page(request, "Too many failed attempts; wait 10 minutes.", 429)
        role = auth.check_password(store, name, password)
        if role is None:
            auth.record_login_failure(store, name, ip)
            auth.audit(store, name, "login_failed", ip=ip)
            return login_page(request, "Wrong name or password.", 401)
        auth.clear_login_failures(store, name, ip)
        token, _ = auth.start_session(store, name, ip)
        auth.audit(store, name, "login", ip=ip)
        response = RedirectResponse("/calls", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(auth.SESSION_TTL.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    @app.post("/logout")
    def logout(request: Request, posted: ViewForm) -> Response:
        session, _ = posted
        auth.end_session(store, request.cookies.get(SESSION_COOKIE, ""))
        auth.audit(store, session.user, "logout", ip=_client_ip(request))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- pages ------------------------------------------------------------------------------

    @app.get("/")
    def home(session: Viewer) -> Response:
        return RedirectResponse("/calls", status_code=303)

    @app.get("/calls", response_class=HTMLResponse)
    def calls(request: Request, session: Viewer) -> Response:
        filters = queries.CallFilters.parse(request.query_params, areas, lines)
        rows = queries.list_calls(store, filters)
        return render(
            request,
            "calls.html",
            session,
            calls=rows,
            filters=filters,
            sentiments=SENTIMENTS,
            query=request.url.query,
        )

    @app.get("/calls/{call_id}", response_class=HTMLResponse)
    def call_page(request: Request, call_id: str, session: Viewer) -> Response:
        call = queries.call_detail(store, call_id)
        if call is None:
            raise NotFound()
        auth.audit(store, session.user, "view_call", call_id, _client_ip(request))
        return render(
            request, "call.html", session, call=call, teams=queries.TEAMS, back=f"/calls/{call_id}"
        )

    @app.get("/review", response_class=HTMLResponse)
    def review(request: Request, session: Viewer) -> Response:
        return render(
            request,
            "review.html",
            session,
            items=queries.review_queue(store),
            teams=queries.TEAMS,
            back="/review",
        )

    def item_action(request: Request, item_id: int, posted, action: str, apply) -> Response:
        session, form = posted
        call_id = queries.item_call_id(store, item_id)
        if call_id is None:
            raise NotFound()
        apply(session, form)
        auth.audit(
            store, session.user, action, f"item {item_id} of call {call_id}", _client_ip(request)
        )
        back = form.get("back", "")
        return RedirectResponse(back if _BACK.match(back) else "/review", status_code=303)

    @app.post("/review/{item_id}/reviewed")
    def reviewed(request: Request, item_id: int, posted: ReviewForm):
        return item_action(
            request,
            item_id,
            posted,
            "review",
            lambda s, f: queries.mark_reviewed(store, item_id, s.user),
        )

    @app.post("/review/{item_id}/assign")
    def assign(request: Request, item_id: int, posted: ReviewForm):
        team = posted[1].get("team", "").strip()
        if not team or len(team) > MAX_TEAM_LENGTH:
            return HTMLResponse("<h1>400 A team name of 1 to 60 characters</h1>", 400)
        return item_action(
            request,
            item_id,
            posted,
            "assign",
            lambda s, f: queries.assign_team(store, item_id, team, s.user),
        )

    @app.post("/review/{item_id}/note")
    def note(request: Request, item_id: int, posted: ReviewForm):
        text = posted[1].get("note", "").strip()
        if not text or len(text) > MAX_NOTE_LENGTH:
            return HTMLResponse("<h1>400 A note of 1 to 2000 characters</h1>", 400)
        return item_action(
            request,
            item_id,
            posted,
            "note",
            lambda s, f: queries.add_note(store, item_id, text, s.user),
        )

    @app.get("/themes", response_class=HTMLResponse)
    def themes(request: Request, session: Viewer) -> Response:
        data = queries.themes(store)
        line = request.query_params.get("line")
        line = line if line in lines else None
        return render(
            request,
            "themes.html",
            session,
            data=data,
            line=line,
            week=queries.theme_list(store, 7, line=line),
            month=queries.theme_list(store, 30, line=line),
            area_chart=charts.stacked_bars(
                data["days"],
                data["by_area"],
                data["areas"],
                {name: area.label for name, area in areas.items()},
            ),
            type_chart=charts.stacked_bars(data["days"], data["by_type"], data["types"]),
        )

    @app.get("/themes/{theme_id}", response_class=HTMLResponse)
    def theme_page(request: Request, theme_id: int, session: Viewer) -> Response:
        every = queries.theme_list(store, 3650, per_area=10**6)
        theme = next((t for t in every if t["id"] == theme_id), None)
        if theme is None:
            raise NotFound()
        others = [
            t for t in every if t["id"] != theme_id and t["product_area"] == theme["product_area"]
        ]
        return render(
            request,
            "theme.html",
            session,
            theme=theme,
            items=queries.theme_items(store, theme_id),
            others=others,
        )

    def theme_action(request: Request, theme_id: int, posted, action: str, apply) -> Response:
        session, form = posted
        target = apply(session, form)
        if not target:
            raise NotFound()
        auth.audit(store, session.user, action, f"theme {theme_id}", _client_ip(request))
        return RedirectResponse(f"/themes/{int(target)}", status_code=303)

    @app.post("/themes/{theme_id}/rename")
    def rename_theme(request: Request, theme_id: int, posted: ReviewForm):
        return theme_action(
            request,
            theme_id,
            posted,
            "theme.rename",
            lambda s, f: (
                queries.rename_theme(store, theme_id, f.get("title", ""), s.user) and theme_id
            ),
        )

    @app.post("/themes/{theme_id}/merge")
    def merge_theme(request: Request, theme_id: int, posted: ReviewForm):
        def apply(s, f):
            into = f.get("into", "")
            if not into.isdigit():
                return 0
            return queries.merge_themes(store, theme_id, int(into), s.user) and int(into)

        return theme_action(request, theme_id, posted, "theme.merge", apply)

    @app.post("/themes/{theme_id}/split")
    async def split_theme(request: Request, theme_id: int, posted: ReviewForm):
        chosen = [
            int(v)
            for v in (await request.form()).getlist("item")
            if isinstance(v, str) and v.isdigit()
        ][:MAX_SPLIT_ITEMS]
        return theme_action(
            request,
            theme_id,
            posted,
            "theme.split",
            lambda s, f: queries.split_theme(store, theme_id, chosen, f.get("title", ""), s.user),
        )

    @app.get("/deliveries", response_class=HTMLResponse)
    def deliveries(request: Request, session: Viewer) -> Response:
        return render(
            request,
            "deliveries.html",
            session,
            failing=queries.failing_deliveries(store),
            counts=queries.delivery_counts(store),
        )

    @app.get("/latency", response_class=HTMLResponse)
    def latency(request: Request, session: Viewer, calls: int = 50) -> Response:
        calls = max(1, min(calls, 10_000))
        return render(
            request, "latency.html", session, data=queries.latency(store, calls), last_calls=calls
        )

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request, session: Auditor):
        user = request.query_params.get("user", "")[:64]
        action = request.query_params.get("action", "")[:32]
        return render(
            request,
            "audit.html",
            session,
            rows=auth.audit_rows(store, user, action),
            user=user,
            action=action,
        )

    # -- exports ----------------------------------------------------------------------------

    def export(request: Request, session: auth.Session, name: str, rows: list[dict]) -> Response:
        target = name + (f"?{request.url.query}" if request.url.query else "")
        auth.audit(store, session.user, "export", target, _client_ip(request))
        disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
        if name.endswith(".json"):
            return Response(
                json.dumps(rows, indent=1), media_type="application/json", headers=disposition
            )
        return Response(_csv(rows), media_type="text/csv; charset=utf-8", headers=disposition)

    @app.get("/export/calls.csv")
    def calls_csv(request: Request, session: Exporter):
        filters = queries.CallFilters.parse(request.query_params, areas, lines)
        return export(request, session, "calls.csv", queries.export_calls(store, filters))

    @app.get("/export/calls.json")
    def calls_json(request: Request, session: Exporter):
        filters = queries.CallFilters.parse(request.query_params, areas, lines)
        return export(request, session, "calls.json", queries.export_calls(store, filters))

    @app.get("/export/items.csv")
    def items_csv(request: Request, session: Exporter):
        return export(request, session, "items.csv", queries.export_items(store))

    @app.get("/export/items.json")
    def items_json(request: Request, session: Exporter):
        return export(request, session, "items.json", queries.export_items(store))

    return app


def serve_in_thread(config: Config, store: Store):
    """The dashboard on [dashboard] host:port in a daemon thread, beside the calls; a taken
    port costs the dashboard, not the calls. Set ``should_exit`` on the result to stop it."""
    import threading

    import uvicorn

    dash = config.dashboard
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config, store=store), host=dash.host, port=dash.port, log_level="warning"
        )
    )
    threading.Thread(target=server.run, name="ceoline-dashboard", daemon=True).start()
    return server
