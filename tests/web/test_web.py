"""The dashboard over FastAPI's TestClient: access control, CSRF, review flow, exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient

from ceoline.store import Store, TurnRecord
from ceoline.web import auth, create_app
from ceoline.web.queries import CallFilters, list_calls, mask_caller, search_expression
from tests.web_support import (
    PASSWORD,
    XSS_SCRIPT,
    add_users,
    age_items,
    csrf_from,
    log_in,
    seed_calls,
)

PAGES = ["/", "/calls", "/calls/{call}", "/review", "/themes", "/latency", "/deliveries", "/audit"]
EXPORTS = ["/export/calls.csv", "/export/calls.json", "/export/items.csv", "/export/items.json"]
POSTS = ["/logout", "/review/1/reviewed", "/review/1/assign", "/review/1/note"]


@pytest.fixture
def store(config):
    s = Store.open(config.data_dir)
    yield s
    s.close()


@pytest.fixture
def ids(store):
    add_users(store)
    return seed_calls(store)


@pytest.fixture
def client(config, store, ids):
    with TestClient(create_app(config, store=store)) as c:
        yield c


def logged_in(client, name="rita") -> str:
    """Log in as NAME; returns the session's CSRF token."""
    assert log_in(client, name).status_code == 303
    return csrf_from(client.get("/calls").text)


def test_anonymous_pages_redirect_to_login_and_exports_get_401(client, ids):
    for page in PAGES:
        response = client.get(page.format(call=ids["invoices"]), follow_redirects=False)
        assert response.status_code == 303, page
        assert response.headers["location"] == "/login"
    for export in EXPORTS:
        assert client.get(export).status_code == 401, export
    for form in POSTS:
        response = client.post(form, data={"csrf_token": "x"}, follow_redirects=False)
        assert response.status_code == 303, form


def test_login_sets_a_strict_httponly_session_and_logout_ends_it(client, store):
    response = log_in(client, "rita")
    assert response.status_code == 303 and response.headers["location"] == "/calls"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert client.get("/calls").status_code == 200
    token = csrf_from(client.get("/calls").text)
    assert client.post("/logout", data={"csrf_token": token}).url.path == "/login"
    assert client.get("/calls", follow_redirects=False).status_code == 303
    actions = [row["action"] for row in auth.audit_rows(store, "rita")]
    assert actions[:2] == ["logout", "login"]


def test_wrong_password_fails_and_repeated_failures_are_throttled(client):
    for _ in range(auth.MAX_LOGIN_FAILURES):
        response = log_in(client, "rita", "not the password")
        assert response.status_code == 401
        assert "Wrong name or password" in response.text
    assert client.get("/calls", follow_redirects=False).status_code == 303
    assert log_in(client, "rita", PASSWORD).status_code == 429  # even the right password
    assert log_in(client, "ada").status_code == 303  # another name is not blocked


def test_login_without_the_form_token_is_refused(client):
    client.get("/login")
    response = client.post("/login", data={"name": "rita", "password": PASSWORD})
    assert response.status_code == 403


def test_posts_without_or_with_a_wrong_csrf_token_are_forbidden(client, store):
    logged_in(client)
    item = store.db.execute("SELECT MIN(id) FROM feedback_items").fetchone()[0]
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": ""}):
        assert client.post(f"/review/{item}/reviewed", data=data).status_code == 403
        assert client.post(f"/review/{item}/note", data={**data, "note": "x"}).status_code == 403
        assert client.post("/logout", data=data).status_code == 403
    assert (
        store.db.execute(
            "SELECT COUNT(*) FROM feedback_items WHERE reviewed_at IS NOT NULL"
        ).fetchone()[0]
        == 0
    )


def test_review_flow_marks_assigns_and_notes(client, store, ids):
    age_items(store, ids["invoices"], 25)
    age_items(store, ids["praise"], 21)
    token = logged_in(client)
    page = client.get("/review").text
    assert page.index("My invoice reminders") < page.index("The mobile app is lovely")
    assert "overdue" in page and "due soon" in page
    item = store.db.execute(
        "SELECT id FROM feedback_items WHERE call_id = ? ORDER BY seq", [ids["invoices"]]
    ).fetchone()[0]
    response = client.post(
        f"/review/{item}/assign", data={"csrf_token": token, "team": "billing", "back": "/review"}
    )
    assert response.status_code == 200
    client.post(f"/review/{item}/note", data={"csrf_token": token, "note": "Seen <b>twice</b>"})
    page = client.get("/review").text
    assert "billing" in page and "Seen &lt;b&gt;twice&lt;/b&gt;" in page
    response = client.post(
        f"/review/{item}/reviewed",
        data={"csrf_token": token, "back": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/review"  # never an outside address
    assert f'id="item-{item}"' not in client.get("/review").text
    row = store.db.execute(
        "SELECT reviewed_by, assigned_team FROM feedback_items WHERE id = ?", [item]
    ).fetchone()
    assert row == ("rita", "billing")
    actions = {row["action"] for row in auth.audit_rows(store, "rita")}
    assert {"review", "assign", "note"} <= actions


def test_roles(client, store):
    logged_in(client, "carl")  # compliance: reads and the audit log, no reviewing
    assert client.get("/audit").status_code == 200
    token = csrf_from(client.get("/calls").text)
    assert client.post("/review/1/reviewed", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    logged_in(client, "rita")
    assert client.get("/audit").status_code == 403
    assert 'href="/audit"' not in client.get("/calls").text


def test_audit_log_records_views_and_exports(client, store, ids):
    logged_in(client, "ada")
    client.get(f"/calls/{ids['praise']}")
    client.get("/export/items.csv")
    page = client.get("/audit").text
    assert "view_call" in page and ids["praise"] in page and "items.csv" in page


@pytest.mark.parametrize(
    "hostile",
    [
        '"',
        "'",
        "a OR b",
        "NEAR(a b)",
        "text:foo",
        "*",
        "^x",
        "-",
        "()",
        "a AND",
        '"unterminated',
        "\x00",
        "🙂",
        "x" * 5000,
        "; DROP TABLE turns; --",
        "{col}: x",
        "a + b",
        "",
    ],
)
def test_search_never_raises_on_hostile_input(client, hostile):
    logged_in(client)
    assert client.get("/calls", params={"q": hostile}).status_code == 200
    assert client.get("/export/calls.json", params={"q": hostile}).status_code == 200


def test_search_terms_are_quoted_words():
    assert search_expression('invoice "reminders" OR x*') == '"invoice" "reminders" "OR" "x"'
    assert search_expression("  ()*: ") is None


def test_search_and_filters_find_the_right_calls(client, store, ids):
    logged_in(client)

    def found(**params) -> set[str]:
        return {c["id"] for c in client.get("/export/calls.json", params=params).json()}

    assert found(q="invoice reminders") == {ids["invoices"]}
    assert found(q="REMINDERS twice") == {ids["invoices"]}
    assert found(q="reminders lovely") == set()
    assert found(sentiment="positive") == {ids["praise"]}
    assert found(escalated="yes") == {ids["invoices"]}
    assert found(area="mobile_app") == {ids["praise"]}
    assert found(**{"from": "2000-01-01", "to": "2000-01-02"}) == set()
    assert found(sentiment="bogus") == set(ids.values())  # a value not allowed is ignored
    rows = list_calls(store, CallFilters(q="payouts"))
    assert [r["id"] for r in rows] == [ids["invoices"]]


def test_fts_index_backfills_turns_written_before_the_migration(tmp_path):
    from ceoline.store import MIGRATIONS, TurnRecord

    before = Store.open(tmp_path)
    call = before.create_call("simulated", "", "Theo")
    before.add_turn(call, TurnRecord("caller", "an old turn about payouts", 0, 1, {}))
    with before.writing() as db:  # pretend the dashboard migration never ran
        db.execute("DROP TABLE turns_fts")
        for name in ("insert", "delete", "update"):
            db.execute(f"DROP TRIGGER turns_fts_{name}")
        db.execute("DROP TABLE item_notes")
        for table in ("audit_log", "login_failures", "web_sessions", "users"):
            db.execute(f"DROP TABLE {table}")
        later = [name for name, _ in MIGRATIONS if name >= "0005_dashboard"]
        db.execute(f"DELETE FROM migrations WHERE name IN ({','.join('?' * len(later))})", later)
        db.execute("DROP INDEX idx_calls_ended_at")
        db.execute("DROP TABLE themes")
        db.execute("DROP TABLE webhook_outbox")
        db.execute("DROP INDEX idx_feedback_items_theme_id")
        db.execute("DROP INDEX idx_calls_line_started_at")
    before.db["feedback_items"].transform(
        drop={"reviewed_by", "assigned_team", "assigned_by", "assigned_at", "theme_id"}
    )
    before.db["calls"].transform(drop={"box", "worker", "owner", "line", "language"})
    before.db["turns"].transform(drop={"understood"})
    before.close()
    after = Store.open(tmp_path)
    assert [r["id"] for r in list_calls(after, CallFilters(q="payouts"))] == [call]
    after.close()


def test_exports_contain_the_right_rows(client, store, ids):
    logged_in(client)
    calls = client.get("/export/calls.json").json()
    assert {c["id"] for c in calls} == set(ids.values())
    invoices = next(c for c in calls if c["id"] == ids["invoices"])
    assert invoices["sentiment"] == "negative" and invoices["escalated"] is True
    assert invoices["caller"] == "sip:•••567@10.20.0.5"
    rows = list(csv.DictReader(io.StringIO(client.get("/export/calls.csv").text)))
    assert {r["id"] for r in rows} == set(ids.values())
    items = client.get("/export/items.json").json()
    assert len(items) == 4
    assert {i["product_area"] for i in items} == {"invoices", "payments", "mobile_app", "other"}
    response = client.get("/export/items.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 4 and rows[0]["quote"].startswith("My invoice reminders")
    filtered = client.get("/export/calls.csv", params={"escalated": "yes"}).text
    assert ids["invoices"] in filtered and ids["praise"] not in filtered


def test_csv_cells_cannot_start_a_formula(client, store, ids):
    with store.writing() as db:
        db.execute(
            "UPDATE feedback_items SET quote = '=HYPERLINK(\"x\")' WHERE call_id = ?",
            [ids["praise"]],
        )
    logged_in(client)
    text = client.get("/export/items.csv").text
    assert "'=HYPERLINK" in text


def test_caller_text_is_escaped(client, ids):
    logged_in(client)
    for page in (f"/calls/{ids['xss']}", "/calls", "/review"):
        html = client.get(page).text
        assert XSS_SCRIPT not in html and "<img src=x" not in html, page
    html = client.get(f"/calls/{ids['xss']}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "script-src" not in client.get("/calls").headers["content-security-policy"]
    assert "default-src 'none'" in client.get("/calls").headers["content-security-policy"]


def test_themes_chart_and_latency_percentiles(client):
    logged_in(client)
    themes = client.get("/themes").text
    assert themes.count("<svg") == 2 and 'class="bar series-' in themes
    latency = client.get("/latency", params={"calls": 10}).text
    # response times 1250, 1390, 1100 ms: nearest-rank p50 is 1250, p95 1390.
    assert "<td>response</td><td>3</td>" in latency
    assert "<td>1250</td>" in latency and "<td>1390</td>" in latency


def test_mask_caller():
    assert mask_caller("sip:+15551234567@10.20.0.5") == "sip:•••567@10.20.0.5"
    assert mask_caller("alice@example.com") == "•••ice@example.com"
    assert mask_caller("ab") == "•••"
    assert mask_caller(None) == ""


def test_users_are_validated_and_passwords_hashed(store):
    auth.add_user(store, "bob", PASSWORD, "reviewer")
    stored = store.db.execute("SELECT password_hash FROM users WHERE name = 'bob'").fetchone()[0]
    assert stored.startswith("$argon2") and PASSWORD not in stored
    assert auth.check_password(store, "bob", PASSWORD) == "reviewer"
    assert auth.check_password(store, "bob", "wrong password") is None
    assert auth.check_password(store, "nobody", PASSWORD) is None
    for name, password, role in (
        ("bob", PASSWORD, "reviewer"),
        ("x y", PASSWORD, "admin"),
        ("eve", "short", "admin"),
        ("eve", PASSWORD, "root"),
    ):
        with pytest.raises(auth.CeolineError):
            auth.add_user(store, name, password, role)
    auth.remove_user(store, "bob")
    assert [u["name"] for u in auth.list_users(store)] == []


def test_users_cli_and_dashboard_refuses_a_remote_host(tmp_path):
    from typer.testing import CliRunner

    from ceoline.cli import app
    from tests.conftest import make_config

    config = str(make_config(tmp_path))
    runner = CliRunner()
    added = runner.invoke(
        app,
        ["users", "add", "dee", "--role", "compliance", "--password-stdin", "-c", config],
        input=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["users", "list", "--json", "-c", config])
    assert [(u["name"], u["role"]) for u in json.loads(listed.output)] == [("dee", "compliance")]
    bad_role = runner.invoke(app, ["users", "add", "x", "--role", "root", "-c", config])
    assert bad_role.exit_code != 0 and "not valid" in str(bad_role.exception)
    remote = runner.invoke(app, ["dashboard", "--host", "0.0.0.0", "-c", config])
    assert remote.exit_code != 0 and "--allow-remote" in str(remote.exception)
    assert runner.invoke(app, ["users", "remove", "dee", "-c", config]).exit_code == 0


def test_calls_cut_by_a_crash_are_marked(client, store, ids):
    call_id = store.create_call("sip", "1001@pbx", "Theo")
    store.add_turn(call_id, TurnRecord("caller", "the export button is missing", 0, 900, {}))
    with store.writing() as db:
        db.execute("UPDATE calls SET owner = NULL WHERE id = ?", [call_id])
    assert store.close_crashed_calls() == [call_id]
    logged_in(client)
    listing = client.get("/calls").text
    assert listing.count("cut by a crash") == 1
    detail = client.get(f"/calls/{call_id}").text
    assert "The server stopped during this call" in detail
    assert "the export button is missing" in detail


def test_a_call_page_shows_what_was_heard_and_what_it_was_understood_as(client, store):
    call_id = store.create_call("sip", "1001@pbx", "Theo")
    turn = TurnRecord(
        "caller",
        "Why did you start Wilfern?",
        0,
        900,
        {},
        understood="Why did you start <b>Quillfern</b>?",
    )
    store.add_turn(call_id, turn)
    logged_in(client)
    detail = client.get(f"/calls/{call_id}").text
    assert "Why did you start Wilfern?" in detail
    assert "understood as: Why did you start &lt;b&gt;Quillfern&lt;/b&gt;?" in detail


def test_failed_and_dead_deliveries_are_on_the_dashboard(client, store):
    store.add_deliveries(
        [{"webhook": "tracker", "event_type": "item.created", "msg_id": f"msg_{n}", "body": "{}"}
         for n in range(3)]
    )  # fmt: skip
    first, second, _ = sorted(r["id"] for r in store.deliveries())
    store.delivery_failed(first, 503, "HTTP 503", "2999-01-01T00:00:00.000+00:00")
    store.delivery_failed(second, None, "connection refused", None)
    logged_in(client)
    page = client.get("/deliveries").text
    assert "HTTP 503" in page and "connection refused" in page and ">dead<" in page
    assert "0 delivered, 2 pending, 1 dead." in page


def test_calls_can_be_told_apart_and_filtered_by_line(config, store, ids):
    import dataclasses

    from ceoline.config import LineConfig

    store.db.execute("UPDATE calls SET line = 'se' WHERE id = ?", [ids["praise"]])
    store.db.execute("UPDATE calls SET line = 'us' WHERE id != ?", [ids["praise"]])
    lines = (LineConfig(name="us", number="hotline"), LineConfig(name="se", number="hotline-se"))
    with TestClient(create_app(dataclasses.replace(config, lines=lines), store=store)) as client:
        logged_in(client)

        def found(**params) -> set[str]:
            return {c["id"] for c in client.get("/export/calls.json", params=params).json()}

        assert found(line="se") == {ids["praise"]}
        assert found(line="us") == set(ids.values()) - {ids["praise"]}
        assert found(line="uk") == set(ids.values())  # a line not configured is ignored
        page = client.get("/calls", params={"line": "se"}).text
        assert '<option value="se" selected>se</option>' in page and "<th>Line</th>" in page
        themes = client.get("/themes", params={"line": "se"}).text
        assert '<option value="se" selected>se</option>' in themes
        assert " · line se · " in client.get(f"/calls/{ids['praise']}").text
        # A Swedish caller's quotes are shown as said, and marked.
        store.db.execute("UPDATE calls SET language = 'sv' WHERE id = ?", [ids["praise"]])
        page = client.get(f"/calls/{ids['praise']}").text
        assert " · in Swedish · " in page and "quote in Swedish, not translated" in page
        assert '<blockquote class="quote" lang="sv">' in page
    with TestClient(create_app(config, store=store)) as client:  # one line: nothing to show
        logged_in(client)
        assert "<th>Line</th>" not in client.get("/calls").text
