#!/usr/bin/python3
# webhook_sink.py PORT LOG - a webhook receiver for the secrets test: a
# plain HTTP server (Python's standard library, Debian's python3) on
# 127.0.0.1:PORT that answers every POST 200 and appends "POST PATH BODY"
# to LOG, one line each; GET /ready answers 200 (the test's readiness
# poll).  It stops on SIGTERM.
import http.server
import sys

port, log = int(sys.argv[1]), sys.argv[2]


class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        with open(log, "a") as f:
            f.write("POST %s %s\n" % (self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_response(200 if self.path == "/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Sink).serve_forever()
