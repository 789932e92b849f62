"""The REST API and the dashboard's server side, over HTTP against a real uvicorn server on a free
loopback port and a real DuckDB ledger built by the demo: the API's JSON is the CLI's JSON (checked
against `aispend` run in a subprocess), login and roles, CSRF, the login rate limit, owner scopes
enforced on every endpoint, and secrets never rendered."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from aispend.analysis.anomalies import Anomaly, Detection, record_anomalies
from aispend.config import SecretRef, Settings, SourceConfig
from aispend.demo import run_demo
from aispend.optimize import recommend
from aispend.optimize.decisions import record
from aispend.optimize.recommend.base import Recommendation
from aispend.server.users import add_user, create_token
from aispend.store import open_store

from .conftest import run_cli
from .serving import serving

PASSWORDS = {"root": "root-password-1", "vera": "vera-password-1", "sam": "sam-password-12"}


@dataclass
class Demo:
    url: str
    dir: Path
    today: datetime
    month: str
    last_month: str
    tokens: dict[str, str]

    def settings(self, **dashboard: object) -> Settings:
        s = Settings()
        s.store.url = self.url
        for k, v in dashboard.items():
            setattr(s.dashboard, k, v)
        return s


def build_demo(base: Path, url: str) -> Demo:
    """A three-month demo ledger at ``url`` up to today, three users, stored anomalies and recommendations,
    including findings scoped to two teams (what an owner-scoped viewer may or may not see)."""
    today = datetime.now(UTC).replace(tzinfo=None)
    settings = Settings()
    settings.store.url = url
    tokens = {}
    with open_store(url) as store:
        run_demo(store, settings, base / "demo", today=today.date(), months=3)
        add_user(store, "root", PASSWORDS["root"], "admin")
        add_user(store, "vera", PASSWORDS["vera"], "viewer")
        add_user(store, "sam", PASSWORDS["sam"], "viewer", owner="search")
        for name in PASSWORDS:
            tokens[name] = create_token(store, name, "tests")[1]
        recommend(store, settings)
        record(store, [Recommendation("unowned", {"owner": team, "feature": "x"}, f"{team} finding", {}, Decimal(7),
                                      "assumed", "low") for team in ("search", "growth")])
        start = datetime.combine(today.date() - timedelta(days=2), datetime.min.time())
        found = [Anomaly("spend_spike", (("owner", team),), start, start + timedelta(days=1), "usd_per_day",
                         Decimal(10), Decimal(90), Decimal(80), "warning", f"{team} spiked") for team in ("search", "growth")]
        record_anomalies(store, Detection(start, start + timedelta(days=1), found))
    first = today.date().replace(day=1)
    return Demo(url, base, today, first.strftime("%Y-%m"), (first - timedelta(days=1)).strftime("%Y-%m"), tokens)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, make_ledger_url) -> Demo:
    base = tmp_path_factory.mktemp("dashboard")
    return build_demo(base, make_ledger_url(base, "ledger"))


def cli(demo: Demo, *args: str) -> str:
    result = run_cli("--store", demo.url, *args, cwd=demo.dir)
    assert result.returncode == 0, result.stderr
    return result.stdout


def bearer(demo: Demo, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.tokens[user]}"}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client: httpx.Client, user: str, password: str | None = None) -> httpx.Response:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password or PASSWORDS[user],
                                       "csrf_token": token, "next": "/"}, follow_redirects=True)


def total(rows: list[dict]) -> Decimal:
    return sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0))


# ---------------------------------------------------------------- the API's JSON is the CLI's


def test_api_json_and_csv_equal_the_cli(demo):
    month = demo.month
    as_of = demo.today.date().isoformat()
    with serving(demo.settings()) as base, httpx.Client(base_url=base) as c:
        report = c.get("/api/v1/report", params={"by": "provider", "month": month})
        by_model_csv = c.get("/api/v1/report", params={"by": "provider,model", "month": month, "format": "csv",
                                                      "where": ["environment=prod", "provider=openai"]})
        forecast = c.get("/api/v1/forecast", params={"by": "provider", "as_of": as_of})
        unit = c.get("/api/v1/unit-costs", params={"by": "feature", "month": demo.last_month})
        rec = c.get("/api/v1/reconciliation", params={"month": demo.last_month})
        footer = c.get("/api/v1/report/footer", params={"month": month})
    assert report.status_code == 200 and report.headers["content-type"] == "application/json"
    assert report.json() == json.loads(cli(demo, "report", "--by", "provider", "--month", month, "--format", "json"))
    assert len(report.json()) >= 5 and all(isinstance(r["cost_usd"], str) for r in report.json())  # exact strings
    assert by_model_csv.headers["content-disposition"].startswith("attachment")
    assert by_model_csv.text == cli(demo, "report", "--by", "provider,model", "--month", month, "--where",
                                    "environment=prod", "--where", "provider=openai", "--format", "csv")
    assert forecast.json() == json.loads(cli(demo, "forecast", "--by", "provider", "--as-of", as_of, "--format", "json"))
    assert unit.json() == json.loads(cli(demo, "report", "unit", "--by", "feature", "--month", demo.last_month,
                                         "--format", "json"))
    assert rec.json() == json.loads(cli(demo, "reconcile", "--month", demo.last_month, "--format", "json"))
    assert footer.json()["rows"] > 0 and isinstance(footer.json()["notes"], list)


def test_openapi_lists_every_data_endpoint(demo):
    with serving(demo.settings()) as base:
        spec = httpx.get(f"{base}/openapi.json").json()
    paths = set(spec["paths"])
    for p in ("/api/v1/report", "/api/v1/overview", "/api/v1/forecast", "/api/v1/customers", "/api/v1/anomalies",
              "/api/v1/recommendations", "/api/v1/reconciliation", "/api/v1/sources", "/api/v1/budgets",
              "/api/v1/customers/report", "/api/v1/reconciliation/{month}/sign-off", "/v1/traces"):
        assert p in paths, p
    assert not any(p.startswith(("/explorer", "/login")) for p in paths)  # pages are not API


# ---------------------------------------------------------------- login: when it is required


def test_loopback_needs_no_login_by_default_but_proxies_and_foreign_hosts_do(demo):
    with serving(demo.settings()) as base, httpx.Client(base_url=base) as c:
        assert c.get("/api/v1/me").json() == {"username": "local", "role": "admin", "owner": None, "via": "local"}
        page = c.get("/")
        assert page.status_code == 200 and "Month to date" in page.text
        assert "content-security-policy" in page.headers and page.headers["x-frame-options"] == "DENY"
        # A reverse proxy on this machine connects from 127.0.0.1 on behalf of anyone.
        assert c.get("/api/v1/me", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
        # DNS rebinding: a page of another site whose name resolves to 127.0.0.1.
        assert c.get("/api/v1/me", headers={"Host": "attacker.example:80"}).status_code == 401
        assert c.get("/api/v1/me", headers=bearer(demo, "vera")).json()["username"] == "vera"


def session_cookie(response: httpx.Response) -> tuple[str, str]:
    """(value, the whole Set-Cookie header) of the session cookie a response sets."""
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("aispend_session="))
    return header.split(";", 1)[0].split("=", 1)[1], header


@pytest.mark.parametrize("how", ["require_login", "non-loopback host"])
def test_login_is_required_when_configured_or_beyond_loopback(demo, how):
    settings = demo.settings(require_login=True) if how == "require_login" else demo.settings()
    with serving(settings, host=None if how == "require_login" else "0.0.0.0") as base, \
            httpx.Client(base_url=base) as c:
        refused = c.get("/api/v1/report", params={"month": demo.month})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        page = c.get("/explorer?by=model", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fexplorer%3Fby%3Dmodel"
        assert c.get("/api/v1/me", headers={"Authorization": "Bearer asp_not-a-token"}).status_code == 401
        assert c.get("/api/v1/me", headers=bearer(demo, "root")).json()["via"] == "token"
        # Cookies by hand: beyond loopback they are Secure, which a client only sends back over https.
        c.cookies.clear()
        form = c.get("/login")
        anonymous, _ = session_cookie(form)
        jar = {"Cookie": f"aispend_session={anonymous}"}
        fields = {"username": "root", "csrf_token": csrf_of(form.text), "next": "/explorer"}
        assert c.post("/login", data=fields | {"password": "wrong-password"}, headers=jar).status_code == 401
        ok = c.post("/login", data=fields | {"password": PASSWORDS["root"]}, headers=jar, follow_redirects=False)
        assert ok.status_code == 303 and ok.headers["location"] == "/explorer"
        session, header = session_cookie(ok)
        assert session != anonymous and "HttpOnly" in header and "SameSite=lax" in header
        assert ("Secure" in header) == (how != "require_login")  # Secure beyond loopback
        jar = {"Cookie": f"aispend_session={session}"}
        assert c.get("/api/v1/me", headers=jar).json() == {"username": "root", "role": "admin", "owner": None,
                                                           "via": "session"}
        logout = c.post("/logout", data={"csrf_token": csrf_of(c.get("/", headers=jar).text)}, headers=jar,
                        follow_redirects=False)
        assert logout.headers["location"] == "/login"
        after = {"Cookie": f"aispend_session={session_cookie(logout)[0]}"}
        assert c.get("/api/v1/me", headers=after).status_code == 401
        tampered = {"Cookie": f"aispend_session={session[:-2]}xx"}
        assert c.get("/api/v1/me", headers=tampered).status_code == 401


# ---------------------------------------------------------------- CSRF and the login rate limit


def test_forms_and_cookie_api_writes_need_the_csrf_token(demo):
    with serving(demo.settings(require_login=True)) as base, httpx.Client(base_url=base) as c:
        c.get("/login")
        no_token = c.post("/login", data={"username": "root", "password": PASSWORDS["root"]})
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        with httpx.Client(base_url=base) as other:  # a token made for another browser's session
            foreign = csrf_of(other.get("/login").text)
        assert c.post("/login", data={"username": "root", "password": PASSWORDS["root"],
                                      "csrf_token": foreign}).status_code == 403
        assert login(c, "root").status_code == 200
        rec_id = c.get("/api/v1/recommendations").json()[0]["id"]
        assert c.post(f"/recommendations/{rec_id}/accept").status_code == 403
        assert c.post(f"/api/v1/recommendations/{rec_id}/accept").status_code == 403  # cookie, no header
        assert c.get("/api/v1/recommendations").json()[0]["id"] == rec_id  # still open
        token = csrf_of(c.get("/recommendations").text)
        done = c.post(f"/recommendations/{rec_id}/dismiss", data={"csrf_token": token, "reason": "we tried it"},
                      follow_redirects=True)
        assert done.status_code == 200 and done.url.path == "/recommendations"
        dismissed = {r["id"]: r for r in c.get("/api/v1/recommendations", params={"status": "dismissed"}).json()}
        assert dismissed[rec_id]["reason"] == "we tried it"


def test_login_is_rate_limited_per_user_and_address(demo):
    with serving(demo.settings(require_login=True)) as base, httpx.Client(base_url=base) as c:
        for _ in range(5):
            assert login(c, "vera", "not-her-password").status_code == 401
        limited = login(c, "vera")  # even the right password, for a minute
        assert limited.status_code == 429 and 0 < int(limited.headers["retry-after"]) <= 61
        assert "Too many failed logins" in limited.text
        assert login(c, "root").status_code == 200  # another user from the same address is not locked out


# ---------------------------------------------------------------- roles


def test_viewers_cannot_sign_off_or_decide_and_admins_can(demo):
    month = demo.last_month
    with serving(demo.settings()) as base, httpx.Client(base_url=base) as c:
        rec_id = c.get("/api/v1/recommendations").json()[-1]["id"]
        for user in ("vera", "sam"):
            assert c.post(f"/api/v1/reconciliation/{month}/sign-off", json={"note": "x"},
                          headers=bearer(demo, user)).status_code == 403
            assert c.post(f"/api/v1/recommendations/{rec_id}/accept", headers=bearer(demo, user)).status_code == 403
        with httpx.Client(base_url=base) as browser:  # the form, as a logged-in viewer
            login(browser, "vera")
            page = browser.get("/reconciliation", params={"month": month})
            assert page.status_code == 200 and "Sign off" not in page.text
            refused = browser.post("/reconciliation/sign-off", data={"csrf_token": csrf_of(page.text), "month": month})
            assert refused.status_code == 403 and "admin" in refused.text
        assert c.get("/api/v1/reconciliation", params={"month": month}).json()["status"] == "open"
        signed = c.post(f"/api/v1/reconciliation/{month}/sign-off", json={"note": "checked"},
                        headers=bearer(demo, "root"))
        assert signed.status_code == 200 and signed.json()["signed_by"] == "root"
        after = c.get("/api/v1/reconciliation", params={"month": month}).json()
        assert after["status"] == "closed" and after["signoff"]["note"] == "checked"
        accepted = c.post(f"/api/v1/recommendations/{rec_id}/accept", headers=bearer(demo, "root"))
        assert accepted.status_code == 200 and accepted.json()[0]["status"] == "accepted"


# ---------------------------------------------------------------- owner scope, on every endpoint


def test_an_owner_scoped_viewer_sees_only_their_team_through_every_endpoint(demo):
    month = demo.month
    sam = bearer(demo, "sam")
    with serving(demo.settings()) as base, httpx.Client(base_url=base, headers=sam) as c:
        by_owner = c.get("/api/v1/report", params={"by": "owner", "month": month}).json()
        assert [r["owner"] for r in by_owner] == ["search"]
        everyone = c.get("/api/v1/report", params={"by": "owner", "month": month}, headers=bearer(demo, "vera")).json()
        assert len(everyone) > 3 and total(everyone) > total(by_owner)
        mine = json.loads(cli(demo, "report", "--by", "provider", "--month", month, "--where", "owner=search",
                              "--format", "json"))
        assert c.get("/api/v1/report", params={"by": "provider", "month": month}).json() == mine
        download = c.get("/api/v1/report", params={"by": "provider,owner", "month": month, "format": "csv"})
        rows = list(csv.DictReader(io.StringIO(download.text)))
        assert {r["owner"] for r in rows} == {"search"} and total(rows) == total(mine)
        for where in ("owner=growth", "owner=(unattributed)"):
            for path in ("/api/v1/report", "/api/v1/report/footer", "/api/v1/forecast", "/api/v1/unit-costs"):
                refused = c.get(path, params={"where": [where, "owner=search"], "month": month} if "forecast" not in path
                                else {"where": where})
                assert refused.status_code == 403, (path, where)
        for path in ("/api/v1/reconciliation?month=" + demo.last_month, "/api/v1/margin", "/api/v1/sources"):
            assert c.get(path).status_code == 403, path
        assert c.get("/api/v1/values", params={"dimension": "owner"}).json() == ["search"]
        customers = c.get("/api/v1/customers", params={"month": month}).json()
        assert "margin_usd" not in customers["columns"]
        assert Decimal(customers["total_usd"]) == total(mine)
        acme = c.get("/api/v1/customers/report", params={"customer": "Acme Logistics", "month": month}).json()
        acme_all = c.get("/api/v1/customers/report", params={"customer": "Acme Logistics", "month": month},
                         headers=bearer(demo, "vera")).json()
        assert acme["scope"] == "search" and 0 < Decimal(acme["total_usd"]) < Decimal(acme_all["total_usd"])
        overview = c.get("/api/v1/overview").json()
        fc = json.loads(cli(demo, "forecast", "--where", "owner=search", "--format", "json"))[0]
        assert overview["month_to_date_usd"] == fc["actual_usd"] and overview["forecast"]["forecast_usd"] == fc["forecast_usd"]
        assert [a["scope"] for a in c.get("/api/v1/anomalies").json()] == [{"owner": "search"}]
        recs = c.get("/api/v1/recommendations", params={"status": "all"}).json()
        assert [r["title"] for r in recs] == ["search finding"]
        assert len(c.get("/api/v1/recommendations", params={"status": "all"}, headers=bearer(demo, "vera")).json()) > 2
        # The pages go through the same layer.
        with httpx.Client(base_url=base) as browser:
            login(browser, "sam")
            page = browser.get("/explorer", params={"by": "owner", "month": month})
            assert "search" in page.text and "growth" not in page.text and "Reconciliation" not in page.text
            assert browser.get("/explorer", params={"where": "owner=growth"}).status_code == 403
            assert browser.get("/sources").status_code == 403


# ---------------------------------------------------------------- pages, PDF, secrets


def test_every_page_renders_and_the_customer_report_prints_to_pdf(demo):
    from pypdf import PdfReader

    logo = demo.dir / "logo.svg"
    logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>')
    settings = demo.settings(company_name="Brightwave Inc.", logo_path=str(logo), accent_color="#0f766e")
    with serving(settings) as base, httpx.Client(base_url=base) as c:
        for path in ("/", "/explorer", "/budgets", "/anomalies", "/recommendations", "/reconciliation", "/sources",
                     "/customers"):
            page = c.get(path)
            assert page.status_code == 200 and "<h1>" in page.text, path
        assert "no budgets configured" in c.get("/budgets").text
        params = {"customer": "Acme Logistics", "month": demo.last_month}
        html = c.get("/customers/report", params=params).text
        assert "Brightwave Inc." in html and "#0f766e" in html and "data:image/svg+xml;base64," in html
        data = c.get("/api/v1/customers/report", params=params).json()
        pdf = c.get("/customers/report.pdf", params=params, timeout=60)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Acme Logistics" in text and "Brightwave Inc." in text
    assert f"${Decimal(data['total_usd']):,.2f}" in text  # the same figure as the API's


def test_secrets_and_hashes_are_never_rendered(demo, monkeypatch):
    monkeypatch.setenv("AISPEND_TEST_OPENAI_KEY", "sk-admin-very-secret-value")
    monkeypatch.setenv("AISPEND_TEST_SESSION_SECRET", "session-secret-value-123")
    settings = demo.settings(session_secret=SecretRef(env="AISPEND_TEST_SESSION_SECRET"))
    settings.sources["openai-main"] = SourceConfig(type="openai", api_key=SecretRef(env="AISPEND_TEST_OPENAI_KEY"))
    with open_store(demo.url) as store:
        hashes = [h for (h,) in store.query("SELECT password_hash FROM users")] + \
                 [h for (h,) in store.query("SELECT token_hash FROM api_tokens")]
    with serving(settings) as base, httpx.Client(base_url=base) as c:
        bodies = [c.get(p).text for p in ("/sources", "/api/v1/sources", "/api/v1/me", "/", "/login")]
    sources = json.loads(bodies[1])
    assert any(s["source"] == "openai-main" and s["health"] == "never_synced" for s in sources)
    for body in bodies:
        for secret in ["sk-admin-very-secret-value", "session-secret-value-123", "$argon2", *hashes,
                       *demo.tokens.values()]:
            assert secret not in body


def test_users_cli_manages_users_and_tokens(demo, tmp_path, ledger_url):
    store = f"--store={ledger_url('users')}"

    def users(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aispend", store, "users", *args], input=stdin, text=True,
                              capture_output=True, cwd=tmp_path, timeout=120, check=False)

    added = users("add", "dana", "--role", "viewer", "--owner", "growth", "--password-stdin", stdin="dana-password-1\n")
    assert added.returncode == 0 and "sees only owner=growth" in added.stderr
    assert "at least 10" in users("add", "eve", "--password-stdin", stdin="short\n").stderr
    assert "--role viewer" in users("add", "eve", "--role", "admin", "--owner", "x", "--password-stdin",
                                    stdin="long-enough-pw\n").stderr
    made = users("token", "dana", "--label", "grafana")
    token = made.stdout.strip()
    assert made.returncode == 0 and token.startswith("asp_") and token not in made.stderr
    listed = json.loads(users("list", "--format", "json").stdout)
    assert listed == [{"username": "dana", "role": "viewer", "owner": "growth", "created_at": listed[0]["created_at"],
                       "tokens": 1}]
    tokens = json.loads(users("token", "--list", "--format", "json").stdout)
    assert [t["label"] for t in tokens] == ["grafana"] and token not in json.dumps(tokens)
    settings = Settings()
    settings.store.url = ledger_url("users")
    with serving(settings) as base:
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"username": "dana", "role": "viewer", "owner": "growth", "via": "token"}
        assert users("remove", "dana").returncode == 0
        assert httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert json.loads(users("list", "--format", "json").stdout) == []
