"""A minimal Lambda runtime API for `make bench`: starts a function binary
with AWS_LAMBDA_RUNTIME_API pointing here, hands it N events, and reports
init time (exec to first /next), per-invocation latency and peak RSS, and
for a cold start: the first invocation's latency and the time from exec to
its response (init and first invocation may overlap: a function may start
work during init, while it polls for the first event).

usage: fake_runtime.py BINARY EVENT_FILE COUNT [ARG...]
  (function env from our env; ARGs go to BINARY, e.g. a Python interpreter's
  `-m awslambdaric handler.lambda_handler`)
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

binary, event_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
args = sys.argv[4:]
event = open(event_file, "rb").read()
state = {"first_next": None, "first_response": None, "sent": {}, "done": [], "errors": 0}
finished = threading.Event()


class Runtime(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            return self.reply(404)
        now = time.perf_counter()
        if state["first_next"] is None:
            state["first_next"] = now
        n = len(state["sent"])
        if n >= count:
            finished.wait()
            return self.reply(500)
        request_id = f"req-{n}"
        state["sent"][request_id] = now
        deadline = str(int(time.time() * 1000) + 30000)
        self.reply(200, event, [("Lambda-Runtime-Aws-Request-Id", request_id),
                                ("Lambda-Runtime-Deadline-Ms", deadline),
                                ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:111111111111:function:bench"),
                                ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                                ("Content-Type", "application/json")])

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        parts = self.path.split("/")
        if self.path.endswith("/error"):
            state["errors"] += 1
        if "invocation" in parts:
            request_id = parts[parts.index("invocation") + 1]
            now = time.perf_counter()
            if state["first_response"] is None:
                state["first_response"] = now
            state["done"].append(now - state["sent"][request_id])
            if len(state["done"]) >= count:
                finished.set()
        self.reply(202, b"{}")


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The function is killed at the end with a /next still open.
        if not isinstance(sys.exc_info()[1], ConnectionResetError):
            super().handle_error(request, client_address)


server = Server(("127.0.0.1", 0), Runtime)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
           AWS_LAMBDA_FUNCTION_NAME="bench", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
           AWS_LAMBDA_FUNCTION_VERSION="$LATEST", AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench")
# Lambda sets both; boto3 reads only the second.
if "AWS_REGION" in env:
    env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
started = time.perf_counter()
proc = subprocess.Popen([binary, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
ok = finished.wait(60)
peak_kb = 0
with open(f"/proc/{proc.pid}/status") as status:
    for line in status:
        if line.startswith("VmHWM:"):
            peak_kb = int(line.split()[1])
proc.kill()
proc.wait()
server.shutdown()
if not ok or state["first_next"] is None:
    sys.exit(f"{binary}: did not finish {count} invocations")
lat = sorted(state["done"])
print(json.dumps({
    "binary": " ".join([os.path.basename(binary), *args]),
    "binary_bytes": os.path.getsize(binary),
    "init_ms": round((state["first_next"] - started) * 1000, 2),
    "first_ms": round(state["done"][0] * 1000, 2),
    "first_response_ms": round((state["first_response"] - started) * 1000, 2),
    "invocations": count,
    "errors": state["errors"],
    "p50_ms": round(statistics.median(lat) * 1000, 3),
    "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 3),
    "peak_rss_mib": round(peak_kb / 1024, 1),
}))
