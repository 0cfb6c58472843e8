#!/usr/bin/env python3
"""The publish hook PublishHookTests points `serve --publish-hook` at.

    publish_hook.py PORT LOG

Answers POST /admit by the channel's name: `allowed…` {"allowed": true}; `denied…`
{"allowed": false, "reason": "account suspended"}; `slow…` allows after 3 s (past streamd's
timeout); `broken…` HTTP 500. Every request body is appended to LOG, one JSON object a line.
"""
import http.server
import json
import sys
import time

port, log = int(sys.argv[1]), sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(log, "a") as f:
            f.write(body.decode() + "\n")
        name = json.loads(body).get("channelName", "")
        if name.startswith("broken"):
            status, answer = 500, {"error": "down"}
        elif name.startswith("denied"):
            status, answer = 200, {"allowed": False, "reason": "account suspended"}
        else:
            if name.startswith("slow"):
                time.sleep(3)
            status, answer = 200, {"allowed": True}
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except BrokenPipeError:
            pass


http.server.ThreadingHTTPServer.allow_reuse_address = True
print("listening", port, flush=True)
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
