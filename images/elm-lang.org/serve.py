#!/usr/bin/env python3
"""Serves the elm-lang.org static site: the files under SITE_DIR, plus /health and /version.

Every response carries `X-Elm-Version: <version>`, so a request through Traefik shows which
release answered it. Directory listings are never shown. Stops cleanly on SIGTERM (Nomad's stop).
Standard library only: the base image has python3 and nothing else.
"""
import http.server
import json
import os
import posixpath
import signal
import sys
import threading
import urllib.parse

VERSION = os.environ.get("ELM_VERSION", "unknown")
SITE_DIR = os.path.realpath(os.environ.get("SITE_DIR", "/srv/site"))
PORT = int(os.environ.get("PORT", "8080"))


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    server_version = "elm-lang.org"
    sys_version = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=SITE_DIR, **kwargs)

    def end_headers(self):
        self.send_header("X-Elm-Version", VERSION)
        super().end_headers()

    def do_GET(self):
        if self.answer_status():
            return
        self.resolve_clean_url()
        super().do_GET()

    def do_HEAD(self):
        if self.answer_status():
            return
        self.resolve_clean_url()
        super().do_HEAD()

    def answer_status(self):
        route = urllib.parse.urlsplit(self.path).path
        if route not in ("/health", "/version"):
            return False
        body = json.dumps({"status": "ok", "version": VERSION}).encode() + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return True

    def resolve_clean_url(self):
        """`/examples/hello` serves `examples/hello.html`, as the site's links expect."""
        parts = urllib.parse.urlsplit(self.path)
        route = parts.path
        if route.endswith("/") or posixpath.splitext(route)[1]:
            return
        local = self.translate_path(route)
        if not os.path.exists(local) and os.path.isfile(local + ".html"):
            self.path = urllib.parse.urlunsplit(parts._replace(path=route + ".html"))

    def list_directory(self, path):
        self.send_error(404, "Not Found")
        return None

    def send_error(self, code, message=None, explain=None):
        page = os.path.join(SITE_DIR, "404.html")
        if code != 404 or not os.path.isfile(page):
            return super().send_error(code, message, explain)
        with open(page, "rb") as f:
            body = f.read()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stdout.write("%s %s\n" % (self.address_string(), format % args))
        sys.stdout.flush()


def main():
    if not os.path.isdir(SITE_DIR):
        sys.exit("site folder %s is missing" % SITE_DIR)
    server = http.server.ThreadingHTTPServer(("", PORT), SiteHandler)
    server.daemon_threads = True

    def stop(signum, frame):
        # shutdown() waits for serve_forever() to return, so it must run on another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("elm-lang.org %s serving %s on port %d" % (VERSION, SITE_DIR, PORT), flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
