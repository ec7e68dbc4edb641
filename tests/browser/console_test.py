#!/usr/bin/env python3
"""The operator console in a real browser (headless Chromium through Selenium).

Starts the real `api` (with ADMIN_TOKEN_FILE) and `worker` on 127.0.0.1 in a
temporary folder with a SQLite database (or, with PW_TEST_DRIVER=postgres, a
fresh PostgreSQL database of its own on the run's test server, dropped at the
end), and a local webhook receiver that
answers 500 until told otherwise. It enqueues jobs with `personaworlds jobs
enqueue`: noop jobs that succeed, webhook.deliver jobs with one attempt that
go dead on the receiver's 500, one of which gets an error text holding a
<script> element, and a noop job held back (run_at far ahead) to cancel.

Then, as an operator would, in Chromium at 1280x900: opens /admin/, enters
the token, pages through the succeeded jobs with "load more", filters to dead
jobs, sees the <script> error as text (and that it did not run), opens the
failing job, retries it (confirming the dialog) once the receiver answers 200
and sees it succeed; declines a cancel, then cancels the held-back job and
sees it canceled. The page must log no console error and cause no Content
Security Policy violation (a control shows that an inline script would
cause one), and must fit a 390 px wide phone. Screenshots (PNG) of the
overview, the filtered table, the detail and the phone view go to
SCREENSHOT_DIR.

Usage: console_test.py PERSONAWORLDS_BINARY SCREENSHOT_DIR
Exits 77 (skipped) only when Chromium or its driver is not installed.
PW_KEEP_TMP=1 keeps the temporary folder (logs, database) and the PostgreSQL
database. PW_TEST_DRIVER=postgres needs PW_TEST_POSTGRES_DIR: the folder of a
server started by tests/support/postgres.sh (its `url` file names the admin
database; psql creates and drops the test's own).
"""

import http.server
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if len(sys.argv) != 3:
    print(__doc__)
    sys.exit(2)
BINARY = os.path.abspath(sys.argv[1])
SHOTS = os.path.abspath(sys.argv[2])

missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
if missing:
    print("SKIP - not installed: " + ", ".join(missing) + " (Debian packages chromium, chromium-driver)")
    sys.exit(77)

# Chromium is there, so a missing Selenium is a broken setup, not a skip.
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

failures = []


def ok(what):
    print("ok   - " + what, flush=True)


def fail(what):
    failures.append(what)
    print("FAIL - " + what, flush=True)


def check(condition, what):
    (ok if condition else fail)(what)
    return condition


class Abort(Exception):
    pass


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Abort("timed out after %ss: %s" % (timeout, what))
        time.sleep(0.1)


# ---------------------------------------------------------------- the receiver

class Receiver:
    """A webhook receiver on a free loopback port answering `status`."""

    def __init__(self):
        self.status = 500
        self.hits = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                receiver.hits.append((self.path, receiver.status))
                body = b'{"received":true}'
                self.send_response(receiver.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- the processes

tmp = tempfile.mkdtemp(prefix="pw-console.")
db = os.path.join(tmp, "console.db")
POSTGRES = os.environ.get("PW_TEST_DRIVER") == "postgres"
# The run's server (tests/support/postgres.sh) and this test's database on it:
# created in main(), dropped at the end.
admin_url = None
database_name = "console_%d_%s" % (os.getpid(), secrets.token_hex(4))
database_url = None
processes = {}
env = dict(os.environ, LOG_FORMAT="json", LOG_LEVEL="info")
for name in ("ADMIN_TOKEN_FILE", "DATABASE_URL"):
    env.pop(name, None)


def run(*args):
    result = subprocess.run([BINARY, *args], env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise Abort("personaworlds %s failed (%d): %s" % (" ".join(args), result.returncode, result.stderr.strip()))
    return result.stdout


def start(name, *args):
    out = open(os.path.join(tmp, name + ".out"), "w")
    err = open(os.path.join(tmp, name + ".err"), "w")
    processes[name] = subprocess.Popen([BINARY, *args], env=env, stdout=out, stderr=err)


def logged_field(name, msg, field):
    """The field of the first stdout line of process `name` with this msg, or None."""
    try:
        with open(os.path.join(tmp, name + ".out")) as lines:
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("msg") == msg and field in entry:
                    return entry[field]
    except FileNotFoundError:
        pass
    if processes[name].poll() is not None:
        raise Abort("%s exited with %s" % (name, processes[name].returncode))
    return None


def db_flags():
    return ["--database-url", database_url] if POSTGRES else ["--db", db]


def enqueue(job_type, payload="{}", count=1, *extra):
    out = run("jobs", "enqueue", *db_flags(), "--type", job_type, "--payload", payload, "--count", str(count),
              "--json", *extra)
    answer = json.loads(out)
    return list(range(answer["first_id"], answer["last_id"] + 1))


def psql(url, sql, **variables):
    """What `sql` run by psql prints (unaligned, tuples only, tab between
    columns); :'name' in it is the quoted literal of variables[name]."""
    # Variables are interpolated only in psql's input, not in -c: the SQL goes on stdin.
    command = ["psql", url, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables.items():
        command += ["-v", "%s=%s" % (name, value)]
    result = subprocess.run(command, input=sql, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise Abort("psql failed (%d) on %r: %s" % (result.returncode, sql, result.stderr.strip()))
    return result.stdout


def database():
    connection = sqlite3.connect(db, timeout=10)
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


def job_states(job_ids):
    """{id: state} of these jobs, read in one query."""
    ids = [int(i) for i in job_ids]
    if POSTGRES:
        out = psql(database_url, "SELECT id, state FROM jobs WHERE id IN (%s)" % ",".join(map(str, ids)))
        found = [line.split("\t") for line in out.splitlines()]
    else:
        with database() as connection:
            found = connection.execute(
                "SELECT id, state FROM jobs WHERE id IN (%s)" % ",".join("?" * len(ids)), ids).fetchall()
    return {int(job_id): state for job_id, state in found}


def job_state(job_id):
    return job_states([job_id]).get(job_id)


def hold_back(job_id):
    if POSTGRES:
        psql(database_url, "UPDATE jobs SET run_at = run_at + 86400000 WHERE id = :'id'", id=job_id)
    else:
        with database() as connection:
            connection.execute("UPDATE jobs SET run_at = run_at + 86400000 WHERE id = ?", (job_id,))


def last_error(job_id):
    if POSTGRES:
        # Not split into lines: an error text may hold several. NULL prints as nothing.
        return psql(database_url, "SELECT last_error FROM jobs WHERE id = :'id'", id=job_id).rstrip("\n") or None
    with database() as connection:
        found = connection.execute("SELECT last_error FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return found[0] if found else None


def set_last_error(job_id, text):
    if POSTGRES:
        psql(database_url, "UPDATE jobs SET last_error = :'text' WHERE id = :'id'", id=job_id, text=text)
    else:
        with database() as connection:
            connection.execute("UPDATE jobs SET last_error = ? WHERE id = ?", (text, job_id))


def create_database():
    global admin_url, database_url
    directory = os.environ.get("PW_TEST_POSTGRES_DIR")
    if not directory or not os.path.isfile(os.path.join(directory, "url")):
        raise Abort("PW_TEST_DRIVER=postgres needs PW_TEST_POSTGRES_DIR with the url file of a running "
                    "tests/support/postgres.sh server (got %r)" % directory)
    with open(os.path.join(directory, "url")) as f:
        admin_url = f.read().strip()
    psql(admin_url, "CREATE DATABASE %s" % database_name)
    database_url = admin_url.replace("/postgres?", "/%s?" % database_name, 1)
    if database_url == admin_url:
        raise Abort("cannot name a database in the server's url: " + admin_url)


def drop_database():
    try:
        # FORCE: a connection the stopped processes left behind must not keep it.
        psql(admin_url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % database_name)
    except Abort as error:
        fail("dropping the test's database: %s" % error)


def stop_processes():
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def dump_logs():
    for name in sorted(os.listdir(tmp)):
        if name.endswith((".out", ".err")) and os.path.getsize(os.path.join(tmp, name)):
            print("----- last lines of " + name)
            with open(os.path.join(tmp, name), errors="replace") as f:
                for line in f.readlines()[-12:]:
                    print(line.rstrip()[:400])


# ---------------------------------------------------------------- the browser

def new_driver(workdir):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                     "--user-data-dir=" + os.path.join(workdir, "chromium-profile")):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_path=os.path.join(workdir, "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    # Every CSP violation, recorded from before the page's own script runs
    # (a script added this way is not subject to the page's policy).
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": """
        window.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (e) => {
          window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
        });"""})
    return driver


def marked(driver, name):
    return driver.execute_script("return performance.getEntriesByName(arguments[0], 'mark').length > 0", name)


def rows(driver):
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#jobs-table tbody tr[data-job-id]'))"
        ".map(r => [Number(r.dataset.jobId), r.querySelector('.badge').textContent, r.cells[5].textContent])")


def detail_state(driver, job_id):
    return driver.execute_script(
        "const d = document.getElementById('job-detail');"
        "return d.hidden || d.dataset.jobId !== String(arguments[0]) ? null"
        " : document.getElementById('detail-state').textContent", job_id)


def open_detail(driver, job_id):
    driver.find_element(By.CSS_SELECTOR, 'tr[data-job-id="%d"] button' % job_id).click()
    wait_until(lambda: detail_state(driver, job_id), 10, "the detail of job %d opens" % job_id)


def apply_filter(driver, state):
    # Select by value: what an operator picks from the list.
    driver.execute_script("document.getElementById('filter-state').value = arguments[0]", state)
    driver.find_element(By.ID, "filter-apply").click()


def confirm(driver, answer):
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return document.getElementById('confirm-dialog').open"))
    driver.find_element(By.ID, "confirm-yes" if answer else "confirm-no").click()
    WebDriverWait(driver, 10).until(
        lambda d: not d.execute_script("return document.getElementById('confirm-dialog').open"))


def shoot(driver, name):
    path = os.path.join(SHOTS, name)
    driver.save_screenshot(path)
    check(os.path.getsize(path) > 1000, "screenshot " + path)


def main():
    os.makedirs(SHOTS, exist_ok=True)
    receiver = Receiver()
    driver = None
    try:
        token = "pwadmin_" + secrets.token_hex(16)
        token_file = os.path.join(tmp, "admin.token")
        with open(token_file, "w") as f:
            f.write(token + "\n")
        os.chmod(token_file, 0o600)

        if POSTGRES:
            create_database()
        run("migrate", *db_flags())
        start("api", "api", *db_flags(), "--host", "127.0.0.1", "--port", "0", "--admin-token-file", token_file,
              "--shutdown-delay-ms", "0")
        api_port = wait_until(lambda: logged_field("api", "api_started", "port"), 30, "the api starts")
        base = "http://127.0.0.1:%d" % api_port

        hook = json.dumps({"url": "http://127.0.0.1:%d/hook" % receiver.port, "body": {"console": True}})
        noop_ids = enqueue("noop", "{}", 55)
        failing_id = enqueue("webhook.deliver", hook, 1, "--max-attempts", "1", "--trace-id", "console-fail-1")[0]
        hostile_id = enqueue("webhook.deliver", hook, 1, "--max-attempts", "1")[0]
        held_id = enqueue("noop")[0]
        # Held back a day, before any worker runs: it stays queued to be canceled.
        hold_back(held_id)

        start("worker", "worker", *db_flags(), "--observability-host", "127.0.0.1", "--observability-port", "0",
              "--allow-private-webhooks", "--concurrency", "2")
        wait_until(lambda: logged_field("worker", "worker_started", "worker_id"), 30, "the worker starts")
        wait_until(lambda: all(job_state(i) == "succeeded" for i in noop_ids[-1:]) and
                   job_state(failing_id) == "dead" and job_state(hostile_id) == "dead", 30,
                   "the noop jobs succeed and both webhook jobs go dead")
        wait_until(lambda: job_states(noop_ids) == dict.fromkeys(noop_ids, "succeeded"), 30, "every noop job succeeds")
        real_error = last_error(failing_id)
        set_last_error(hostile_id, "receiver said <script>window.__pwned=1</script> & <b>bold</b>")
        check(real_error and "500" in real_error, "the failing job died of the receiver's 500: %r" % real_error)
        check(job_state(held_id) == "queued", "the held-back job is still queued")

        # The page and its assets: the policy this test relies on is there.
        with urllib.request.urlopen(base + "/admin/", timeout=10) as response:
            csp = response.headers.get("Content-Security-Policy", "")
        check("script-src 'self'" in csp and "unsafe-inline" not in csp and "style-src 'self'" in csp,
              "the page is served with a strict Content-Security-Policy: " + csp)

        driver = new_driver(tmp)
        driver.get(base + "/admin/")
        wait_until(lambda: driver.find_elements(By.ID, "token-form"), 10, "the page loads")
        check(driver.execute_script("return sessionStorage.length") == 0, "no token is stored before one is entered")
        driver.find_element(By.ID, "token-input").send_keys(token)
        driver.find_element(By.ID, "token-form").submit()
        wait_until(lambda: marked(driver, "pw-overview-rendered") and marked(driver, "pw-jobs-rendered"), 15,
                   "the overview and the job table render (performance marks)")
        ok("the overview and the job table render after the token is entered")
        check(driver.get_cookies() == [], "the token is not a cookie")
        check(driver.execute_script("return Object.values(sessionStorage).includes(arguments[0])", token),
              "the token is kept in sessionStorage")
        overview = driver.find_element(By.ID, "overview").text
        check("noop" in overview, "the overview counts queued jobs by type at once")
        check(re.search(r"finished counts as of \d\d:\d\d:\d\d", overview),
              "the overview says how old its count of finished jobs is: %r" % overview)
        # The webhook jobs are only dead ones: they arrive with the server's
        # next count of finished jobs (every 5 s while the overview is asked
        # for), which the page fetches every 5 s.
        wait_until(lambda: "webhook.deliver" in driver.find_element(By.ID, "overview").text, 30,
                   "the overview counts the finished webhook jobs by type")
        ok("the overview counts jobs by type, finished ones from a count it dates")
        check(driver.find_elements(By.CSS_SELECTOR, "#throughput svg rect"), "the overview draws the throughput chart")
        shoot(driver, "console-overview.png")

        # Cursor paging: 55 succeeded jobs are one page of 50 and one of 5.
        apply_filter(driver, "succeeded")
        wait_until(lambda: len(rows(driver)) == 50 and all(r[1] == "succeeded" for r in rows(driver)), 10,
                   "the first page of succeeded jobs")
        more = driver.find_element(By.ID, "load-more")
        check(more.is_displayed(), "'load more' is offered after a full page")
        more.click()
        wait_until(lambda: len(rows(driver)) == 55, 10, "'load more' adds the rest")
        check(sorted(r[0] for r in rows(driver)) == noop_ids, "the two pages hold every succeeded job once")
        check(not driver.find_element(By.ID, "load-more").is_displayed(), "no 'load more' after the last page")

        # A time range (the browser's local time, sent as RFC 3339) that holds none of them.
        driver.execute_script("document.getElementById('filter-before').value = '2000-01-01T00:00:00'")
        apply_filter(driver, "succeeded")
        wait_until(lambda: not rows(driver) and "No jobs match" in driver.find_element(By.ID, "jobs-table").text, 10,
                   "no job was created before 2000")
        ok("a created-before filter in the past shows no job")
        driver.execute_script("document.getElementById('filter-before').value = ''")

        apply_filter(driver, "dead")
        wait_until(lambda: sorted(r[0] for r in rows(driver)) == sorted([failing_id, hostile_id]), 10,
                   "the table shows the two dead jobs")
        check(all(r[1] == "dead" for r in rows(driver)), "every row of the dead filter is dead")
        hostile_row = [r for r in rows(driver) if r[0] == hostile_id][0]
        check("<script>window.__pwned=1</script>" in hostile_row[2], "the <script> error is shown as text in the table")
        shoot(driver, "console-dead-jobs.png")

        open_detail(driver, hostile_id)
        error_text = driver.find_element(By.ID, "detail-error").text
        check(error_text == "receiver said <script>window.__pwned=1</script> & <b>bold</b>",
              "the detail shows the <script> error as text: %r" % error_text)
        check(driver.execute_script("return window.__pwned") is None, "the <script> in the error never ran")
        check(driver.execute_script("return document.querySelectorAll('script').length") == 1 and
              not driver.find_elements(By.CSS_SELECTOR, "#job-detail b, #jobs-table b"),
              "no element was made from the error text")

        open_detail(driver, failing_id)
        check(detail_state(driver, failing_id) == "dead", "the failing job's detail says dead")
        check("500" in driver.find_element(By.ID, "detail-error").text, "the detail shows the receiver's error")
        detail = driver.find_element(By.ID, "job-detail").text
        check("console-fail-1" in detail and "request_id" in detail,
              "the detail shows the trace id and how to find its request's log lines")
        check("127.0.0.1:%d/hook" % receiver.port in driver.find_element(By.ID, "detail-payload").text,
              "the detail shows the payload")
        shoot(driver, "console-job-detail.png")

        receiver.status = 200
        driver.find_element(By.ID, "retry-button").click()
        confirm(driver, True)
        wait_until(lambda: detail_state(driver, failing_id) == "succeeded", 20,
                   "the retried job shows succeeded in its detail")
        ok("a retry from the detail view runs the job again and the page shows it succeeded")
        check(job_state(failing_id) == "succeeded", "the database agrees: the retried job succeeded")
        check((("/hook", 200) in receiver.hits), "the retried delivery reached the receiver")
        check("queued again" in driver.find_element(By.ID, "message").text, "#message reports the retry")

        apply_filter(driver, "queued")
        wait_until(lambda: [r[0] for r in rows(driver)] == [held_id], 10, "the queued filter shows the held job")
        open_detail(driver, held_id)
        driver.find_element(By.ID, "cancel-button").click()
        confirm(driver, False)
        time.sleep(0.5)
        check(job_state(held_id) == "queued" and detail_state(driver, held_id) == "queued",
              "declining the confirmation leaves the job queued")
        driver.find_element(By.ID, "cancel-button").click()
        confirm(driver, True)
        wait_until(lambda: detail_state(driver, held_id) == "canceled", 10, "the canceled job shows canceled")
        ok("cancel from the detail view, confirmed, cancels the queued job")
        check(job_state(held_id) == "canceled", "the database agrees: the job is canceled")
        check([r[1] for r in rows(driver) if r[0] == held_id] == ["canceled"], "its row in the table says canceled")

        # Bulk retry of the table's filter: the confirmation names the filter.
        apply_filter(driver, "dead")
        wait_until(lambda: [r[0] for r in rows(driver)] == [hostile_id], 10, "the dead filter shows the one left")
        driver.find_element(By.ID, "bulk-retry").click()
        WebDriverWait(driver, 10).until(
            lambda d: d.execute_script("return document.getElementById('confirm-dialog').open"))
        shown = driver.find_element(By.ID, "confirm-detail").text
        check('"state": "dead"' in shown, "the bulk confirmation shows the filter: %r" % shown)
        confirm(driver, True)
        wait_until(lambda: "Retried 1 job" in driver.find_element(By.ID, "message").text, 10,
                   "#message reports the bulk retry")
        wait_until(lambda: job_state(hostile_id) == "succeeded", 20, "the bulk-retried job succeeds")
        ok("bulk retry of the dead filter, confirmed, runs the dead job again")

        driver.set_window_size(390, 844)
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.3)
        width = driver.execute_script("return document.documentElement.scrollWidth")
        inner = driver.execute_script("return window.innerWidth")
        check(width <= inner, "nothing overflows a 390 px wide phone (page %d px, window %d px)" % (width, inner))
        shoot(driver, "console-phone.png")

        driver.find_element(By.ID, "token-forget").click()
        check(driver.execute_script("return sessionStorage.length") == 0 and not rows(driver),
              "'Forget' drops the token and what it showed")

        logs = driver.get_log("browser")
        errors = [entry for entry in logs if entry.get("level") == "SEVERE"]
        check(not errors, "no console errors: %s" % errors)
        violations = driver.execute_script("return window.__cspViolations")
        check(violations == [], "no Content-Security-Policy violation: %s" % violations)

        # The control: an inline script is refused and reported, so the two
        # checks above could have failed.
        driver.execute_script("const s = document.createElement('script');"
                              "s.textContent = 'window.__inline = 1'; document.body.appendChild(s);")
        time.sleep(0.3)
        check(driver.execute_script("return window.__inline") is None and
              len(driver.execute_script("return window.__cspViolations")) == 1,
              "control: the policy blocks an inline script and the violation is recorded")
    except Abort as error:
        fail(str(error))
    except Exception as error:  # a Selenium or process error is a failure with its message
        fail("%s: %s" % (type(error).__name__, str(error).splitlines()[0] if str(error) else ""))
    finally:
        if driver is not None:
            if failures:
                try:
                    driver.save_screenshot(os.path.join(SHOTS, "console-failure.png"))
                except Exception:
                    pass
            driver.quit()
        stop_processes()
        receiver.close()
        if database_url and not os.environ.get("PW_KEEP_TMP"):
            drop_database()
        elif database_url:
            print("# kept database %s" % database_url)
        if failures:
            dump_logs()
        if failures or os.environ.get("PW_KEEP_TMP"):
            print("# kept " + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
