"""Login page, the token URL, share links and saved comparisons in Chromium against `tricklab up`."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.browser.conftest import ADMIN_HEADERS, login_with_token

pytestmark = pytest.mark.browser

SPEC = {
    "name": "<b>shared</b> & friends",
    "task": "digits",
    "base": {"epochs": 1, "depth": 1, "width": 16, "max_steps": 5},
    "factors": ["relu"],
    "seeds": 1,
}


def api(base_url: str, method: str, path: str, **kwargs: Any) -> Any:
    r = httpx.request(method, f"{base_url}/api/v1{path}", headers=ADMIN_HEADERS, timeout=30, **kwargs)
    assert r.status_code < 400, r.text
    return r.json() if r.content else None


def test_login_page_logs_in_and_out(anon_page: Any, tricklab_server: str) -> None:
    page = anon_page
    name = f"dana-{uuid.uuid4().hex[:6]}"
    api(tricklab_server, "POST", "/team/members", json={"username": name, "password": "pass-word-1", "role": "member"})
    page.goto(f"{tricklab_server}/#/new")
    page.wait_for_selector("#login-form")  # not signed in: the login page, remembering where we wanted to go
    page.fill("#login-username", name)
    page.fill("#login-password", "wrong-password")
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not(:empty)")
    assert "Wrong username or password" in page.text_content("#login-error")
    page.fill("#login-password", "pass-word-1")
    page.click("#login-submit")
    page.wait_for_selector("#preview-count[data-runs]")  # back on the form it asked for
    assert name in page.text_content("#account-name")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["tricklab_session"]["httpOnly"] and cookies["tricklab_session"]["sameSite"] == "Lax"
    assert page.evaluate("document.cookie") == ""  # the session is invisible to scripts
    page.click("#logout")
    page.wait_for_selector("#login-form")
    page.goto(f"{tricklab_server}/#/")
    page.wait_for_selector("#login-form")


def test_share_link_and_saved_comparison(page: Any, anon_page: Any, tricklab_server: str) -> None:
    exp_id = api(tricklab_server, "POST", "/experiments", json=SPEC)["id"]
    login_with_token(page, tricklab_server)
    page.goto(f"{tricklab_server}/#/experiments/{exp_id}")
    page.wait_for_selector("#sharing")
    page.fill("#view-name", "<i>relu</i> view")
    page.click("#save-view")
    view = page.locator("[data-testid=open-view]")
    view.wait_for()
    assert view.text_content() == "<i>relu</i> view"
    view.click()  # opening a saved comparison applies it

    page.click("#open-share")
    page.wait_for_selector("#share-dialog[open]")
    page.click("#create-share")
    page.wait_for_selector("#share-url")
    url = page.input_value("#share-url")
    assert "/#/shared/tls_" in url
    page.click("#close-share")

    viewer = anon_page  # no account at all: the link alone shows the experiment, read-only
    viewer.goto(url)
    viewer.wait_for_selector("#shared-banner")
    viewer.wait_for_selector("#experiment-name:not(:empty)")
    assert viewer.text_content("#experiment-name") == SPEC["name"]
    assert viewer.locator("#cancel-experiment").count() == 0 and viewer.locator("#sharing").count() == 0
    assert viewer.locator("#experiment-page b, #experiment-page img").count() == 0

    page.click("#open-share")
    page.click("[data-testid=revoke-share]")
    page.wait_for_selector("#share-links li[data-state=revoked]")
    viewer.reload()
    viewer.wait_for_selector(".card")
    assert viewer.locator("#shared-banner").count() == 0
    assert "not found" in viewer.text_content("#app")
