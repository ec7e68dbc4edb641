#!/usr/bin/python3
"""Writes the "Operator console" section of BENCHMARKS.md from the results
of bench/console/run.sh (one JSON object a line).

  report.py RESULTS_JSONL MARKDOWN

The section is replaced whole except for a "### Reading" subsection, which is
written by hand after a run and kept as it is.
"""
import json
import statistics
import sys

TITLE = "## Operator console"
READING = "### Reading"
GOAL_MS = 100.0
BROWSER_ENCODING = "gzip, deflate, br"
DRIVER_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def fmt(ms):
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def section(rows):
    machine = next(r for r in rows if r["kind"] == "machine")
    runs = machine["runs"]
    loads = [r["load"] for r in rows if r["kind"] in ("request", "page")]
    out = [TITLE, ""]
    out.append(
        f"`make bench-console` (bench/console/run.sh): the admin API and the page on a database of "
        f"{machine['jobs']:,} jobs, on each driver. The table is filled by one INSERT ... SELECT from a "
        "recursive CTE (SQLite, through sqlite3) or generate_series (PostgreSQL, through psql) after "
        "`personaworlds migrate`, so every index of the schema is in place while it fills: 90% succeeded "
        "(3% of them keeping an earlier attempt's error), 5% dead with one of 12 error texts (numbers in "
        "them: about 7,000 distinct texts, one kind over 300 characters), 3% queued, 1% running under 4 "
        "lease owners, 1% canceled; 20 types, skewed (13% to 0.25%); 85% with a trace id; created_at "
        "evenly over 7 days; finished_at on finished jobs (bench/console/jobs_sql.sh). SQLite gets no "
        "ANALYZE (the product runs none); PostgreSQL gets `VACUUM (ANALYZE) jobs` until its pages are "
        "all-visible (one run or two: one right after the load sometimes marks no page), what autovacuum "
        "does to this table by itself within minutes of such a load. The API runs with its defaults and "
        "ADMIN_TOKEN_FILE on 127.0.0.1.")
    out.append("")
    out.append(
        f"- Requests: curl, a new connection each, `time_total`; one warm-up, then the median (and the "
        f"spread) of {runs} runs, each run twice: asking for no compression (the database and the handler) "
        "and with Chromium's `Accept-Encoding: gzip, deflate, br` (what the page pays). The first three are "
        "what the page asks for when it loads; the rest are the job list's filters, newest first, 50 a "
        "page as the page asks.")
    out.append(
        f"- Page: headless Chromium {machine['chromium']} (Debian's, driven by python3-selenium, "
        "bench/console/page_load.py), the token entered once in the page's form (sessionStorage), then "
        f"one warm-up reload and {runs} measured ones: navigationStart to the page's "
        "`performance.mark('pw-overview-rendered')` and `('pw-jobs-rendered')`.")
    out.append("")
    out.append(
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['memory_gb']} GB, {machine['kernel']}, "
        f"{machine['date']}. Load: 1-minute load average during the measurements "
        f"{statistics.median(loads):.2f} (median), {max(loads):.2f} (highest) on {machine['cores']} cores; "
        "the machine is shared, so other work shows here too." if loads else
        f"Machine: {machine['cores']} cores, {machine['cpu']}, {machine['kernel']}, {machine['date']}.")
    out.append("")

    verdicts = []
    for driver in ("sqlite", "postgres"):
        database = next((r for r in rows if r["kind"] == "database" and r["driver"] == driver), None)
        if database is None:
            continue
        requests = [r for r in rows if r["kind"] == "request" and r["driver"] == driver]
        pages = [r for r in rows if r["kind"] == "page" and r["driver"] == driver
                 and r.get("jobs", machine["jobs"]) == machine["jobs"] and r.get("encoding") != "identity"]
        plain = [r for r in rows if r["kind"] == "page" and r["driver"] == driver
                 and r.get("jobs", machine["jobs"]) == machine["jobs"] and r.get("encoding") == "identity"]
        out.append(f"### {DRIVER_NAMES[driver]}")
        out.append("")
        out.append(
            f"{database['version']}: {database['jobs']:,} jobs ({database['states'].replace(',', ', ')}), "
            f"{database['size_mb']} MB, filled in {database['load_s']} s. Indexes on jobs: {database['indexes']}.")
        out.append("")
        out.append("| Request | GET /admin/v1/... | jobs returned | no compression: median (min-max) ms | "
                   "Chromium's Accept-Encoding: median (min-max) ms | bytes sent (as Chromium asks) |")
        out.append("|---|---|---:|---:|---:|---:|")
        names = []
        for r in requests:
            if r["name"] not in names:
                names.append(r["name"])
        for name in names:
            mine = [r for r in requests if r["name"] == name]
            returned = mine[0]["rows"]
            returned = "-" if returned is None else str(returned)
            cells = []
            for encoding in ("identity", BROWSER_ENCODING):
                ms = [r["ms"] for r in mine if r.get("encoding", "identity") == encoding]
                cells.append(f"{fmt(statistics.median(ms))} ({fmt(min(ms))}-{fmt(max(ms))})" if ms else "-")
            sent = [r["bytes"] for r in mine if r.get("encoding") == BROWSER_ENCODING]
            path = mine[0]["path"].removeprefix("/admin/v1/")
            out.append(f"| {name} | `{path}` | {returned} | {cells[0]} | {cells[1]} | "
                       f"{statistics.median(sent):.0f} |" if sent else f"| {name} | `{path}` | {returned} | "
                       f"{cells[0]} | {cells[1]} | - |")
        out.append("")
        if pages:
            out.append("| Page load (headless Chromium) | median (ms) | min (ms) | max (ms) |")
            out.append("|---|---:|---:|---:|")
            series = {
                "HTML received (responseEnd)": [p["navigation"]["responseEnd"] for p in pages],
                "overview rendered (`pw-overview-rendered`)": [p["marks"]["pw-overview-rendered"] for p in pages],
                "job table rendered (`pw-jobs-rendered`)": [p["marks"]["pw-jobs-rendered"] for p in pages],
                "both rendered (the later mark)": [max(p["marks"].values()) for p in pages],
            }
            if plain:
                series["both rendered, the browser asking for no compression (diagnosis)"] = [
                    max(p["marks"].values()) for p in plain]
            for label, values in series.items():
                out.append(f"| {label} | {fmt(statistics.median(values))} | {fmt(min(values))} | {fmt(max(values))} |")
            out.append("")
            # Where the time goes: each resource's request start and response end (medians).
            timeline = {}
            for p in pages:
                for r in p.get("resources", []):
                    timeline.setdefault(r["name"], []).append(r)
            if timeline:
                out.append("Where a load's time goes (medians, ms after navigationStart): HTML "
                           f"{fmt(statistics.median(p['navigation']['responseEnd'] for p in pages))}; " +
                           "; ".join(f"`{name}` requested {fmt(statistics.median(r['request'] for r in rs))}, "
                                     f"first byte {fmt(statistics.median(r['response'] for r in rs))}, "
                                     f"done {fmt(statistics.median(r['end'] for r in rs))}"
                                     for name, rs in timeline.items()) + ".")
                out.append("")
            later = statistics.median([max(p["marks"].values()) for p in pages])
            verdicts.append((driver, later))
        else:
            out.append("Page load: not measured (see the run's log).")
            out.append("")
            verdicts.append((driver, None))

    baseline = [r for r in rows if r["kind"] == "page" and r.get("jobs", machine["jobs"]) != machine["jobs"]
                and r.get("encoding") != "identity"]
    baseline_plain = [r for r in rows if r["kind"] == "page" and r.get("jobs", machine["jobs"]) != machine["jobs"]
                      and r.get("encoding") == "identity"]
    if baseline:
        later = [max(p["marks"].values()) for p in baseline]
        html = [p["navigation"]["responseEnd"] for p in baseline]
        script = [r["end"] for p in baseline for r in p.get("resources", []) if r["name"] == "/admin/app.js"]
        out.append("### Baseline: the same page on a small database")
        out.append("")
        out.append(f"The same page on a SQLite database of {baseline[0]['jobs']:,} jobs: both marks set "
                   f"{fmt(statistics.median(later))} ms after navigationStart (median; {fmt(min(later))}-"
                   f"{fmt(max(later))}); HTML received at {fmt(statistics.median(html))} ms"
                   + (f", app.js at {fmt(statistics.median(script))} ms" if script else "") + "."
                   + (f" Asking for no compression: {fmt(statistics.median(max(p['marks'].values()) for p in baseline_plain))} ms."
                      if baseline_plain else ""))
        out.append("")

    out.append(f"### Goal: the page loads in under {GOAL_MS:.0f} ms on {machine['jobs']:,} jobs")
    out.append("")
    for driver, later in verdicts:
        if later is None:
            out.append(f"- {DRIVER_NAMES[driver]}: not measured.")
        else:
            out.append(f"- {DRIVER_NAMES[driver]}: {'met' if later < GOAL_MS else 'NOT met'}: both marks set "
                       f"{fmt(later)} ms after navigationStart (median of {runs} loads).")
    out.append("")
    return "\n".join(out)


def main():
    results, markdown = sys.argv[1], sys.argv[2]
    rows = [json.loads(line) for line in open(results) if line.strip()]
    body = section(rows)
    try:
        text = open(markdown).read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line == TITLE), None)
    reading = ""
    if start is None:
        before, after = lines, []
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        old = lines[start:end]
        at = next((i for i, line in enumerate(old) if line.startswith(READING)), None)
        if at is not None:
            reading = "\n".join(old[at:]).rstrip() + "\n"
        before, after = lines[:start], lines[end:]
    parts = ["\n".join(before).rstrip() + "\n", body]
    if reading:
        parts.append(reading)
    if after:
        parts.append("\n".join(after).lstrip("\n"))
    open(markdown, "w").write("\n".join(p.rstrip("\n") + "\n" for p in parts))
    print(body)
    if reading:
        print(reading)


if __name__ == "__main__":
    main()
