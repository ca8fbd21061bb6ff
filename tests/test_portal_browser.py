"""The complaints portal and reviewer console (Art. 12) end to end: a real worker's web
server, driven in headless Chromium, over the embedded broker.

Needs Debian's chromium and chromium-driver (`make test` installs them). Selenium is pointed
at both, so Selenium Manager never tries to download a browser. Screenshots of every step
land in build/test-artifacts/screenshots/."""

from __future__ import annotations

import json
import os
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode

import pytest
from helpers import REVIEWER_TOKEN, envelope, records_for, verdicts
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from synthguard.settings import Settings
from synthguard.streams import catalog
from synthguard.streams.client import TopicWriter
from synthguard.streams.runner import WorkerProcess

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
INSTALL = "sudo apt-get install -y --no-install-recommends chromium chromium-driver"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "test-artifacts" / "screenshots"
HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
WAIT_S = 60.0
WIDTH = 1280


def cjk_fonts(folder: Path) -> dict[str, str]:
    """A fontconfig setup adding mplfonts' Noto Sans CJK (a dependency already) to the system
    fonts, so the screenshots show the Chinese labels without a Debian font package."""
    import mplfonts

    config = folder / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        '<include ignore_missing="yes">/etc/fonts/fonts.conf</include>'
        f"<dir>{Path(mplfonts.__file__).parent / 'fonts'}</dir>"
        f"<cachedir>{folder / 'cache'}</cachedir></fontconfig>"
    )
    return {"FONTCONFIG_FILE": str(config)}


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: run '{INSTALL}' (make test does)")
    env = os.environ | cjk_fonts(tmp_path_factory.mktemp("fonts"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={WIDTH},900")
    service = Service(executable_path=str(CHROMEDRIVER), env=env)  # chromium inherits env
    browser = webdriver.Chrome(service=service, options=options)
    browser.set_page_load_timeout(30)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def base(worker: WorkerProcess) -> str:
    return f"http://127.0.0.1:{worker.web_port}"


def shot(driver: WebDriver, name: str) -> None:
    """A screenshot of the whole page (the window is made as tall as the page first)."""
    page, frame = driver.execute_script(
        "return [document.body.scrollHeight, window.outerHeight - window.innerHeight]"
    )
    driver.set_window_size(WIDTH, max(int(page), 600) + int(frame))
    assert driver.save_screenshot(str(SCREENSHOTS / f"{name}.png")), name


def text_of(driver: WebDriver, element_id: str) -> str:
    """The element's visible text, or "" while it is missing or the page is reloading."""
    try:
        return driver.find_element(By.ID, element_id).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def wait_for(driver: WebDriver, what: str, done: Callable[[WebDriver], bool]) -> None:
    WebDriverWait(driver, WAIT_S, poll_frequency=0.2).until(done, f"gave up waiting: {what}")


def wait_status(driver: WebDriver, status: str) -> None:
    """Until the page's #status badge says `status` (pages reload themselves meanwhile)."""
    wait_for(driver, f"status {status}", lambda d: text_of(d, "status").startswith(status))


def file_complaint(driver: WebDriver, base: str, **fields: str) -> str:
    """Fill the portal's form and submit it; the complaint id from the status page's URL."""
    driver.get(f"{base}/")
    for name in ("type", "category"):
        Select(driver.find_element(By.NAME, name)).select_by_value(fields.pop(name))
    for name, value in fields.items():
        driver.find_element(By.NAME, name).send_keys(value)
    driver.find_element(By.ID, "submit").click()
    wait_for(driver, "the status page", lambda d: "/complaints/complaint-" in d.current_url)
    return driver.current_url.split("/complaints/")[1].split("/")[0]


def assert_shown_as_text(driver: WebDriver) -> None:
    assert HOSTILE in driver.find_element(By.ID, "statement").text
    assert driver.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert driver.execute_script("return window.__pwned") is None


def test_an_appeal_filed_in_the_browser_is_decided_in_the_console_and_takes_effect(
    settings: Settings, broker: str, writer: TopicWriter, driver: WebDriver, base: str
) -> None:
    # (a) a text from a user without a real-name record: blocked (Art. 9)
    unverified = f"u-{uuid.uuid4().hex[:8]}"
    source = envelope("我的旅行日记：西湖边的早晨。", unverified)
    artifact_id = source["artifact_id"]
    [blocked] = verdicts(settings, broker, writer, source)
    assert blocked["verdict"] == "BLOCKED"

    # (b) the user appeals on the portal, with a statement that tries to run script
    driver.get(f"{base}/")
    assert "Art. 12" in driver.find_element(By.ID, "process").text
    shot(driver, "01-portal-published-process")
    cid = file_complaint(
        driver,
        base,
        type="APPEAL",
        category="BLOCK",
        submitter_id=unverified,
        artifact_id=artifact_id,
        text=f"请复核 please review {HOSTILE}",
        contact="user@example.org",
    )
    shot(driver, "02-status-received")
    wait_status(driver, "OPEN")
    assert driver.find_element(By.ID, "deadline").text.endswith("UTC")
    assert "left" in driver.find_element(By.TAG_NAME, "main").text
    assert "APPEALS" in driver.find_element(By.TAG_NAME, "main").text
    assert_shown_as_text(driver)
    shot(driver, "03-status-open-with-deadline")

    # (c) a reviewer logs in, finds the ticket in the appeals queue and upholds it
    driver.get(f"{base}/console/")
    shot(driver, "04-console-login")
    driver.find_element(By.ID, "token").send_keys(REVIEWER_TOKEN)
    driver.find_element(By.ID, "login-submit").click()
    wait_for(driver, "the appeals queue", lambda d: bool(text_of(d, "queue-APPEALS")))
    link = driver.find_element(
        By.CSS_SELECTOR, f'#queue-APPEALS a[href="/console/complaints/{cid}/"]'
    )
    shot(driver, "05-console-open-tickets")
    link.click()
    wait_for(driver, "the ticket", lambda d: bool(text_of(d, "decide")))
    audit = driver.find_element(By.ID, "audit")
    assert artifact_id in audit.text
    events = [
        row.find_elements(By.TAG_NAME, "td")[1].text
        for row in audit.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    assert "VERDICT" in events and "CHECK" in events, events
    assert "user@example.org" in driver.find_element(By.TAG_NAME, "main").text
    assert_shown_as_text(driver)
    shot(driver, "06-ticket-with-audit-trail")
    driver.find_element(By.ID, "reviewer").send_keys("rev-browser")
    driver.find_element(By.ID, "note").send_keys("real name confirmed by phone")
    driver.find_element(By.ID, "uphold").click()
    wait_status(driver, "UPHELD")
    shot(driver, "07-ticket-upheld")

    # (d) the appellant sees the outcome; the artifact is published, naming the reviewer
    driver.get(f"{base}/complaints/{cid}/")
    wait_status(driver, "UPHELD")
    history = driver.find_element(By.ID, "history").text
    assert "upheld by rev-browser" in history
    assert "real name confirmed by phone" in history
    assert_shown_as_text(driver)
    shot(driver, "08-status-upheld")
    first, second = records_for(
        settings, broker, catalog.REPORTS_COMPLIANCE, {artifact_id}, count=2
    )
    assert (first["verdict"], second["verdict"]) == ("BLOCKED", "PUBLISHABLE")
    assert second["reviewer"] == "rev-browser"


def test_a_complaint_about_an_unknown_artifact_is_refused_with_its_id(
    driver: WebDriver, base: str
) -> None:
    missing = f"no-such-artifact-{uuid.uuid4().hex[:6]}"
    file_complaint(
        driver,
        base,
        type="REPORT",
        category="ILLEGAL_CONTENT",
        submitter_id=f"p-{uuid.uuid4().hex[:8]}",
        artifact_id=missing,
        text="这条内容违法 this is illegal",
    )
    wait_status(driver, "REJECTED")
    assert f"no artifact {missing} on record" in driver.find_element(By.ID, "history").text
    shot(driver, "09-status-rejected-unknown-artifact")


def test_a_form_the_portal_cannot_take_comes_back_filled_in_with_the_reason(
    driver: WebDriver, base: str
) -> None:
    file_form = {"type": "APPEAL", "category": "RUMOR", "submitter_id": "p-1", "text": HOSTILE}
    driver.get(f"{base}/")
    for name in ("type", "category"):
        Select(driver.find_element(By.NAME, name)).select_by_value(file_form[name])
    for name in ("submitter_id", "text"):
        driver.find_element(By.NAME, name).send_keys(file_form[name])
    driver.find_element(By.ID, "submit").click()
    wait_for(driver, "the error", lambda d: bool(text_of(d, "error")))
    assert "APPEAL cannot be about RUMOR" in text_of(driver, "error")
    assert driver.find_element(By.NAME, "text").get_attribute("value") == HOSTILE
    assert driver.execute_script("return window.__pwned") is None
    shot(driver, "10-portal-refused-form")


# --- the same routes over plain HTTP: status codes, cookies, the JSON API ------------------


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # let the test see the 303 itself


OPENER = urllib.request.build_opener(NoRedirects)


def call(
    url: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with OPENER.open(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except HTTPError as error:
        return error.code, error.headers, error.read().decode()


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def test_the_console_refuses_without_the_reviewer_cookie(base: str) -> None:
    status, headers, body = call(f"{base}/console/")
    assert status == 401
    assert 'action="/console/login/"' in body
    assert headers["Content-Security-Policy"].startswith("default-src 'none';")  # no script
    assert call(f"{base}/console/login/", form(token="guess"))[0] == 401
    decide = f"{base}/console/complaints/complaint-x/decide/"
    assert call(decide, form(decision="UPHELD", reviewer="x"))[0] == 401

    status, headers, _ = call(f"{base}/console/login/", form(token=REVIEWER_TOKEN))
    assert (status, headers["Location"]) == (303, "/console/")
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"synthguard_reviewer={REVIEWER_TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    reviewer = {"Cookie": f"synthguard_reviewer={REVIEWER_TOKEN}"}
    assert call(f"{base}/console/", headers=reviewer)[0] == 200
    status, _, body = call(decide, form(decision="UPHELD", reviewer="x"), reviewer)
    assert status == 404
    assert "complaint-x" in body


def test_platforms_file_json_and_follow_the_status(base: str) -> None:
    complaint = {
        "type": "COMPLAINT",
        "category": "UNLABELED_AI",
        "submitter_id": f"platform-{uuid.uuid4().hex[:8]}",
        "artifact_id": f"no-such-artifact-{uuid.uuid4().hex[:6]}",
        "text": "no AI label on this",
    }
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    status, _, body = call(f"{base}/complaints/", json.dumps(complaint).encode(), json_headers)
    assert status == 202, body
    filed = json.loads(body)
    assert filed["status_url"] == f"/complaints/{filed['complaint_id']}/"

    deadline = time.monotonic() + WAIT_S
    while (answer := call(base + filed["status_url"], headers=json_headers))[0] == 404:
        assert time.monotonic() < deadline, "no feedback for the JSON complaint"
        time.sleep(0.2)
    code, _, body = answer
    assert code == 200, body
    status = json.loads(body)
    assert (status["complaint_id"], status["status"]) == (filed["complaint_id"], "REJECTED")
    assert f"no artifact {complaint['artifact_id']} on record" in status["message"]
    assert [f["status"] for f in status["history"]] == ["REJECTED"]
    assert "complaint" not in status["history"][0]  # nor its contact: for reviewers only
    bad = json.dumps(complaint | {"category": "GOSSIP"}).encode()
    status, _, body = call(f"{base}/complaints/", bad, json_headers)
    assert status == 400
    assert "category must be one of" in json.loads(body)["error"]
    assert call(f"{base}/complaints/", b"{not json", json_headers)[0] == 400


def test_a_lookup_of_an_unknown_id_is_not_found(base: str) -> None:
    status, headers, _ = call(f"{base}/complaints/?complaint_id=complaint-nope")
    assert (status, headers["Location"]) == (303, "/complaints/complaint-nope/")
    status, _, body = call(f"{base}/complaints/complaint-nope/")
    assert status == 404
    assert "complaint-nope" in body
