#!/usr/bin/env python3
"""A Bearer token server for the Distribution registry, for offline tests (oci.md §5).

usage:
  token_server.py gen-cert KEY.pem CERT.pem
      makes an EC P-256 key and a self-signed certificate: the registry's rootcertbundle
  token_server.py gen-tls KEY.pem CERT.pem
      the same for a TLS server on 127.0.0.1 / localhost (subjectAltName set)
  token_server.py serve --port P --key KEY.pem --cert CERT.pem --issuer ISS --users FILE
                        [--log FILE] [--expires-in N] [--public PREFIX]
      GET /token?service=S&scope=...&scope=...[&account=U] answers
      {"token","access_token","expires_in","issued_at"} where the token is an ES256 JWT whose
      x5c header holds CERT. FILE has "user:password" lines. With valid Basic credentials
      every requested action is granted; anonymous requests get "pull" on repositories under
      PREFIX (default "public/") and nothing else; wrong credentials get 401. Every request is
      logged to FILE as one JSON line {"account","scopes","auth","status"}.
"""

import argparse
import base64
import datetime
import http.server
import ipaddress
import json
import os
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def gen_cert(key_path, cert_path, tls=False):
    key = ec.generate_private_key(ec.SECP256R1())
    cn = "localhost" if tls else "litho test token signer"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.utcnow()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if tls:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            ]),
            critical=False,
        )
    cert = builder.sign(key, hashes.SHA256())
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


class Signer:
    def __init__(self, key_path, cert_path, issuer):
        with open(key_path, "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), password=None)
        with open(cert_path, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
        self.issuer = issuer

    def token(self, subject, service, access, lifetime):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": service,
            "exp": now + lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": b64url(os.urandom(12)),
            "access": access,
        }
        signing_input = (
            b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        )
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + b64url(sig)


def parse_scope(scope):
    # type:name:actions (names never contain ':' but keep the rightmost split anyway)
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


def make_handler(args, signer, users, log_lock):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            pass

        def reply(self, status, body, headers=()):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self.reply(404, {"error": "not found"})
                return
            q = urllib.parse.parse_qs(url.query)
            service = (q.get("service") or [""])[0]
            scopes = []
            for s in q.get("scope", []):
                scopes.extend(s.split(" "))
            user = None
            auth = self.headers.get("Authorization")
            status = 200
            if auth:
                try:
                    kind, _, value = auth.partition(" ")
                    u, _, p = base64.b64decode(value).decode().partition(":")
                    if kind.lower() != "basic" or users.get(u) != p:
                        status = 401
                    else:
                        user = u
                except Exception:
                    status = 401
            access = []
            if status == 200:
                for s in scopes:
                    a = parse_scope(s)
                    if a is None:
                        continue
                    if user is None:
                        public = a["name"].startswith(args.public)
                        a["actions"] = [x for x in a["actions"] if x == "pull" and public]
                    access.append(a)
            with log_lock:
                if args.log:
                    with open(args.log, "a") as f:
                        f.write(
                            json.dumps(
                                {
                                    "account": (q.get("account") or [None])[0],
                                    "user": user,
                                    "scopes": scopes,
                                    "auth": bool(auth),
                                    "status": status,
                                }
                            )
                            + "\n"
                        )
            if status != 200:
                self.reply(401, {"details": "wrong credentials"},
                           [("WWW-Authenticate", 'Basic realm="token"')])
                return
            token = signer.token(user or "", service, access, args.expires_in)
            self.reply(
                200,
                {
                    "token": token,
                    "access_token": token,
                    "expires_in": args.expires_in,
                    "issued_at": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            )

    return Handler


def main():
    if len(sys.argv) == 4 and sys.argv[1] in ("gen-cert", "gen-tls"):
        gen_cert(sys.argv[2], sys.argv[3], tls=sys.argv[1] == "gen-tls")
        return
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["serve"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--log")
    p.add_argument("--expires-in", type=int, default=300)
    p.add_argument("--public", default="public/")
    args = p.parse_args()
    users = {}
    with open(args.users) as f:
        for line in f:
            line = line.strip()
            if line:
                u, _, pw = line.partition(":")
                users[u] = pw
    signer = Signer(args.key, args.cert, args.issuer)
    handler = make_handler(args, signer, users, threading.Lock())
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    srv.daemon_threads = True
    srv.serve_forever()


if __name__ == "__main__":
    main()
