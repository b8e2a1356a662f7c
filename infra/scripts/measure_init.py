#!/usr/bin/env python3
"""Cold-start init time of a Lambda binary: from exec to its first request for an event.

A tiny Lambda Runtime API stub answers nothing: it records when the binary first asks for the
next event (GET /2018-06-01/runtime/invocation/next), then the binary is killed. Repeated
RUNS times per Redis scenario; prints the median and min/max in milliseconds.

usage: measure_init.py BINARY [RUNS]
  BINARY gets a complete dummy configuration in its environment (tables, queue, keys); the
  AWS SDK gets static credentials, so only Redis can make init wait on the network.
  Scenarios: Redis up (REDIS_URL from the environment, e.g. `source .local/services/env`),
  Redis unreachable (a closed port), Redis hanging (a port that accepts and never answers).
"""

import http.server
import os
import socket
import statistics
import subprocess
import sys
import threading
import time


class Stub(http.server.BaseHTTPRequestHandler):
    first_next = None

    def do_GET(self):  # noqa: N802 (http.server naming)
        if "/runtime/invocation/next" in self.path and Stub.first_next is None:
            Stub.first_next = time.perf_counter()
        time.sleep(5)  # never hand out an event; the binary is killed first

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hanging_redis():
    """A listening socket that never accepts: TCP connects, Redis never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s, f"redis://127.0.0.1:{s.getsockname()[1]}"


def one_run(binary, redis_url):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Stub.first_next = None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "measure",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "USERS_TABLE": "users",
        "CLAIMS_TABLE": "claims",
        "BILLING_TABLE": "billing",
        "APPOINTMENTS_TABLE": "appointments",
        "EMAILS_TABLE": "emails",
        "EMAIL_QUEUE_URL": "http://127.0.0.1:9/queue/email",
        "SENDER_EMAIL": "noreply@example.com",
        "ADMIN_EMAIL": "admin@example.com",
        "BUSINESS_TIME_ZONE": "America/New_York",
        "STRIPE_WEBHOOK_SECRETS": "whsec_measure",
        "STRIPE_API_KEY": "sk_test_measure",
        "REDIS_URL": redis_url,
        "DEVICE_COOKIE_KEY": "d" * 64,
        "LOG_HASH_KEY": "l" * 64,
        "RUST_LOG": "off",
    }
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = start + 10
    while Stub.first_next is None and time.perf_counter() < deadline and proc.poll() is None:
        time.sleep(0.0005)
    proc.kill()
    proc.wait()
    server.shutdown()
    server.server_close()
    if Stub.first_next is None:
        raise SystemExit(f"{binary} never asked for an event (exit {proc.returncode})")
    return (Stub.first_next - start) * 1000


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    hang_sock, hang_url = hanging_redis()
    scenarios = [
        ("redis up", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")),
        ("redis unreachable", f"redis://127.0.0.1:{free_port()}"),
        ("redis hanging", hang_url),
    ]
    for name, url in scenarios:
        times = [one_run(binary, url) for _ in range(runs)]
        print(
            f"{os.path.basename(binary)} {name:18} median {statistics.median(times):7.1f} ms"
            f"  min {min(times):6.1f}  max {max(times):6.1f}  ({runs} runs)"
        )
    hang_sock.close()


if __name__ == "__main__":
    main()
