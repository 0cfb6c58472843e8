#!/usr/bin/env python3
"""The webhook receiver WebhookTests points subscriptions at.

    webhook_receiver.py PORT FOLDER

Checks each delivery's Standard Webhooks signature against the secrets in FOLDER/secrets (one
`whsec_…` a line; the test writes them) and appends to FOLDER/received.jsonl one JSON object a
line: path, webhook-id, timestamp, type, position, and whether the signature verified. Answers
by path: /ok 200, /slow 200 after 0.2 s, /fail 500, /redirect 307 to /ok.
"""
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

port, folder = int(sys.argv[1]), sys.argv[2]


def verified(headers, body):
    try:
        secrets = open(os.path.join(folder, "secrets")).read().split()
    except OSError:
        return False
    message = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
    given = [part.split(",", 1)[1] for part in (headers.get("webhook-signature") or "").split() if part.startswith("v1,")]
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, g) for g in given):
            return True
    return False


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        record = {
            "path": self.path, "id": self.headers.get("webhook-id"), "timestamp": self.headers.get("webhook-timestamp"),
            "type": payload.get("type"), "position": (payload.get("data") or {}).get("position"),
            "verified": verified(self.headers, body), "at": time.time(),
        }
        with open(os.path.join(folder, "received.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.path == "/slow":
            time.sleep(0.2)
        status = {"/fail": 500, "/redirect": 307}.get(self.path, 200)
        self.send_response(status)
        if status == 307:
            self.send_header("Location", "/ok")
        self.send_header("Content-Length", "0")
        self.end_headers()


http.server.ThreadingHTTPServer.allow_reuse_address = True
print("listening", port, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
