// The operator console. Talks to /admin/v1/* with the admin token in an
// Authorization header (never a cookie, so another site cannot act with it).
// Every value from the server reaches the page through textContent or
// createElement: nothing is ever parsed as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "pw-admin-token";
  const STATES = ["queued", "running", "succeeded", "dead", "canceled"];
  const TERMINAL = new Set(["succeeded", "dead", "canceled"]);
  const OVERVIEW_PERIOD_MS = 5000;
  const DETAIL_POLL_MS = 1000;
  const PAGE_SIZE = 50;

  const $ = (id) => document.getElementById(id);

  const view = {
    filter: {},          // the filter the table shows (applied, not what the form holds)
    cursor: null,        // next_cursor of the last page, null when there is no more
    detailId: null,      // the job open in the detail view
    detailTimer: null,
    jobsMarked: false,
    overviewMarked: false,
    listGeneration: 0,   // a newer filter makes older pages' answers stale
  };

  // ---- helpers -------------------------------------------------------------

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function shortTime(iso) {
    if (!iso) return "";
    // 2026-12-03T17:32:41.123Z -> 2026-12-03 17:32:41Z: UTC, as the logs have it.
    return String(iso).replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function clockTime(iso) {
    // 2026-12-03T17:32:41.123Z -> 17:32:41 (UTC, as shortTime).
    const match = /T(\d\d:\d\d:\d\d)/.exec(String(iso));
    return match ? match[1] : "";
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "";
    let s = Math.max(0, Math.round(Number(seconds)));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d) return d + "d " + h + "h";
    if (h) return h + "h " + m + "m";
    if (m) return m + "m " + String(s).padStart(2, "0") + "s";
    return s + "s";
  }

  function pretty(value) {
    if (value === null || value === undefined) return "(none)";
    if (typeof value === "string") return value;
    return JSON.stringify(value, null, 2);
  }

  function say(text, kind) {
    const box = $("message");
    box.textContent = text;
    box.className = "message " + (kind || "info");
  }

  function sayError(error) {
    if (error instanceof ApiError) {
      if (error.status === 401) {
        say("The admin token was refused (" + error.code + "): " + error.message, "error");
      } else if (error.status === 0) {
        say(error.message, "error");
      } else {
        say("Error " + error.status + " " + error.code + ": " + error.message, "error");
      }
    } else {
      say("Request failed: " + (error && error.message ? error.message : String(error)), "error");
    }
  }

  // ---- API -----------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }

  async function api(method, path, body) {
    const t = token();
    if (!t) throw new ApiError(0, "no_token", "Enter the admin token first.");
    const headers = { "Accept": "application/json", "Authorization": "Bearer " + t };
    const init = { method: method, headers: headers, credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 204) return null;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = data && data.error ? data.error : {};
      throw new ApiError(response.status, error.code || "http_" + response.status,
                         error.message || response.statusText || "request failed");
    }
    return data;
  }

  function jobPath(id) {
    return "/admin/v1/jobs/" + encodeURIComponent(String(id));
  }

  // ---- confirmation --------------------------------------------------------

  // Resolves true when the operator presses Yes, false on No or Escape.
  function confirmAction(text, detail) {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = text;
    const detailBox = $("confirm-detail");
    detailBox.textContent = detail || "";
    detailBox.hidden = !detail;
    return new Promise((resolve) => {
      const finish = (answer) => {
        $("confirm-yes").removeEventListener("click", yes);
        $("confirm-no").removeEventListener("click", no);
        dialog.removeEventListener("cancel", no);
        if (dialog.open) dialog.close();
        resolve(answer);
      };
      const yes = () => finish(true);
      const no = (event) => {
        if (event) event.preventDefault();
        finish(false);
      };
      $("confirm-yes").addEventListener("click", yes);
      $("confirm-no").addEventListener("click", no);
      dialog.addEventListener("cancel", no);
      dialog.showModal();
      $("confirm-no").focus();
    });
  }

  // ---- overview and workers ------------------------------------------------

  function renderCounts(overview) {
    const table = $("counts-table");
    clear(table);
    const head = el("thead");
    const headRow = el("tr");
    headRow.appendChild(el("th", "Type"));
    for (const s of STATES) headRow.appendChild(el("th", s, "num state-" + s));
    headRow.appendChild(el("th", "Oldest ready", "num"));
    head.appendChild(headRow);
    table.appendChild(head);

    const body = el("tbody");
    const counts = overview.counts || {};
    const ages = overview.oldest_ready_age_seconds || {};
    const types = Object.keys(counts).sort();
    for (const type of types) {
      const row = el("tr");
      row.appendChild(el("th", type, "type"));
      for (const s of STATES) row.appendChild(el("td", counts[type][s] || 0, "num"));
      row.appendChild(el("td", type in ages ? age(ages[type]) : "", "num"));
      body.appendChild(row);
    }
    if (!types.length) {
      const row = el("tr");
      const cell = el("td", "No jobs yet.", "muted");
      cell.colSpan = STATES.length + 2;
      row.appendChild(cell);
      body.appendChild(row);
    }
    table.appendChild(body);

    const foot = el("tfoot");
    const totalRow = el("tr");
    totalRow.appendChild(el("th", "All types"));
    const totals = overview.totals || {};
    for (const s of STATES) totalRow.appendChild(el("td", totals[s] || 0, "num"));
    totalRow.appendChild(el("td", ""));
    foot.appendChild(totalRow);
    table.appendChild(foot);
  }

  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attributes) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
    return node;
  }

  // A stacked bar per minute (succeeded, dead, canceled). Sizes are SVG
  // attributes and colours come from classes: the CSP allows no style attributes.
  function renderThroughput(minutes) {
    const box = $("throughput");
    clear(box);
    const kinds = ["succeeded", "dead", "canceled"];
    const width = 300;
    const height = 80;
    const slot = width / Math.max(1, minutes.length);
    let peak = 0;
    for (const m of minutes) peak = Math.max(peak, kinds.reduce((sum, k) => sum + (Number(m[k]) || 0), 0));
    const chart = svg("svg", { viewBox: "0 0 " + width + " " + (height + 14), class: "chart", role: "img" });
    const label = svg("title");
    label.textContent = "Jobs finished per minute over the last " + minutes.length + " minutes (peak " + peak + ")";
    chart.appendChild(label);
    chart.appendChild(svg("line", { x1: 0, y1: height + 0.5, x2: width, y2: height + 0.5, class: "axis" }));
    minutes.forEach((m, i) => {
      let y = height;
      const group = svg("g");
      const tip = svg("title");
      tip.textContent = shortTime(m.minute) + ": " + kinds.map((k) => (Number(m[k]) || 0) + " " + k).join(", ");
      group.appendChild(tip);
      for (const k of kinds) {
        const n = Number(m[k]) || 0;
        if (!n || !peak) continue;
        const h = Math.max(1, (n / peak) * (height - 4));
        y -= h;
        group.appendChild(svg("rect", { x: i * slot + 1, y: y, width: Math.max(1, slot - 2), height: h, class: "bar-" + k }));
      }
      // An empty minute still has a hover target.
      group.appendChild(svg("rect", { x: i * slot, y: 0, width: slot, height: height, class: "hit" }));
      chart.appendChild(group);
    });
    const first = svg("text", { x: 0, y: height + 12, class: "tick" });
    first.textContent = minutes.length ? shortTime(minutes[0].minute).slice(11, 16) : "";
    const last = svg("text", { x: width, y: height + 12, class: "tick end" });
    last.textContent = minutes.length ? shortTime(minutes[minutes.length - 1].minute).slice(11, 16) : "";
    chart.appendChild(first);
    chart.appendChild(last);
    box.appendChild(chart);

    const legend = el("p", null, "legend");
    for (const k of kinds) {
      const total = minutes.reduce((sum, m) => sum + (Number(m[k]) || 0), 0);
      const item = el("span", null, "legend-item");
      item.appendChild(el("span", null, "swatch bar-" + k));
      item.appendChild(document.createTextNode(k + " " + total));
      legend.appendChild(item);
    }
    legend.appendChild(el("span", "peak " + peak + "/min", "muted"));
    box.appendChild(legend);
  }

  function renderOverview(overview) {
    renderCounts(overview);
    renderThroughput(overview.finished_per_minute || []);
    const paused = overview.paused_types || [];
    const pausedBox = $("paused-types");
    pausedBox.textContent = paused.length ? paused.join(", ") : "none";
    pausedBox.className = paused.length ? "paused" : "muted";
    $("overview-time").textContent = "as of " + shortTime(overview.now);
    // Finished jobs come from a count the server refreshes in the background.
    $("finished-as-of").textContent = overview.finished_counts_as_of
      ? "finished counts as of " + clockTime(overview.finished_counts_as_of) : "";
    if (!view.overviewMarked) {
      view.overviewMarked = true;
      performance.mark("pw-overview-rendered");
    }
  }

  function renderWorkers(workers) {
    const table = $("workers-table");
    clear(table);
    const head = el("thead");
    const row = el("tr");
    for (const title of ["Lease owner", "Running", "Oldest started", "Next lease expiry"]) row.appendChild(el("th", title));
    head.appendChild(row);
    table.appendChild(head);
    const body = el("tbody");
    for (const w of workers) {
      const r = el("tr");
      r.appendChild(el("td", w.owner, "mono"));
      r.appendChild(el("td", w.running, "num"));
      r.appendChild(el("td", shortTime(w.oldest_started_at)));
      r.appendChild(el("td", shortTime(w.next_lease_expiry)));
      body.appendChild(r);
    }
    if (!workers.length) {
      const r = el("tr");
      const cell = el("td", "No worker holds a lease right now.", "muted");
      cell.colSpan = 4;
      r.appendChild(cell);
      body.appendChild(r);
    }
    table.appendChild(body);
  }

  async function refreshOverview() {
    if (!token()) return;
    try {
      const [overview, workers] = await Promise.all([api("GET", "/admin/v1/overview"),
                                                     api("GET", "/admin/v1/workers")]);
      renderOverview(overview);
      renderWorkers(workers.workers || []);
    } catch (error) {
      sayError(error);
    }
  }

  // ---- job table -----------------------------------------------------------

  function localToRfc3339(value) {
    if (!value) return "";
    const date = new Date(value);  // datetime-local is the browser's local time
    return isNaN(date.getTime()) ? "" : date.toISOString();
  }

  function filterFromForm() {
    const filter = {};
    const put = (key, value) => {
      value = value.trim();
      if (value) filter[key] = value;
    };
    put("state", $("filter-state").value);
    put("type", $("filter-type").value);
    put("error", $("filter-error").value);
    put("trace_id", $("filter-trace").value);
    put("created_after", localToRfc3339($("filter-after").value));
    put("created_before", localToRfc3339($("filter-before").value));
    return filter;
  }

  function jobRow(job) {
    const row = el("tr");
    row.dataset.jobId = String(job.id);
    const idCell = el("td", null, "num");
    const open = el("button", "#" + job.id, "link");
    open.type = "button";
    open.addEventListener("click", () => openDetail(job.id));
    idCell.appendChild(open);
    row.appendChild(idCell);
    row.appendChild(el("td", job.type, "type"));
    const stateCell = el("td");
    stateCell.appendChild(el("span", job.state, "badge state-" + job.state));
    row.appendChild(stateCell);
    row.appendChild(el("td", job.attempts + "/" + job.max_attempts, "num"));
    row.appendChild(el("td", shortTime(job.created_at), "time"));
    let error = job.last_error || "";
    if (job.last_error_truncated) error += " …";
    const errorCell = el("td", error, "error-cell");
    if (error) errorCell.title = error;
    row.appendChild(errorCell);
    return row;
  }

  async function loadJobs(append) {
    const generation = append ? view.listGeneration : ++view.listGeneration;
    const params = new URLSearchParams(view.filter);
    params.set("limit", String(PAGE_SIZE));
    if (append && view.cursor) params.set("cursor", view.cursor);
    try {
      const page = await api("GET", "/admin/v1/jobs?" + params.toString());
      if (generation !== view.listGeneration) return;
      const body = $("jobs-body");
      if (!append) clear(body);
      for (const job of page.jobs || []) body.appendChild(jobRow(job));
      if (!body.firstChild) {
        const row = el("tr", null, "empty");
        const cell = el("td", "No jobs match this filter.", "muted");
        cell.colSpan = 6;
        row.appendChild(cell);
        body.appendChild(row);
      } else {
        const empty = body.querySelector("tr.empty");
        if (empty && body.children.length > 1) body.removeChild(empty);
      }
      view.cursor = page.next_cursor || null;
      $("load-more").hidden = !view.cursor;
      $("jobs-count").textContent = body.querySelectorAll("tr[data-job-id]").length + " shown" +
                                    (view.cursor ? ", more below" : "");
      if (!view.jobsMarked) {
        view.jobsMarked = true;
        performance.mark("pw-jobs-rendered");
      }
    } catch (error) {
      sayError(error);
    }
  }

  function updateRow(job) {
    const old = $("jobs-body").querySelector('tr[data-job-id="' + String(Number(job.id)) + '"]');
    if (old) old.replaceWith(jobRow(job));
  }

  // ---- job detail ----------------------------------------------------------

  function addField(list, name, value, className) {
    list.appendChild(el("dt", name));
    list.appendChild(el("dd", value === null || value === undefined || value === "" ? "—" : value, className));
  }

  function renderDetail(job) {
    $("detail-title").textContent = "Job #" + job.id + " " + job.type;
    const state = $("detail-state");
    state.textContent = job.state;
    state.className = "badge state-" + job.state;
    const fields = $("detail-fields");
    clear(fields);
    addField(fields, "Type", job.type, "mono");
    addField(fields, "Attempts", job.attempts + " of " + job.max_attempts);
    addField(fields, "Priority", job.priority);
    // A finished job keeps the owner of its last lease: the worker that finished it.
    addField(fields, TERMINAL.has(job.state) ? "Finished by" : "Lease owner", job.lease_owner, "mono");
    addField(fields, "Lease expires", shortTime(job.lease_expires_at));
    addField(fields, "Run at", shortTime(job.run_at));
    addField(fields, "Created", shortTime(job.created_at));
    addField(fields, "Started", shortTime(job.started_at));
    addField(fields, "Finished", shortTime(job.finished_at));
    addField(fields, "Updated", shortTime(job.updated_at));
    addField(fields, "User", job.user_id);
    addField(fields, "Idempotency key", job.idempotency_key, "mono");
    addField(fields, "Unique key", job.unique_key, "mono");
    addField(fields, "Trace id", job.trace_id, "mono");

    const hint = $("trace-hint");
    clear(hint);
    if (job.trace_id) {
      hint.appendChild(document.createTextNode("The request that enqueued this job has request_id = trace id in the " +
                                               "access log; its log lines, the API's and the worker's: "));
      hint.appendChild(el("code", "grep '\"request_id\":\"" + job.trace_id + "\"' api.log worker.log"));
    } else {
      hint.textContent = "No trace id: this job was not enqueued through an HTTP request.";
    }

    $("detail-error").textContent = job.last_error || "(none)";
    const earlier = $("detail-earlier-error");
    earlier.textContent = job.earlier_error ? "Earlier error: " + job.earlier_error : "";
    earlier.hidden = !job.earlier_error;
    $("detail-payload").textContent = pretty(job.payload);
    $("detail-result").textContent = pretty(job.result);

    $("retry-button").disabled = !(job.state === "dead" || job.state === "canceled");
    $("cancel-button").disabled = !(job.state === "queued" || job.state === "running");
    $("delete-button").disabled = job.state === "running";
    $("job-detail").hidden = false;
    $("job-detail").dataset.jobId = String(job.id);
    $("job-detail").dataset.state = job.state;
  }

  function stopDetailPoll() {
    if (view.detailTimer) clearTimeout(view.detailTimer);
    view.detailTimer = null;
  }

  // While the open job is queued or running, follow it until it settles.
  function scheduleDetailPoll(job) {
    stopDetailPoll();
    if (TERMINAL.has(job.state)) return;
    const id = job.id;
    view.detailTimer = setTimeout(async () => {
      view.detailTimer = null;
      if (view.detailId !== id) return;
      if (document.hidden) {
        scheduleDetailPoll(job);
        return;
      }
      try {
        const fresh = await api("GET", jobPath(id));
        if (view.detailId !== id) return;
        renderDetail(fresh);
        updateRow(fresh);
        scheduleDetailPoll(fresh);
      } catch (error) {
        sayError(error);
      }
    }, DETAIL_POLL_MS);
  }

  async function openDetail(id) {
    view.detailId = id;
    stopDetailPoll();
    try {
      const job = await api("GET", jobPath(id));
      if (view.detailId !== id) return;
      renderDetail(job);
      scheduleDetailPoll(job);
      $("job-detail").scrollIntoView({ block: "start" });
    } catch (error) {
      sayError(error);
    }
  }

  function closeDetail() {
    view.detailId = null;
    stopDetailPoll();
    $("job-detail").hidden = true;
  }

  async function act(verb) {
    const id = view.detailId;
    if (id === null) return;
    const questions = {
      retry: "Retry job #" + id + "? It is queued again and runs with fresh attempts.",
      cancel: "Cancel job #" + id + "? A running job is stopped when its worker next reports.",
      delete: "Delete job #" + id + "? Its row is removed for good.",
    };
    if (!(await confirmAction(questions[verb]))) return;
    try {
      if (verb === "delete") {
        await api("DELETE", jobPath(id));
        const row = $("jobs-body").querySelector('tr[data-job-id="' + String(Number(id)) + '"]');
        if (row) row.remove();
        closeDetail();
        say("Job #" + id + " deleted.", "ok");
      } else {
        const job = await api("POST", jobPath(id) + "/" + verb);
        say("Job #" + id + (verb === "retry" ? " queued again." : " canceled."), "ok");
        if (view.detailId === id) {
          renderDetail(job);
          scheduleDetailPoll(job);
        }
        updateRow(job);
      }
      refreshOverview();
    } catch (error) {
      sayError(error);
    }
  }

  // ---- bulk actions --------------------------------------------------------

  async function bulk(verb) {
    const filter = Object.assign({}, view.filter);
    const applies = verb === "retry" ? "dead or canceled" : "queued or running";
    const described = Object.keys(filter).length ? JSON.stringify(filter, null, 2)
                                                 : "(no filter: every job in any state)";
    const question = (verb === "retry" ? "Retry" : "Cancel") + " every " + applies +
                     " job matching the table's filter (at most 1000 at a time)?";
    if (!(await confirmAction(question, described))) return;
    try {
      const result = await api("POST", "/admin/v1/jobs:" + verb, filter);
      let text = (verb === "retry" ? "Retried " : "Canceled ") + result.changed + " job" +
                 (result.changed === 1 ? "" : "s");
      if (result.job_ids && result.job_ids.length) {
        text += ": #" + result.job_ids.slice(0, 20).join(", #") + (result.job_ids.length > 20 ? " …" : "");
      }
      if (result.more) text += ". There may be more: run it again.";
      say(text, "ok");
      await loadJobs(false);
      refreshOverview();
    } catch (error) {
      sayError(error);
    }
  }

  // ---- token ---------------------------------------------------------------

  function showTokenState() {
    const has = Boolean(token());
    document.body.classList.toggle("signed-in", has);
    $("token-input").placeholder = has ? "token set for this tab (paste to replace)" : "paste the admin token";
    $("token-forget").hidden = !has;
  }

  async function start() {
    showTokenState();
    if (!token()) {
      say("Enter the admin token to begin.", "info");
      return;
    }
    say("", "info");
    await Promise.all([refreshOverview(), loadJobs(false)]);
  }

  function init() {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token-input").value.trim();
      if (!value) return;
      // sessionStorage: gone when the tab closes, never sent by the browser on its own.
      sessionStorage.setItem(TOKEN_KEY, value);
      $("token-input").value = "";
      start();
    });
    $("token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showTokenState();
      // What the token showed goes with it.
      closeDetail();
      for (const id of ["jobs-body", "counts-table", "workers-table", "throughput"]) clear($(id));
      $("load-more").hidden = true;
      $("jobs-count").textContent = "";
      $("overview-time").textContent = "";
      $("finished-as-of").textContent = "";
      say("Token forgotten.", "info");
    });
    $("filter-form").addEventListener("submit", (event) => {
      event.preventDefault();
      view.filter = filterFromForm();
      loadJobs(false);
    });
    $("filter-clear").addEventListener("click", () => {
      $("filter-form").reset();
      view.filter = {};
      loadJobs(false);
    });
    $("load-more").addEventListener("click", () => loadJobs(true));
    $("bulk-retry").addEventListener("click", () => bulk("retry"));
    $("bulk-cancel").addEventListener("click", () => bulk("cancel"));
    $("retry-button").addEventListener("click", () => act("retry"));
    $("cancel-button").addEventListener("click", () => act("cancel"));
    $("delete-button").addEventListener("click", () => act("delete"));
    $("detail-close").addEventListener("click", closeDetail);

    setInterval(() => {
      if (!document.hidden) refreshOverview();
    }, OVERVIEW_PERIOD_MS);
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refreshOverview();
    });
    start();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
