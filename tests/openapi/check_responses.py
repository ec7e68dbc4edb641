#!/usr/bin/python3
"""Black-box: real responses of the real binary checked against the schemas
of docs/openapi.yaml, so the document and the server cannot drift apart.

Starts `migrate`, `api` and `worker` on a temporary database, walks a user's
journey (sign-up, tokens, worlds, personas, generation, simulation, events,
jobs, deletion) plus typical refusals, and validates each response body with
Debian's python3-jsonschema (Draft 2020-12, the dialect of OpenAPI 3.1)
against the schema the document gives for that path, method and status. A
status the document does not list for the operation fails too.

Usage: check_responses.py PERSONAWORLDS_BINARY OPENAPI_YAML
Needs: python3-yaml, python3-jsonschema.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import jsonschema
import yaml

BINARY, SPEC_PATH = sys.argv[1], sys.argv[2]
with open(SPEC_PATH) as f:
    SPEC = yaml.safe_load(f)

checked = []
failures = []


def node_ref_parts(ref):
    assert ref.startswith("#/"), ref
    return [p.replace("~1", "/").replace("~0", "~") for p in ref[2:].split("/")]


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        target = SPEC
        for part in node_ref_parts(node["$ref"]):
            target = target[part]
        node = target
    return node


def operation_for(method, path):
    """The documented path template and operation that `path` falls under."""
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    return None, None


def check(method, path, status, body):
    template, operation = operation_for(method, path)
    where = f"{method} {path} -> {status}"
    if operation is None:
        failures.append(f"{where}: no such operation in the document")
        return
    responses = operation.get("responses", {})
    response = responses.get(str(status))
    if response is None:
        failures.append(f"{where}: status {status} is not documented for {method} {template}")
        return
    response = deref(response)
    content = response.get("content", {})
    if not content:
        if body not in (b"", None):
            failures.append(f"{where}: the document gives no body, the server sent {body[:200]!r}")
        checked.append(where)
        return
    media = content.get("application/json") or next(iter(content.values()))
    schema = media.get("schema")
    if schema is None:
        checked.append(where)
        return
    try:
        instance = json.loads(body)
    except ValueError as e:
        failures.append(f"{where}: body is not JSON ({e}): {body[:200]!r}")
        return
    # The schema is checked in the context of the whole document, so its
    # $refs (#/components/...) resolve.
    wrapped = dict(SPEC)
    wrapped["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    wrapped["$ref"] = "#/x-check"
    wrapped["x-check"] = schema
    validator = jsonschema.Draft202012Validator(wrapped)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    for error in errors:
        failures.append(f"{where}: {'/'.join(map(str, error.path)) or '(body)'}: {error.message}")
    checked.append(where)


class Api:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.token = None

    def call(self, method, path, body=None, headers=None, token=True):
        data = None
        all_headers = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        if token and self.token:
            all_headers["Authorization"] = "Bearer " + self.token
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        check(method, path.split("?")[0], status, raw)
        return status, (json.loads(raw) if raw else None)


def wait_for_line(process, msg, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("msg") == msg:
            return entry
    raise SystemExit(f"no {msg} line")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "openapi.db")
        subprocess.run([BINARY, "migrate", "--db", db], check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ, LOG_FORMAT="json", LOG_LEVEL="info")
        api_process = subprocess.Popen([BINARY, "api", "--db", db, "--host", "127.0.0.1", "--port", "0",
                                        "--shutdown-delay-ms", "0"], stdout=subprocess.PIPE, text=True, env=env)
        worker = subprocess.Popen([BINARY, "worker", "--db", db, "--observability-host", "127.0.0.1",
                                   "--observability-port", "0", "--poll-interval-ms", "5"],
                                  stdout=subprocess.DEVNULL, env=env)
        try:
            port = wait_for_line(api_process, "api_started")["port"]
            journey(Api(port))
        finally:
            for process in (api_process, worker):
                process.terminate()
                process.wait(timeout=30)

    for failure in failures:
        print("FAIL", failure)
    print(f"{len(checked)} responses checked against {SPEC_PATH}, {len(failures)} mismatches")
    sys.exit(1 if failures or len(checked) < 20 else 0)


def wait_for_job(api, job_id):
    for _ in range(300):
        status, job = api.call("GET", f"/v1/jobs/{job_id}")
        if job["state"] in ("succeeded", "dead"):
            return job
        time.sleep(0.05)
    raise SystemExit(f"job {job_id} did not finish")


def journey(api):
    api.call("GET", "/healthz", token=False)
    api.call("GET", "/readyz", token=False)
    status, signed_up = api.call("POST", "/v1/users", {"handle": "openapi_check"}, token=False)
    api.token = signed_up["token"]
    api.call("POST", "/v1/users", {"handle": "openapi_check"}, token=False)       # 409
    api.call("POST", "/v1/users", {"handle": "x"}, token=False)                   # 400
    api.call("GET", "/v1/me")
    api.call("GET", "/v1/me", token=False)                                         # 401

    status, spare = api.call("POST", "/v1/tokens", {"name": "spare", "expires_in_seconds": 3600})
    api.call("POST", "/v1/tokens", {"expires_in_seconds": 0})                      # 400
    api.call("GET", "/v1/tokens?limit=1")
    api.call("DELETE", f"/v1/tokens/{spare['id']}")                                # 204
    api.call("DELETE", f"/v1/tokens/{spare['id']}")                                # 404

    status, world = api.call("POST", "/v1/worlds", {"name": "Harbor", "seed": 7}, {"Idempotency-Key": "w1"})
    api.call("POST", "/v1/worlds", {"name": "Harbor", "seed": 7}, {"Idempotency-Key": "w1"})   # replay
    api.call("POST", "/v1/worlds", {"name": "Harbor", "seed": 8}, {"Idempotency-Key": "w1"})   # 422
    api.call("POST", "/v1/worlds", b"name=x", {"Content-Type": "text/plain"})  # 415
    api.call("GET", "/v1/worlds")
    api.call("GET", f"/v1/worlds/{world['id']}")
    api.call("GET", "/v1/worlds/999999")                                           # 404
    api.call("POST", f"/v1/worlds/{world['id']}/personas", {"name": "Ada", "traits": {"curiosity": 90}})
    status, generate = api.call("POST", f"/v1/worlds/{world['id']}/personas:generate", {"count": 5})
    wait_for_job(api, generate["job"]["id"])
    api.call("GET", f"/v1/worlds/{world['id']}/personas?limit=3")
    status, simulation = api.call("POST", f"/v1/worlds/{world['id']}/simulations", {"ticks": 10})
    wait_for_job(api, simulation["job"]["id"])
    api.call("GET", f"/v1/worlds/{world['id']}/simulations")
    api.call("GET", f"/v1/worlds/{world['id']}/simulations/{simulation['simulation']['id']}")
    api.call("GET", f"/v1/worlds/{world['id']}/events?limit=5")
    api.call("GET", f"/v1/worlds/{world['id']}/events?limit=0")                     # 400
    api.call("DELETE", f"/v1/worlds/{world['id']}")                                # 204


if __name__ == "__main__":
    main()
