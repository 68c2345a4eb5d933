#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of a registry, and a stand-in CDN, for the registry tests.

usage:
  fault_proxy.py proxy --port P --upstream HOST:PORT --faults FILE [--log FILE]
  fault_proxy.py cdn --port P --storage ROOT [--log FILE]

proxy: forwards every request to the upstream registry (the Host header is kept, so that the
registry's Location headers point back at the proxy) and injects the faults that FILE (JSON,
re-read at every request) asks for. Counted faults fire that many times (-1: always); the proxy
writes the decremented counts back, so a test can check that a fault fired.
  "manifest_429": N       answer /manifests/ requests with 429 and Retry-After
  "retry_after": "1"      the Retry-After value (seconds or an HTTP date)
  "manifest_500": N       answer /manifests/ requests with 500
  "blob_drop": N          send the headers and half of a blob (GET /blobs/sha256:...) of at
                          least 64 KiB (a layer, not a config), then close the connection
  "blob_corrupt": N       flip one byte in the middle of a blob of at least 64 KiB (a layer)
  "small_blob_corrupt": N the same for a smaller blob (a config, a small layer)
  "blob_ignore_range": N  answer a Range request with 200 and the whole blob
  "blob_bad_range": N     answer a Range request with 206 and a Content-Range from byte 0
  "blob_delay_ms": MS     sleep MS after every 64 KiB of a blob
  "redirect_blobs": URL   answer blob GETs with 307 to URL/blobs/<digest> (a CDN on another
                          host and port); requests without Authorization are refused with 401
                          first, as the registry would
  "hang": true            accept requests and never answer
Every request is logged as one JSON line {"method","path","range","auth","status","fault"}.

cdn: serves GET/HEAD /blobs/<digest> from the registry's filesystem storage ROOT, with Range
support. A request that carries an Authorization header is refused with 400 and logged with
"auth": true: credentials must never follow a redirect to another host.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import socket
import threading
import time

BLOB_RE = re.compile(r"^/v2/.+/blobs/(sha256:[0-9a-f]{64})$")
HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate"}
CHUNK = 65536


class State:
    def __init__(self, faults, log):
        self.faults = faults
        self.log = log
        self.lock = threading.Lock()

    def take(self, name):
        """Consumes one use of a counted fault; returns True when it fires."""
        with self.lock:
            f = self.load()
            n = f.get(name, 0)
            if not n:
                return False
            if isinstance(n, int) and n > 0:
                f[name] = n - 1
                self.save(f)
            return True

    def get(self, name, default=None):
        with self.lock:
            return self.load().get(name, default)

    def load(self):
        if not self.faults:
            return {}
        try:
            with open(self.faults) as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def save(self, f):
        tmp = self.faults + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(f, fh)
        os.replace(tmp, self.faults)

    def record(self, entry):
        if not self.log:
            return
        with self.lock:
            with open(self.log, "a") as fh:
                fh.write(json.dumps(entry) + "\n")


def make_proxy(args, state):
    host, _, port = args.upstream.rpartition(":")

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def note(self, status, fault=None):
            state.record({
                "method": self.command,
                "path": self.path,
                "range": self.headers.get("Range"),
                "auth": self.headers.get("Authorization") is not None,
                "status": status,
                "fault": fault,
            })

        def simple(self, status, body=b"", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self):
            if state.get("hang"):
                self.note(0, "hang")
                time.sleep(3600)
                return
            path = self.path.split("?", 1)[0]
            is_manifest = "/manifests/" in path
            blob = BLOB_RE.match(path)
            is_blob_get = blob is not None and self.command == "GET"
            if is_manifest and state.take("manifest_429"):
                self.note(429, "429")
                err = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
                self.simple(429, err, [("Retry-After", str(state.get("retry_after", "1"))),
                                       ("Content-Type", "application/json")])
                return
            if is_manifest and state.take("manifest_500"):
                self.note(500, "500")
                self.simple(500, b"oops")
                return
            cdn = state.get("redirect_blobs")
            if is_blob_get and cdn:
                if self.headers.get("Authorization") is None:
                    # let the registry issue the challenge
                    pass
                else:
                    self.note(307, "redirect")
                    self.simple(307, b"", [("Location", "%s/blobs/%s" % (cdn, blob.group(1)))])
                    return
            body = None
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                body = self.rfile.read(n)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            fault = None
            if is_blob_get and "Range" in self.headers:
                if state.take("blob_ignore_range"):
                    headers.pop("Range", None)
                    fault = "ignore_range"
                elif state.take("blob_bad_range"):
                    fault = "bad_range"
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
            except OSError as e:
                self.note(502, "upstream: %s" % e)
                self.simple(502, str(e).encode())
                return
            length = resp.getheader("Content-Length")
            stream = is_blob_get and resp.status in (200, 206) and length is not None
            if not stream:
                data = resp.read() if self.command != "HEAD" else b""
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                if self.command == "HEAD" and length is not None:
                    self.send_header("Content-Length", length)
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.note(resp.status, fault)
                conn.close()
                return
            total = int(length)
            status = resp.status
            hdrs = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
            if fault == "bad_range" and status == 206:
                m = re.match(r"bytes (\d+)-(\d+)/(\d+)", resp.getheader("Content-Range") or "")
                if m:
                    hdrs = [(k, v) for k, v in hdrs if k.lower() != "content-range"]
                    end = int(m.group(2))
                    hdrs.append(("Content-Range", "bytes 0-%d/%s" % (end - int(m.group(1)),
                                                                    m.group(3))))
            drop = total >= 65536 and state.take("blob_drop")
            corrupt = (total >= 65536 and state.take("blob_corrupt")) or \
                (0 < total < 65536 and state.take("small_blob_corrupt"))
            delay = state.get("blob_delay_ms", 0) / 1000.0
            fault = fault or ("drop" if drop else "corrupt" if corrupt else None)
            self.send_response(status)
            for k, v in hdrs:
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            limit = total // 2 if drop else total
            flip = total // 2
            try:
                while sent < limit:
                    data = resp.read(min(CHUNK, limit - sent))
                    if not data:
                        break
                    if corrupt and sent <= flip < sent + len(data):
                        b = bytearray(data)
                        b[flip - sent] ^= 0x01
                        data = bytes(b)
                    self.wfile.write(data)
                    sent += len(data)
                    if delay:
                        self.wfile.flush()
                        time.sleep(delay)
                self.wfile.flush()
            except OSError:
                pass
            self.note(status, fault)
            conn.close()
            if drop:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any

    return Proxy


def make_cdn(args, state):
    class Cdn(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def note(self, status):
            state.record({
                "method": self.command,
                "path": self.path,
                "range": self.headers.get("Range"),
                "auth": self.headers.get("Authorization") is not None,
                "status": status,
                "fault": None,
            })

        def fail(self, status, text):
            self.note(status)
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self):
            m = re.match(r"^/blobs/sha256:([0-9a-f]{64})$", self.path)
            if self.headers.get("Authorization") is not None:
                self.fail(400, "an Authorization header followed the redirect")
                return
            if not m:
                self.fail(404, "not found")
                return
            h = m.group(1)
            p = os.path.join(args.storage, "docker/registry/v2/blobs/sha256", h[:2], h, "data")
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                self.fail(404, "no such blob")
                return
            start, status = 0, 200
            rng = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
            if rng:
                start, status = int(rng.group(1)), 206
            body = data[start:]
            self.note(status)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range",
                                 "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

    return Cdn


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["proxy", "cdn"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--upstream")
    p.add_argument("--faults")
    p.add_argument("--storage")
    p.add_argument("--log")
    args = p.parse_args()
    state = State(args.faults, args.log)
    handler = make_proxy(args, state) if args.mode == "proxy" else make_cdn(args, state)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
