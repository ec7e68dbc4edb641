#!/usr/bin/python3
"""The operator console's load time in headless Chromium.

  page_load.py URL TOKEN_FILE LOADS [ACCEPT_ENCODING]

Opens URL (the /admin/ page) once, enters the admin token in the page's own
form (so it lands in sessionStorage under whatever key the page uses), then
loads the page 1 + LOADS times (the first is a warm-up) and prints one JSON
line per measured load: the time from navigationStart (performance's
timeOrigin) to the 'pw-overview-rendered' and 'pw-jobs-rendered' marks, and
the navigation timing of the HTML itself. Debian's chromium + chromedriver
+ python3-selenium; nothing is downloaded.
"""
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

MARKS = ("pw-overview-rendered", "pw-jobs-rendered")
TIMEOUT_S = 30


def marks_of(driver):
    return driver.execute_script(
        "const out = {};"
        "for (const name of arguments[0]) {"
        "  const e = performance.getEntriesByName(name, 'mark');"
        "  if (e.length) out[name] = e[0].startTime;"
        "}"
        "return out;", list(MARKS))


def wait_for_marks(driver):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        found = marks_of(driver)
        if len(found) == len(MARKS):
            return found
        time.sleep(0.01)
    raise SystemExit(f"page_load: marks {MARKS} not all set within {TIMEOUT_S} s; found {marks_of(driver)}; "
                     f"console: {driver.get_log('browser') if hasattr(driver, 'get_log') else '?'}")


def main():
    url, token_file, loads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # An Accept-Encoding to send instead of Chromium's own (a diagnosis: what
    # the page takes when the server compresses nothing, or only with gzip).
    encoding = sys.argv[4] if len(sys.argv) > 4 else None
    token = open(token_file).read().strip()
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--disable-extensions", "--no-first-run",
                 "--disable-background-networking"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        if encoding:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Accept-Encoding": encoding}})
        driver.get(url)
        driver.find_element(By.ID, "token-input").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        wait_for_marks(driver)
        for load in range(loads + 1):
            driver.get(url)
            marks = wait_for_marks(driver)
            nav = driver.execute_script(
                "const n = performance.getEntriesByType('navigation')[0];"
                "return {requestStart: n.requestStart, responseStart: n.responseStart, responseEnd: n.responseEnd,"
                "        domInteractive: n.domInteractive, domContentLoaded: n.domContentLoadedEventEnd,"
                "        load: n.loadEventEnd};")
            resources = driver.execute_script(
                "return performance.getEntriesByType('resource').map(r => ({"
                "  name: r.name.replace(location.origin, ''), start: r.startTime, request: r.requestStart,"
                "  response: r.responseStart, end: r.responseEnd}));")
            if load == 0:
                continue  # warm-up
            print(json.dumps({"n": load, "marks": marks, "navigation": nav, "resources": resources}), flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
