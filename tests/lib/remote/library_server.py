#!/usr/bin/env python3
"""A tiny library endpoint for the `remote` and `search` tests (offline, on 127.0.0.1).

usage: library_server.py PORTFILE TOKEN LOG

Binds a free port, writes it to PORTFILE and serves, as Apptainer's endpoints do:
  GET /assets/config/config.prod.json  {"libraryAPI": {"uri": ...}, "tokenAPI": {...}}
  GET /version                         {"data": {"version": "1.0.0"}}
  GET /v1/token-status                 200 for "Authorization: Bearer TOKEN", else 401
  GET /v1/search?value=Q&arch=A...     two images whose container names contain "alpine"
Every request line (path and query, and the Authorization header) goes to LOG.
"""
import http.server
import json
import sys
import urllib.parse


def main():
    portfile, token, log = sys.argv[1], sys.argv[2], sys.argv[3]

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def send_json(self, code, obj):
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            with open(log, "a") as f:
                f.write("%s %s\n" % (self.path, self.headers.get("Authorization", "-")))
            base = "http://127.0.0.1:%d" % self.server.server_address[1]
            if url.path == "/assets/config/config.prod.json":
                self.send_json(200, {"libraryAPI": {"uri": base}, "tokenAPI": {"uri": base}})
            elif url.path == "/version":
                self.send_json(200, {"data": {"version": "1.0.0"}})
            elif url.path == "/v1/token-status":
                if self.headers.get("Authorization") == "Bearer " + token:
                    self.send_json(200, {"data": {"status": "valid"}})
                else:
                    self.send_json(401, {"error": {"code": 401, "message": "Unauthorized"}})
            elif url.path == "/v1/search":
                q = urllib.parse.parse_qs(url.query)
                value = q.get("value", [""])[0]
                images = [
                    {"hash": "sha256.1", "entityName": "lab", "collectionName": "base",
                     "containerName": "alpine", "tags": ["3.19", "latest"],
                     "description": "a small image"},
                    {"hash": "sha256.2", "entityName": "lab", "collectionName": "tools",
                     "containerName": "alpine-dev", "tags": [],
                     "description": "No description", "fingerprints": ["ABCD"]},
                ]
                hits = [i for i in images if value in i["containerName"]]
                self.send_json(200, {"data": {"entity": [], "collection": [], "container": [],
                                              "image": hits}})
            else:
                self.send_json(404, {"error": {"code": 404, "message": "not found"}})

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
