"""A small in-process fake of RunPod's job-queue HTTP API, for driving a real worker locally.

The worker side (job-take, job-take-batch, job-stop, job-stream, job-done, ping) is what the
runpod SDK's production loop calls; the client side (run, runsync, status, stream, cancel, health,
purge-queue) is what the official `runpod` client calls. Everything lives under
``/v2/<endpoint>/`` on 127.0.0.1; `worker_env()` gives the environment a worker needs.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


class _Job:
    def __init__(self, job_input):
        self.id = f"job-{uuid.uuid4().hex[:12]}"
        self.input = job_input
        self.status = "IN_QUEUE"
        self.output = None
        self.error = None
        self.progress = []  # every progress_update value, in order
        self.stream = []  # every streamed chunk
        self.stream_times = []  # when each arrived (time.monotonic)
        self.stream_read = 0  # how many of them /stream has handed out
        self.created = time.monotonic()
        self.started = None
        self.finished = None

    def body(self) -> dict:
        now = time.monotonic()
        started = self.started or now
        out = {
            "id": self.id,
            "status": self.status,
            "delayTime": int((started - self.created) * 1000),
        }
        if self.started:
            out["executionTime"] = int(((self.finished or now) - self.started) * 1000)
        if self.status == "FAILED":
            out["error"] = self.error
        elif self.status == "COMPLETED":
            out["output"] = self.output
        elif self.status == "IN_PROGRESS" and self.progress:
            out["output"] = self.progress[-1]
        return out


class FakeQueue:
    """Start with `start()`, stop with `close()`; thread-safe."""

    def __init__(self, endpoint: str = "ep-test", poll_s: float = 1.0):
        self.endpoint = endpoint
        self.poll_s = poll_s
        self.cond = threading.Condition()
        self.jobs: dict[str, _Job] = {}
        self.queue: deque[str] = deque()
        self.to_stop: deque[str] = deque()
        self.pings = 0
        self.max_in_progress = 0
        self.largest_stream_item = 0  # bytes of the biggest job-stream body (RunPod takes <= 1 MB)
        self.server = None
        self.thread = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "FakeQueue":
        fake = self

        class Handler(_Handler):
            queue = fake

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            with self.cond:
                self.cond.notify_all()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def client_base(self) -> str:
        """What `runpod.endpoint_url_base` must be; the endpoint id is `self.endpoint`."""
        return f"http://127.0.0.1:{self.port}/v2"

    def worker_env(self, pod_id: str = "fake-pod") -> dict:
        b = f"{self.client_base}/{self.endpoint}"
        return {
            "RUNPOD_WEBHOOK_GET_JOB": f"{b}/job-take/$ID?x=1",
            "RUNPOD_WEBHOOK_POST_OUTPUT": f"{b}/job-done/$RUNPOD_POD_ID/$ID?x=1",
            "RUNPOD_WEBHOOK_POST_STREAM": f"{b}/job-stream/$RUNPOD_POD_ID/$ID?x=1",
            "RUNPOD_WEBHOOK_PING": f"{b}/ping/$RUNPOD_POD_ID",
            "RUNPOD_PING_INTERVAL": "2000",
            "RUNPOD_POD_ID": pod_id,
            "RUNPOD_AI_API_KEY": "fake-key",
            "RUNPOD_SKIP_AUTO_SYSTEM_CHECKS": "true",
            "RUNPOD_SKIP_GPU_CHECK": "true",
        }

    # ------------------------------------------------------------------ state
    def in_progress(self) -> int:
        return sum(1 for j in self.jobs.values() if j.status == "IN_PROGRESS")

    def submit(self, job_input) -> _Job:
        with self.cond:
            job = _Job(job_input)
            self.jobs[job.id] = job
            self.queue.append(job.id)
            self.cond.notify_all()
            return job

    def take(self, n: int, wait: float) -> list[_Job]:
        deadline = time.monotonic() + wait
        with self.cond:
            while not self.queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self.cond.wait(left)
            if n > 1:  # let a burst of submissions land in one batch, as a real queue would
                self.cond.wait(min(0.3, max(0.0, deadline - time.monotonic())))
            taken = []
            while self.queue and len(taken) < n:
                job = self.jobs[self.queue.popleft()]
                job.status = "IN_PROGRESS"
                job.started = time.monotonic()
                taken.append(job)
            self.max_in_progress = max(self.max_in_progress, self.in_progress())
            return taken

    def wait_final(self, job_id: str, wait: float) -> _Job:
        deadline = time.monotonic() + wait
        with self.cond:
            job = self.jobs[job_id]
            while job.status not in FINAL and time.monotonic() < deadline:
                self.cond.wait(max(0.0, deadline - time.monotonic()))
            return job

    def finish(self, job_id: str, body: dict):
        with self.cond:
            job = self.jobs.get(job_id)
            if job is None or job.status in FINAL:
                return  # late message for a cancelled or finished job
            if body.get("status") == "IN_PROGRESS":
                job.progress.append(body.get("output"))
            elif body.get("error"):
                job.status, job.error = "FAILED", body["error"]
            else:
                job.status, job.output = "COMPLETED", body.get("output")
            if job.status in FINAL:
                job.finished = time.monotonic()
            self.cond.notify_all()

    def cancel(self, job_id: str) -> _Job:
        with self.cond:
            job = self.jobs[job_id]
            if job.status == "IN_QUEUE":
                self.queue.remove(job_id)
            elif job.status == "IN_PROGRESS":
                self.to_stop.append(job_id)
            if job.status not in FINAL:
                job.status = "CANCELLED"
                job.finished = time.monotonic()
            self.cond.notify_all()
            return job


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a worker killed mid-request resets its connection; not worth a traceback


class _Handler(BaseHTTPRequestHandler):
    queue: FakeQueue
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _reply(self, status: int, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return json.loads(raw) if raw else {}

    def _route(self):
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        if len(parts) < 3 or parts[0] != "v2" or parts[1] != self.queue.endpoint:
            return None, [], {}
        return parts[2], parts[3:], parse_qs(url.query)

    def do_GET(self):  # noqa: N802 - http.server naming
        q = self.queue
        op, rest, query = self._route()
        if op in ("job-take", "job-take-batch"):
            n = int(query.get("batch_size", ["1"])[0])
            jobs = q.take(n, q.poll_s)
            if not jobs:
                return self._reply(204)
            items = [{"id": j.id, "input": j.input} for j in jobs]
            return self._reply(200, items if op == "job-take-batch" else items[0])
        if op == "job-stop":
            deadline = time.monotonic() + q.poll_s
            with q.cond:
                while not q.to_stop and time.monotonic() < deadline:
                    q.cond.wait(max(0.0, deadline - time.monotonic()))
                ids = list(q.to_stop)
                q.to_stop.clear()
            return self._reply(200, {"jobsToStop": ids}) if ids else self._reply(204)
        if op == "ping":
            with q.cond:
                q.pings += 1
            return self._reply(200, {})
        if op == "health":
            with q.cond:
                counts = {s: 0 for s in ("completed", "failed", "inProgress", "inQueue", "retried")}
                for j in q.jobs.values():
                    key = {
                        "COMPLETED": "completed",
                        "FAILED": "failed",
                        "IN_PROGRESS": "inProgress",
                        "IN_QUEUE": "inQueue",
                    }.get(j.status)
                    if key:
                        counts[key] += 1
                busy = 1 if counts["inProgress"] else 0
            return self._reply(200, {"jobs": counts, "workers": {"idle": 1 - busy, "running": busy}})
        if op in ("status", "stream") and rest:
            with q.cond:
                job = q.jobs.get(rest[0])
                if job is None:
                    return self._reply(404, {"error": "job not found"})
                body = job.body()
                if op == "stream":
                    body.pop("output", None)
                    new = job.stream[job.stream_read :]
                    job.stream_read = len(job.stream)
                    body["stream"] = [{"output": c} for c in new]
            return self._reply(200, body)
        return self._reply(404, {"error": f"no route GET {self.path}"})

    def do_POST(self):  # noqa: N802
        q = self.queue
        op, rest, query = self._route()
        try:
            body = self._body()
        except ValueError:
            return self._reply(400, {"error": "body is not JSON"})
        if op == "job-stream" and len(rest) == 2:
            with q.cond:
                q.largest_stream_item = max(q.largest_stream_item, int(self.headers.get("Content-Length") or 0))
                job = q.jobs.get(rest[1])
                if job is not None and job.status == "IN_PROGRESS" and "output" in body:
                    job.stream.append(body["output"])
                    job.stream_times.append(time.monotonic())
                    q.cond.notify_all()
            return self._reply(200, {})
        if op == "job-done" and len(rest) == 2:
            q.finish(rest[1], body)
            return self._reply(200, {})
        if op in ("run", "runsync"):
            if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
                return self._reply(400, {"error": "input must be an object"})
            job = q.submit(body["input"])
            if op == "run":
                return self._reply(200, {"id": job.id, "status": "IN_QUEUE"})
            wait_ms = int(query.get("wait", ["90000"])[0])
            return self._reply(200, q.wait_final(job.id, wait_ms / 1000).body())
        if op == "cancel" and rest:
            if rest[0] not in q.jobs:
                return self._reply(404, {"error": "job not found"})
            job = q.cancel(rest[0])
            return self._reply(200, {"id": job.id, "status": job.status})
        if op == "purge-queue":
            with q.cond:
                removed = len(q.queue)
                for job_id in q.queue:
                    q.jobs[job_id].status = "CANCELLED"
                q.queue.clear()
            return self._reply(200, {"removed": removed, "status": "completed"})
        return self._reply(404, {"error": f"no route POST {self.path}"})
