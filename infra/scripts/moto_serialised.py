"""moto_server that processes one request at a time.

moto's threaded server evaluates a DynamoDB condition expression and then writes the item
without a lock, so under concurrent load two conditional PutItems on one key can both
succeed (measured here: 3 of 1,000 keys claimed by 5 concurrent writers had two winners).
Real DynamoDB serialises writes to an item, which is exactly what the claim primitive relies
on. This launcher keeps moto's threaded HTTP server (so idle keep-alive connections never
block anyone) and lets only one request at a time into the emulator.

The listen backlog is raised from werkzeug's 128 to the kernel's usual maximum: the contract
tests open 1,000 connections at once, and connections beyond the backlog had their SYNs
dropped and retried after 1 s and 3 s, past the SDK's 3.1 s connect timeout (seen as
"HTTP connect" timeouts under load; real DynamoDB accepts them).

Usage: moto_serialised.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
import werkzeug.serving
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialised(environ, start_response):
        with lock:
            # Materialise the body inside the lock: the response is produced lazily.
            return list(app(environ, start_response))

    werkzeug.serving.BaseWSGIServer.request_queue_size = 4096
    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
