"""The dashboard (API.md section 17, issue 16) in a real headless Chromium.

Runs the real chatbotmgr-server and drives Debian's Chromium through chromedriver
(python3-selenium). Every page is checked with axe-core (no serious or critical
violation) and for Content-Security-Policy violations (a securitypolicyviolation
listener installed before any page script, and the browser's console log); either fails
the test.

Parts (--part):
  flow       the HTTP headers of every dashboard answer and --no-dashboard; sign in; create
             a chatbot and read the key from the one-time reveal; capture with it; rotate
             (now) and check the old key is refused; the settings editor; delete with typed
             confirmation; invite a member and accept in a second browser; role-restricted
             views; first-load transfer size; 1,000 chatbots rendered (time reported, never
             asserted); sign out. Screenshots with --screenshots DIR.
  grace      needs the key lifecycle (issue 13): create with a key expiry, rotate with a
             grace of 1 hour and a new expiry, both keys work, the list shows the expiries
             and the previous key's; end grace, the old key is refused.
  audit      needs the audit log (issue 14) too: the grace flow, then the audit page shows
             the actions and pages through them.
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from server_process import Failure, ServerProcess  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
KEY_RE = re.compile(r"^ob_live_[0-9a-f]{32}$")
TOKEN_RE = re.compile(r"^ob_inv_[0-9a-f]{64}$")

# Installed before any script of every page: records CSP violations the page reports.
CSP_WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + e.sourceFile + ':' + e.lineNumber);
});
"""


def check(condition, message):
    if not condition:
        raise Failure(message)


def step(text):
    print("== " + text, flush=True)


# ---- HTTP, from the test itself (the API's side of the flow)

def http(method, url, body=None, headers=None):
    """(status, headers, raw body bytes), without raising on 4xx/5xx."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, res.headers, res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def capture(base, key):
    status, _, _ = http("POST", base + "/api/v1/capture", {
        "conversationId": "conv-%d" % time.monotonic_ns(),
        "messages": [{"role": "user", "content": "How do I cancel?"}]},
        {"Authorization": "Bearer " + key})
    return status


def login_token(base, email, password):
    status, _, body = http("POST", base + "/api/v1/auth/login", {"email": email, "password": password})
    check(status == 200, "login over HTTP: %d %s" % (status, body[:200]))
    return json.loads(body)["token"]


class Server(ServerProcess):
    def __init__(self, binary, db, extra=()):
        super().__init__([binary, "serve", "--listen", "127.0.0.1:0", "--db", db, "--threads", "2",
                          "--access-log", "off", *extra])


# ---- The browser

class Browser:
    """One Chromium with a fresh profile: a browser context of its own (cookies, storage)."""

    def __init__(self, base, axe_source, scratch, name):
        self.base, self.axe_source, self.name = base, axe_source, name
        self.profile = tempfile.mkdtemp(prefix="profile-%s." % name, dir=scratch)
        opts = webdriver.ChromeOptions()
        opts.binary_location = shutil.which("chromium")
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,860",
                     "--user-data-dir=" + self.profile):
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=opts)
        self.driver.set_script_timeout(60)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH})
        self.driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        self.console = []

    def quit(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- finding and waiting
    def wait(self, predicate, what, timeout=15):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: predicate())
        except TimeoutException:
            raise Failure("%s: timed out waiting for %s (page: %s)" % (self.name, what, self.driver.current_url))

    def load(self, path):
        """A full page load of base + path (a hash-only change would not reload)."""
        self.driver.get("about:blank")
        self.driver.get(self.base + path)

    def q(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def qs(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def js(self, script, *args):
        return self.driver.execute_script(script, *args)

    def heading(self, text):
        self.wait(lambda: self.js("return [...document.querySelectorAll('main h1')]"
                                  ".some((h) => h.textContent === arguments[0])", text),
                  "heading %r" % text)

    def dialog_open(self, dialog_id):
        return self.js("return document.getElementById(arguments[0]).open", dialog_id)

    def focused_id(self):
        return self.js("return document.activeElement && document.activeElement.id")

    def status_text(self):
        return self.q("#status").get_attribute("textContent")

    # -- the checks of every page
    def check_csp(self, where):
        violations = self.js("return window.__csp || []")
        logs = self.driver.get_log("browser")
        self.console += logs
        csp_logs = [entry["message"] for entry in logs if "Content Security Policy" in entry["message"]
                    or "Content-Security-Policy" in entry["message"]]
        check(not violations and not csp_logs,
              "%s, %s: CSP violations: %s %s" % (self.name, where, violations, csp_logs))

    def check_axe(self, where):
        if not self.js("return typeof window.axe === 'object'"):
            self.js(self.axe_source)
        found = self.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']}).then(
              (r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                                     nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}))),
              (e) => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
        """)
        bad = [v for v in found if v["impact"] in ("serious", "critical")]
        for v in found:
            if v not in bad:
                print("   axe (%s, not failing): %s %s %s" % (where, v["impact"], v["id"], v["nodes"]))
        check(not bad, "%s, %s: axe-core serious/critical violations: %s" % (self.name, where, bad))

    def checked(self, where):
        self.check_csp(where)
        self.check_axe(where)
        self.check_csp(where + " (after axe)")

    def screenshot(self, directory, name):
        if directory:
            os.makedirs(directory, exist_ok=True)
            self.driver.save_screenshot(os.path.join(directory, name))

    # -- flows shared by the parts
    def sign_in(self, email, password):
        self.driver.get(self.base + "/")
        self.heading("Sign in")
        self.checked("sign-in page")
        self.q("#email").send_keys(email)
        self.q("#password").send_keys(password + Keys.ENTER)  # keyboard only
        self.heading("Chatbots")

    def take_secret(self, must_match):
        """Reads the one-time secret from the reveal dialog, checks the dialog's rules, and
        dismisses it by keyboard. Returns the secret."""
        self.wait(lambda: self.dialog_open("reveal"), "the reveal dialog")
        secret = self.q("#reveal-value").get_attribute("value")
        check(must_match.match(secret), "%s: the reveal shows %r" % (self.name, secret))
        check(self.q("#reveal-done").get_attribute("disabled") is not None,
              "Done must be disabled before 'I have copied it'")
        self.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        check(self.dialog_open("reveal"), "Escape dismissed the reveal before 'I have copied it'")
        check(secret not in self.driver.current_url, "the secret is in the URL")
        storage = self.js("return JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        check(secret not in storage, "the secret is in web storage")
        self.q("#reveal-copy").click()
        self.wait(lambda: "Copied" in self.status_text() or "Copying failed" in self.status_text(),
                  "the copy announcement")
        check("Copied" in self.status_text(), "copy: %r" % self.status_text())
        return secret

    def dismiss_secret(self, secret):
        ack = self.q("#reveal-ack")
        ack.send_keys(Keys.SPACE)
        check(ack.is_selected(), "Space did not tick 'I have copied it'")
        done = self.q("#reveal-done")
        check(done.is_enabled(), "Done stays disabled after 'I have copied it'")
        done.send_keys(Keys.ENTER)
        self.wait(lambda: not self.dialog_open("reveal"), "the reveal dialog to close")
        check(self.q("#reveal-value").get_attribute("value") == "", "the secret stays in the dialog")
        check(secret not in self.js("return document.documentElement.outerHTML"),
              "the secret is still in the DOM after the dialog closed")

    def row_button(self, label, name):
        return self.q('button[aria-label="%s for %s"]' % (label, name))


def check_http_headers(base, binary, scratch):
    step("HTTP: headers of every dashboard answer, 304, HEAD, unknown paths unchanged")
    status, headers, body = http("GET", base + "/")
    check(status == 200, "GET /: %d" % status)
    html = body.decode()
    assets = re.findall(r'(?:src|href)="(/assets/[0-9a-f]{16}/[a-z]+\.(?:js|css))"', html)
    check(len(assets) >= 2, "GET /: no hashed assets in %s" % html[:300])
    check("<script>" not in html and "style=" not in html and "<style" not in html,
          "inline script or style in index.html")
    answers = [("/", status, headers)]
    for asset in assets:
        s, h, b = http("GET", base + asset)
        check(s == 200 and b, "GET %s: %d" % (asset, s))
        check(h["Cache-Control"] == "public, max-age=31536000, immutable", "%s: Cache-Control %s" % (asset, h["Cache-Control"]))
        etag = h["ETag"]
        check(etag and etag.startswith('"') and not etag.startswith("W/"), "%s: ETag %r is not strong" % (asset, etag))
        s304, h304, b304 = http("GET", base + asset, headers={"If-None-Match": etag})
        check(s304 == 304 and not b304 and h304["ETag"] == etag, "%s If-None-Match: %d" % (asset, s304))
        sh, hh, bh = http("HEAD", base + asset)
        check(sh == 200 and not bh and hh["Content-Length"] == str(len(b)), "HEAD %s" % asset)
        answers += [(asset, s, h), (asset + " (304)", s304, h304), (asset + " (HEAD)", sh, hh)]
    check(headers["Cache-Control"] == "no-store", "GET /: Cache-Control %s" % headers["Cache-Control"])
    s, h, _ = http("GET", base + "/assets/0000000000000000/app.js")
    check(s == 404, "unknown asset: %d" % s)
    answers.append(("unknown asset", s, h))
    for what, _, h in answers:
        check(h["Content-Security-Policy"] == CSP, "%s: CSP %r" % (what, h["Content-Security-Policy"]))
        check(h["X-Content-Type-Options"] == "nosniff", "%s: nosniff" % what)
        check(h["Referrer-Policy"] == "no-referrer", "%s: Referrer-Policy" % what)
    # What is not the dashboard's answers as in v1.
    for method, path, want in (("GET", "/nope", 404), ("GET", "/api/v1/chatbots", 401),
                               ("POST", "/", 404), ("GET", "/api/v1/", 404), ("GET", "/healthz", 200)):
        s, h, b = http(method, base + path)
        check(s == want and h["Content-Type"] == "application/json" and "Content-Security-Policy" not in h,
              "%s %s: %d %s" % (method, path, s, h["Content-Type"]))
    print("   %d dashboard answers have the headers of API.md section 17" % len(answers))

    step("--no-dashboard: / is the v1 404")
    off = Server(binary, os.path.join(scratch, "off.db"), ["--no-dashboard"])
    try:
        off_base = off.wait_listening()
        for path in ("/", assets[0]):
            s, h, b = http("GET", off_base + path)
            check(s == 404 and h["Content-Type"] == "application/json" and b"not_found" in b,
                  "--no-dashboard GET %s: %d %s" % (path, s, b[:100]))
    finally:
        off.stop()


def first_load_bytes(browser):
    """Bytes transferred by the first load of the page (navigation and every resource), with
    an empty cache: Resource Timing's transferSize (headers and body)."""
    return browser.js("""
        const entries = performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'));
        return entries.map((e) => [e.name, e.transferSize]);""")


def flow(args, base, creds):
    shots = args.screenshots
    admin_email, admin_password = creds
    token = login_token(base, admin_email, admin_password)
    bearer = {"Authorization": "Bearer " + token}

    a = Browser(base, args.axe_source, args.scratch, "admin")
    b = None
    try:
        step("first load on an empty cache")
        a.driver.get(base + "/")
        a.heading("Sign in")
        a.wait(lambda: a.js("return document.readyState") == "complete", "the load event")
        sizes = first_load_bytes(a)
        total = sum(size for _, size in sizes)
        print("   first load: %d bytes over %d requests (%s)" % (
            total, len(sizes), ", ".join("%s %d" % (name.rsplit("/", 1)[-1] or "/", size) for name, size in sizes)))
        check(all(size > 0 for _, size in sizes), "a first-load request came from a cache: %s" % sizes)
        check(total < 100 * 1024, "first load transfers %d bytes (target: under 100 KB)" % total)
        a.driver.get(base + "/")  # a second load: assets from the cache, the page again
        a.heading("Sign in")
        again = first_load_bytes(a)
        print("   second load: %d bytes" % sum(size for _, size in again))

        step("sign in (keyboard)")
        a.sign_in(admin_email, admin_password)
        check(a.q("#who-role").text == "owner", "role shown: %r" % a.q("#who-role").text)
        for name in ("Onboarding Assistant", "Billing Helper"):
            s, _, _ = http("POST", base + "/api/v1/chatbots", {"name": name}, bearer)
            check(s == 200, "create over HTTP: %d" % s)
        a.driver.refresh()
        a.heading("Chatbots")
        a.checked("chatbot list")

        step("create a chatbot; the key is revealed once")
        a.q("#new-name").send_keys("Support Bot" + Keys.ENTER)
        key = a.take_secret(KEY_RE)
        a.checked("key reveal dialog")
        a.screenshot(shots, "dashboard-key-reveal.png")
        a.dismiss_secret(key)
        a.wait(lambda: a.qs('tr[data-name="Support Bot"]'), "the new row")
        prefix = a.q('tr[data-name="Support Bot"] code').text
        check(prefix == key[:14] + "...", "row shows prefix %r for key %s..." % (prefix, key[:14]))
        a.screenshot(shots, "dashboard-list.png")

        step("capture with the revealed key through the API")
        check(capture(base, key) == 200, "capture with the revealed key")

        step("rotate (now): Enter does not confirm; the old key is refused")
        a.row_button("Rotate key", "Support Bot").click()
        a.wait(lambda: a.dialog_open("rotate"), "the rotate dialog")
        check(a.focused_id() != "rotate-ok", "the rotate dialog opens with focus on its confirm button")
        a.checked("rotate dialog")
        a.screenshot(shots, "dashboard-rotate.png")
        a.q("#rotate-ok").send_keys(Keys.ENTER)
        time.sleep(0.3)
        check(a.dialog_open("rotate"), "Enter on 'Rotate key' confirmed the rotation")
        check(capture(base, key) == 200, "the key was rotated by Enter")
        a.q("#rotate-ok").send_keys(Keys.SPACE)
        new_key = a.take_secret(KEY_RE)
        check(new_key != key, "rotation revealed the same key")
        a.dismiss_secret(new_key)
        check(capture(base, key) == 401, "the old key still works after rotate (now)")
        check(capture(base, new_key) == 200, "the new key does not work")

        step("settings editor: the merged result before saving, PATCH sends the patch")
        bot_id = a.q('tr[data-name="Support Bot"]').get_attribute("data-id")
        s, _, _ = http("PATCH", base + "/api/v1/chatbots/" + bot_id,
                       {"settings": {"a": {"b": 1, "c": 2}, "d": [1]}}, bearer)
        check(s == 200, "seed settings: %d" % s)
        a.q('tr[data-name="Support Bot"] a').send_keys(Keys.ENTER)
        a.heading("Support Bot")
        a.checked("chatbot page")
        patch = a.q("#settings-patch")
        patch.clear()
        patch.send_keys('{"a": {"c": null, "e": 3}, "d": [2]}')
        merged = json.loads(a.q("#settings-merged").text)
        check(merged == {"a": {"b": 1, "e": 3}, "d": [2]}, "preview shows %s" % merged)
        a.q("main form button[type=submit]").click()
        a.wait(lambda: "Saved" in a.status_text(), "Saved")
        _, _, body = http("GET", base + "/api/v1/chatbots/" + bot_id, headers=bearer)
        check(json.loads(body)["settings"] == {"a": {"b": 1, "e": 3}, "d": [2]}, "stored settings %s" % body)
        a.load("/#/chatbots")
        a.heading("Chatbots")

        step("delete with typed confirmation; Enter does not confirm")
        a.row_button("Delete", "Support Bot").send_keys(Keys.ENTER)
        a.wait(lambda: a.dialog_open("confirm"), "the delete dialog")
        check(a.focused_id() == "confirm-type", "the delete dialog does not focus the name field")
        a.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        a.wait(lambda: not a.dialog_open("confirm"), "Escape to cancel")
        check(a.js("return document.activeElement.getAttribute('aria-label')") == "Delete for Support Bot",
              "focus did not return to the Delete button after the dialog closed")
        a.row_button("Delete", "Support Bot").click()
        a.wait(lambda: a.dialog_open("confirm"), "the delete dialog")
        ok = a.q("#confirm-ok")
        check(not ok.is_enabled(), "Delete is enabled before the name was typed")
        typed = a.q("#confirm-type")
        typed.send_keys("Support Bo")
        check(not ok.is_enabled(), "Delete is enabled for a wrong name")
        typed.send_keys("t")
        check(ok.is_enabled(), "Delete stays disabled after typing the name")
        a.checked("delete dialog")
        typed.send_keys(Keys.ENTER)
        ok.send_keys(Keys.ENTER)
        time.sleep(0.3)
        check(a.dialog_open("confirm") and capture(base, new_key) == 200, "Enter confirmed the delete")
        ok.send_keys(Keys.SPACE)
        a.wait(lambda: not a.qs('tr[data-name="Support Bot"]'), "the row to go")
        check(capture(base, new_key) == 401, "the deleted chatbot's key still works")

        step("invite a member; the token is shown once")
        a.q('nav a[href="#/members"]').click()
        a.heading("Members")
        a.checked("members page")
        a.q("#invite-email").send_keys("viewer@example.com")
        a.js("document.getElementById('invite-role').value = 'viewer'")
        a.q("#invite-email").send_keys(Keys.ENTER)
        invitation = a.take_secret(TOKEN_RE)
        a.dismiss_secret(invitation)
        a.wait(lambda: any("viewer@example.com" in r.text for r in a.qs("tbody tr")), "the pending invitation")

        step("accept it in a second browser (its own profile); the viewer's views")
        b = Browser(base, args.axe_source, args.scratch, "viewer")
        b.load("/#/accept")
        b.heading("Accept an invitation")
        b.checked("accept page")
        b.q("#token").send_keys(invitation)
        b.q("#password").send_keys("viewer-password-1" + Keys.ENTER)
        b.heading("Chatbots")
        check(b.q("#who-role").text == "viewer", "accepted with role %r" % b.q("#who-role").text)
        check(not b.qs("#new-name"), "a viewer sees the create form")
        check(not b.qs("button[data-action]"), "a viewer sees rotate or delete buttons")
        check(not b.q("#nav-audit").is_displayed(), "a viewer sees the audit link")
        b.checked("chatbot list (viewer)")
        b.q("tbody tr a").click()
        b.wait(lambda: b.qs("#settings-patch"), "the chatbot page")
        check(not b.qs("main form button[type=submit]") and not b.qs("main button"),
              "a viewer sees save, rotate or delete on the chatbot page")
        b.checked("chatbot page (viewer)")
        b.q('nav a[href="#/members"]').click()
        b.heading("Members")
        check(not b.qs("select") and not b.qs("#invite-email") and not b.qs("td.actions button"),
              "a viewer sees member controls")
        b.checked("members page (viewer)")

        step("the admin makes the viewer a member: create, but still no rotate or delete")
        a.driver.refresh()
        a.heading("Members")
        select = a.q('select[id^="role-"]:not([disabled])')
        rows = [r for r in a.qs("tbody tr") if "viewer@example.com" in r.text and r.find_elements(By.TAG_NAME, "select")]
        check(rows, "no role control for the new member")
        select = rows[0].find_element(By.TAG_NAME, "select")
        a.js("arguments[0].value = 'member'", select)
        rows[0].find_element(By.CSS_SELECTOR, "button:not(.danger)").click()
        a.wait(lambda: "now member" in a.status_text(), "the role change")
        b.load("/#/chatbots")
        b.heading("Chatbots")
        check(b.q("#who-role").text == "member", "role after the change: %r" % b.q("#who-role").text)
        check(b.qs("#new-name") and not b.qs("button[data-action]"), "a member's chatbot list")
        b.checked("chatbot list (member)")

        step("revoke an invitation; remove a member (their session ends)")
        a.load("/#/members")
        a.heading("Members")
        a.q("#invite-email").send_keys("later@example.com" + Keys.ENTER)
        later = a.take_secret(TOKEN_RE)
        a.dismiss_secret(later)
        a.wait(lambda: a.qs('button[aria-label="Revoke the invitation of later@example.com"]'), "the invitation")
        a.q('button[aria-label="Revoke the invitation of later@example.com"]').click()
        a.wait(lambda: a.dialog_open("confirm"), "the revoke dialog")
        a.q("#confirm-ok").click()
        a.wait(lambda: "was revoked" in a.status_text(), "the revocation")
        s, _, _ = http("POST", base + "/api/v1/invitations/accept", {"token": later, "password": "pw-later-123"})
        check(s == 401, "a revoked invitation was accepted: %d" % s)
        a.wait(lambda: a.qs('button[aria-label="Remove viewer@example.com"]'), "the member's Remove button")
        a.q('button[aria-label="Remove viewer@example.com"]').click()
        a.wait(lambda: a.dialog_open("confirm"), "the remove dialog")
        a.q("#confirm-ok").click()
        a.wait(lambda: "was removed" in a.status_text(), "the removal")
        b.q('nav a[href="#/members"]').click()
        b.heading("Sign in")

        step("1,000 chatbots: time to render the list (reported, not asserted)")
        def create(i):
            return http("POST", base + "/api/v1/chatbots", {"name": "Bot %04d" % i}, bearer)[0]
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(create, range(1000)))
        check(all(s == 200 for s in statuses), "creating 1,000 chatbots: %s" % set(statuses))
        print("   created 1,000 chatbots over HTTP in %.1f s" % (time.monotonic() - started))
        timings = []
        for _ in range(3):
            a.load("/#/chatbots")
            a.wait(lambda: a.js("return performance.getEntriesByName('chatbots-painted').length") == 1,
                   "the list of 1,000", timeout=60)
            timings.append(a.js("""
                const nav = performance.getEntriesByType('navigation')[0];
                return [performance.getEntriesByName('chatbots-rendered')[0].startTime,
                        performance.getEntriesByName('chatbots-painted')[0].startTime,
                        document.querySelectorAll('tbody tr').length];"""))
        for rendered, painted, rows in timings:
            check(rows == 1002, "the list has %d rows, not 1,002" % rows)
        print("   1,002 chatbots, from navigation start: in the DOM after %s ms, painted after %s ms"
              % ([round(t[0]) for t in timings], [round(t[1]) for t in timings]))
        a.checked("chatbot list of 1,002")

        step("the audit page (the table with issue 14's server, a note without it)")
        a.q("#nav-audit").click()
        a.heading("Audit log")
        a.checked("audit page")

        step("sign out")
        a.q("#sign-out").click()
        a.heading("Sign in")
        status = a.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            fetch('/api/v1/auth/session').then((r) => done(r.status));""")
        check(status == 401, "after sign out the session answers %d" % status)
        a.check_csp("signed out")
        b.check_csp("end")
    finally:
        a.quit()
        if b:
            b.quit()


def lifecycle(args, base, creds):
    a = Browser(base, args.axe_source, args.scratch, "admin")
    try:
        grace(a, base, creds)
        if args.part == "audit":
            audit(a, base, creds)
    finally:
        a.quit()


def grace(a, base, creds):
    step("rotate with a grace of 1 hour: both keys work until the grace ends")
    a.sign_in(*creds)
    first_expiry = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    second_expiry = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 90 * 86400))
    a.js("arguments[0].value = arguments[1]", a.q("#new-expires"), first_expiry)
    a.q("#new-name").send_keys("Grace Bot" + Keys.ENTER)
    key = a.take_secret(KEY_RE)
    a.dismiss_secret(key)
    a.wait(lambda: a.qs('tr[data-name="Grace Bot"]'), "the new row")
    a.wait(lambda: a.q('tr[data-name="Grace Bot"] .expires').text == first_expiry + " 00:00 UTC",
           "the key's expiry (%s) in the row" % first_expiry)
    a.row_button("Rotate key", "Grace Bot").click()
    a.wait(lambda: a.dialog_open("rotate"), "the rotate dialog")
    a.q("#grace-3600").send_keys(Keys.SPACE)
    a.js("arguments[0].value = arguments[1]", a.q("#rotate-expires"), second_expiry)
    a.q("#rotate-ok").click()
    new_key = a.take_secret(KEY_RE)
    check("keeps working until" in a.q("#reveal-text").text, "the reveal does not say until when")
    a.dismiss_secret(new_key)
    check(capture(base, key) == 200 and capture(base, new_key) == 200, "both keys during the grace")
    a.wait(lambda: a.qs('button[aria-label="End grace for Grace Bot"]'), "the End grace button")
    a.wait(lambda: "previous key until" in a.q('tr[data-name="Grace Bot"] .last-used').text,
           "the previous key's expiry in the row")
    a.checked("chatbot list in grace")

    step("end grace: the previous key is refused")
    a.q('button[aria-label="End grace for Grace Bot"]').click()
    a.wait(lambda: a.dialog_open("confirm"), "the end-grace dialog")
    a.q("#confirm-ok").click()
    a.wait(lambda: "no longer works" in a.status_text(), "the end of the grace")
    check(capture(base, key) == 401, "the previous key works after End grace")
    check(capture(base, new_key) == 200, "the current key stopped working after End grace")
    # Key info (GET …/key) fills the row: the new key's expiry, and "never" or a time for
    # the last use (it may lag by up to 60 s, API.md section 12).
    a.wait(lambda: a.q('tr[data-name="Grace Bot"] .expires').text == second_expiry + " 00:00 UTC",
           "the new key's expiry (%s)" % second_expiry)
    check(a.q('tr[data-name="Grace Bot"] .last-used').text != "—", "no last use shown")


def audit(a, base, creds):
    bearer = {"Authorization": "Bearer " + login_token(base, *creds)}
    step("the audit page shows the actions, 50 a page")
    for i in range(60):
        http("PATCH", base + "/api/v1/chatbots/" + a.q('tr[data-name="Grace Bot"]').get_attribute("data-id"),
             {"settings": {"n": i}}, bearer)
    a.q("#nav-audit").click()
    a.heading("Audit log")
    text = a.q("main").text
    for action in ("chatbot.updated",):
        check(action in text, "the audit page does not show %s" % action)
    a.checked("audit page")
    older = [bt for bt in a.qs(".pager button") if bt.text == "Older"][0]
    check(older.is_enabled(), "no second page of audit events")
    older.click()
    a.wait(lambda: "Page 2" in a.q("caption").text, "the second audit page")
    text = a.q("main").text
    for action in ("chatbot.key_rotated", "chatbot.previous_key_revoked", "chatbot.created", "session.created"):
        check(action in text, "the audit pages do not show %s" % action)
    a.checked("audit page 2")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--axe", required=True)
    parser.add_argument("--scratch", required=True)
    parser.add_argument("--part", choices=("flow", "grace", "audit"), default="flow")
    parser.add_argument("--screenshots", help="directory for the README's PNGs")
    args = parser.parse_args()
    with open(args.axe) as f:
        args.axe_source = f.read()
    started = time.monotonic()
    server = Server(args.server, os.path.join(args.scratch, "dashboard.db"))
    try:
        base = server.wait_listening()
        creds = server.credentials()
        check(creds, "the server printed no first-start credentials")
        if args.part == "flow":
            check_http_headers(base, args.server, args.scratch)
            flow(args, base, creds)
        else:
            lifecycle(args, base, creds)
    except Failure as e:
        print("FAILED: %s" % e, flush=True)
        print("server output (tail):\n" + "\n".join(server.output().splitlines()[-30:]))
        return 1
    finally:
        code = server.stop()
    check(code == 0, "the server exited with %s" % code)
    print("dashboard %s: passed in %.1f s" % (args.part, time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
