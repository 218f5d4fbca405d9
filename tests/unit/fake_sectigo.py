#!/usr/bin/env python3
"""A small scripted stand-in for the Sectigo API: for the transport unit tests and for the
compatibility tests (the emulator is the real test server). Prints its port on stdout, then
serves until killed.

    fake_sectigo.py [--shape plain|mock|server]

Shapes (what the replies look like):
  plain   the unit tests' server: HS256 tokens with sub/iat/exp (refresh: nbf), batch 7.
  mock    as the reference client's httptest mock (pkg/sectigo/mock) answers: HS256 tokens
          with only iat and exp (no nbf, no sub), deviceId "42", batch 42, params checked
          against the profile of authority 1 ("CipherTrace EE" unless configured),
          Content-Disposition: attachment; filename=certificate.zip.
  server  as the reference staging server (pkg/sectigo/server) answers: HS512 tokens with
          iss, sub, exp, nbf, iat, jti and scopes (refresh nbf one hour before its exp), the
          login 403 for a wrong password, UUID deviceIds, authorities 489 and 423, 501 for
          upload and profiles, errors as {"error": ..., "success": false}.
Runtime values (dates, UUIDs, token times) are fixed, so that outputs can be pinned:
tokens are issued at 2024-01-01T00:00:00Z and expire at 2100-01-01T00:00:00Z unless the
config says otherwise (access_ttl / refresh_ttl: seconds from now).

Control endpoints:
  GET  /_fake/requests      -> JSON list of {"method", "path", "body", "auth", "accept",
                               "ua", "ctype"}
  GET  /_fake/requests.txt  -> the same as text, normalised for comparison: JWTs as <jwt>,
                               the multipart boundary as BOUNDARY, \\r as the two characters
                               \\r, an absent header as (none); each body ends with a line
                               "-- N bytes" (counted with the boundary as BOUNDARY)
  POST /_fake/clear         -> forget the requests
  GET  /_fake/connections   -> number of TCP connections accepted
  POST /_fake/faults        -> body {"path": P, "status": S, "count": N, "retry_after": R,
                               "drop": true, "body": TEXT, "hold": true} queues N faulty
                               replies for P (drop: close without a reply; body: this text
                               as the reply; hold: answer normally once released)
  POST /_fake/release       -> let held requests go on
  POST /_fake/config        -> body {"access_ttl": s, "refresh_ttl": s, "login_status": S,
                               "empty_refresh": bool, "disposition": "...",
                               "mock_profile": "...", "device_id": <any JSON value>}
"""
import base64
import hashlib
import hmac
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RELEASE = threading.Event()
REQUESTS = []
FAULTS = []
CONNECTIONS = [0]
SHAPE = ["plain"]
CONFIG = {"access_ttl": None, "refresh_ttl": None, "login_status": 200,
          "empty_refresh": False, "disposition": None, "mock_profile": "CipherTrace EE"}
SEQ = [0]
GIN_JSON = "application/json; charset=utf-8"

ISSUED = 1704067200      # 2024-01-01T00:00:00Z
EXPIRES = 4102444800     # 2100-01-01T00:00:00Z
DATE_MOCK = "2024-01-01T00:00:00Z"                    # time.RFC3339, as the mock writes it
DATE_SERVER = "2024-01-01T00:00:00.123456789Z"        # time.RFC3339Nano, as the server does
UUIDS = ["a185a9b9-2f6c-4d1e-9b7a-5c3e8f0d1a22", "0c9d7e21-8b4f-4a6e-a1d2-3f4e5d6c7b8a"]


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(obj):
    """Go's json.Marshal output (as gin's c.JSON writes it): compact, HTML escaped."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def jwt(alg, claims, key):
    head = b64(compact({"alg": alg, "typ": "JWT"}).encode())
    body = b64(compact(claims).encode())
    digest = hashlib.sha512 if alg == "HS512" else hashlib.sha256
    sig = hmac.new(key, (head + "." + body).encode(), digest).digest()
    return head + "." + body + "." + b64(sig)


def times():
    now = int(time.time())
    iat = ISSUED if CONFIG["access_ttl"] is None else now
    exp = EXPIRES if CONFIG["access_ttl"] is None else now + CONFIG["access_ttl"]
    rexp = EXPIRES if CONFIG["refresh_ttl"] is None else now + CONFIG["refresh_ttl"]
    return iat, exp, rexp


def tokens():
    iat, exp, rexp = times()
    SEQ[0] += 1
    if SHAPE[0] == "mock":
        # jwt.RegisteredClaims: exp before iat in its struct order; no nbf, no sub.
        return (jwt("HS256", {"exp": exp, "iat": iat}, b"foo"),
                jwt("HS256", {"exp": rexp, "iat": iat}, b"foo"))
    if SHAPE[0] == "server":
        jti = UUIDS[(SEQ[0] - 1) % len(UUIDS)]
        base = {"iss": "https://cathy.test-net.io", "sub": "/account/42/user/staging"}
        access = dict(base, exp=exp, nbf=iat, iat=iat, jti=jti, scopes=["ROLE_USER"])
        access["first-login"] = True
        refresh = dict(base, exp=rexp, nbf=rexp - 3600, iat=iat, jti=jti, scopes=["ROLE_USER"])
        refresh["first-login"] = True
        return jwt("HS512", access, b"k" * 32), jwt("HS512", refresh, b"k" * 32)
    access = jwt("HS256", {"sub": "/account/42/user/test", "iat": iat, "exp": exp,
                           "n": SEQ[0]}, b"sig")
    refresh = jwt("HS256", {"iat": iat, "nbf": iat, "exp": rexp, "n": SEQ[0]}, b"sig")
    return access, refresh


def batch(**over):
    b = {"batchId": 0, "orderNumber": 0, "creationDate": "", "profile": "", "size": 0,
         "status": "", "active": False, "batchName": "", "rejectReason": "",
         "generatorParametersValues": None, "userId": 0, "downloadable": False,
         "rejectable": False}
    b.update(over)
    return b


def authority(**over):
    a = {"id": 0, "ecosystemId": 0, "signerCertificateId": 0, "ecosystemName": "",
         "balance": 0, "enabled": False, "profileId": 0, "profileName": ""}
    a.update(over)
    return a


PLAIN_BATCH = {"batchId": 7, "orderNumber": 1007, "creationDate": "2020-12-10T16:35:32.805+0000",
               "profile": "TRISA <Profile>", "size": 1, "status": "CREATED", "active": False,
               "batchName": "a/b", "rejectReason": "", "generatorParametersValues": None,
               "userId": 10, "downloadable": True, "rejectable": True}

# The mock's profiles: id, name, balance, parameters.
NAME_PARAMS = ["commonName", "dNSName", "pkcs12Password"]
SUBJECT_PARAMS = ["organizationName", "localityName", "stateOrProvinceName", "countryName"]
MOCK_PROFILES = {"17": ("CipherTrace EE", 50, NAME_PARAMS),
                 "85": ("CipherTrace End Entity Certificate", 100, NAME_PARAMS + SUBJECT_PARAMS)}

SERVER_AUTHORITIES = [
    authority(id=489, ecosystemId=21, ecosystemName="Staging", balance=0, enabled=True,
              profileId=489, profileName="CipherTrace End Entity Certificate_#85"),
    authority(id=423, ecosystemId=21, ecosystemName="Staging", balance=100, enabled=True,
              profileId=423, profileName="CipherTrace EE_#17"),
]


def mock_profile():
    for pid, (name, bal, params) in MOCK_PROFILES.items():
        if name == CONFIG["mock_profile"]:
            return pid, name, bal, params
    return None


def render(reqs):
    """The request log as text for exact comparison."""
    out = []
    for r in reqs:
        body = r["body"]
        m = re.search(r"boundary=([^;\s]+)", r["ctype"])
        ctype = r["ctype"]
        if m:
            body = body.replace(m.group(1), "BOUNDARY")
            ctype = ctype.replace(m.group(1), "BOUNDARY")
        jwt_re = r"[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+"
        auth = re.sub(jwt_re, "<jwt>", r["auth"])
        body_shown = re.sub(jwt_re, "<jwt>", body).replace("\r", "\\r")
        out.append("%s %s\n" % (r["method"], r["path"]))
        out.append("Content-Type: %s\n" % (ctype or "(none)"))
        out.append("Accept: %s\n" % (r["accept"] or "(none)"))
        out.append("Authorization: %s\n" % (auth or "(none)"))
        out.append("\n")
        out.append(body_shown)
        if body_shown and not body_shown.endswith("\n"):
            out.append("\n")
        # Counted with the boundary as BOUNDARY, so the count does not depend on its length.
        out.append("-- %d bytes\n" % len(body.encode("latin-1")))
    return "".join(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        with LOCK:
            CONNECTIONS[0] += 1
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK hold the body back about 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", ctype=None, headers=None):
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body) if SHAPE[0] == "plain" else compact(body)
            ctype = ctype or ("application/json" if SHAPE[0] == "plain"
                              else "application/json; charset=utf-8")
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def err(self, status, msg):
        if SHAPE[0] == "server":
            return self.reply(status, {"error": msg, "success": False})
        if SHAPE[0] == "mock":
            return self.reply(status, compact(msg), ctype=GIN_JSON)
        return self.reply(status, {"status": status, "message": msg})

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path
        if path.startswith("/_fake/"):
            return self.control(method, path, body)
        with LOCK:
            REQUESTS.append({"method": method, "path": path,
                             "body": body.decode("latin-1"),
                             "auth": self.headers.get("Authorization", ""),
                             "accept": self.headers.get("Accept", ""),
                             "ua": self.headers.get("User-Agent", ""),
                             "ctype": self.headers.get("Content-Type", "")})
            fault = None
            for f in FAULTS:
                if f["path"] == path and f["count"] > 0:
                    f["count"] -= 1
                    fault = f
                    break
        if fault is not None:
            if fault.get("hold"):
                RELEASE.wait(60)
            elif fault.get("drop"):
                self.close_connection = True
                self.connection.shutdown(2)
                return
            elif "body" in fault:
                return self.reply(fault.get("status", 200), fault["body"], ctype="text/html")
            else:
                hdrs = {}
                if "retry_after" in fault:
                    hdrs["Retry-After"] = str(fault["retry_after"])
                return self.reply(fault["status"], {"status": fault["status"],
                                                    "message": "injected fault"}, headers=hdrs)
        if SHAPE[0] == "mock":
            return self.mock(method, path, body)
        if SHAPE[0] == "server":
            return self.staging(method, path, body)
        return self.plain(method, path, body)

    # ---- the unit tests' shape ----
    def plain(self, method, path, body):
        if path == "/auth/pwd":
            if CONFIG["login_status"] == 307:
                return self.reply(307, b"", headers={"Location": "https://cert.example/auth"})
            d = json.loads(body or b"{}")
            if d.get("password") != "secret":
                return self.reply(401, {"status": 401, "message": "bad credentials"})
            a, r = tokens()
            return self.reply(200, {"accessToken": a, "refreshToken": r})
        if path == "/auth/refresh":
            a, r = tokens()
            if CONFIG["empty_refresh"]:
                r = ""
            return self.reply(200, {"accessToken": a, "refreshToken": r})
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            return self.reply(401, "no token", ctype="text/plain")
        if path == "/api/v1/devices":
            return self.reply(200, {"ordered": 2, "issued": 1})
        if path == "/api/v1/batches/7":
            return self.reply(200, PLAIN_BATCH)
        if path == "/api/v1/batches/7/status":
            return self.reply(200, " Ready for download\n", ctype="text/plain")
        if path == "/api/v1/batches/7/download":
            disp = CONFIG["disposition"] or 'attachment; filename="batch-7.zip"'
            return self.reply(200, b"PK\x03\x04zipdata", ctype="application/octet-stream",
                              headers={"Content-Disposition": disp})
        if path == "/api/v1/certificates/find":
            item = {"deviceId": CONFIG.get("device_id", "0042"), "commonName": "e.com",
                    "serialNumber": "0A", "creationDate": "d", "status": "ISSUED"}
            return self.reply(200, {"totalCount": 1, "items": [item]})
        if path == "/api/v1/batches/upload" or path.endswith("createSingleCertBatch"):
            return self.reply(200, PLAIN_BATCH)
        return self.reply(404, {"status": 404, "message": "no such thing: " + path})

    # ---- the reference mock's shape ----
    def mock(self, method, path, body):
        prof = mock_profile()
        if path == "/auth/pwd" and method == "POST":
            try:
                json.loads(body)
            except ValueError:
                return self.reply(400, {})
            a, r = tokens()
            return self.reply(200, {"accessToken": a, "refreshToken": r})
        if path == "/auth/refresh" and method == "POST":
            a, r = tokens()
            return self.reply(200, {"accessToken": a, "refreshToken": r})
        if path == "/api/v1/batches/createSingleCertBatch" and method == "PUT":
            d = json.loads(body)
            if d.get("authorityId") != 1 or prof is None:
                return self.reply(404, compact("unrecognized authority id"), ctype=GIN_JSON)
            params = d.get("profileParams") or {}
            for k, v in params.items():
                if v == "" or k not in prof[3]:
                    return self.reply(400, {})  # a Go error marshals as {}
            for k in prof[3]:
                if k not in params:
                    return self.reply(400, {})
            return self.reply(200, batch(batchId=42, creationDate=DATE_MOCK,
                                         status="READY_FOR_DOWNLOAD", batchName=d["batchName"],
                                         orderNumber=23, profile=prof[1]))
        if path == "/api/v1/batches/upload" and method == "POST":
            if b'name="profileId"' not in body or b'name="files"' not in body:
                return self.reply(400, {})
            return self.reply(200, batch(batchId=42, creationDate=DATE_MOCK, status="completed"))
        m = re.fullmatch(r"/api/v1/batches/(\d+)(/status|/processing_info|/download)?", path)
        if m and method == "GET":
            if m.group(2) is None:
                return self.reply(200, batch(batchId=42, creationDate=DATE_MOCK,
                                             status="READY_FOR_DOWNLOAD"))
            if m.group(2) == "/status":
                return self.reply(200, "Ready for download", ctype="text/plain; charset=utf-8")
            if m.group(2) == "/processing_info":
                return self.reply(200, {"active": 0, "success": 1, "failed": 0})
            disp = CONFIG["disposition"] or "attachment; filename=certificate.zip"
            return self.reply(200, b"PK\x05\x06" + b"\0" * 18, ctype="application/zip",
                              headers={"Content-Disposition": disp})
        if path == "/api/v1/devices":
            return self.reply(200, {"ordered": 1, "issued": 1})
        if path == "/api/v1/authorities/allowed":
            return self.reply(200, [authority(id=1, balance=prof[2], enabled=True,
                                              profileName=prof[1])] if prof else [])
        if path == "/api/v1/authorities/1/balanceavailable" and prof:
            return self.reply(200, prof[2])
        if path == "/api/v1/profiles":
            return self.reply(200, [{"profileId": int(prof[0]), "algorithms": None,
                                     "ca": "sectigo"}] if prof else [])
        m = re.fullmatch(r"/api/v1/profiles/([^/]+)(/parameters)?", path)
        if m:
            if m.group(1) not in MOCK_PROFILES:
                return self.reply(404, compact("unrecognized profile id"), ctype=GIN_JSON)
            name, _, params = MOCK_PROFILES[m.group(1)]
            if m.group(2):
                return self.reply(200, [{"name": p, "inputType": "", "required": True,
                                         "placeholder": None, "validationPattern": "",
                                         "message": "", "value": None, "title": "",
                                         "scopes": None, "dynamic": False} for p in params])
            return self.reply(200, {"profileName": name, "profileId": int(m.group(1)),
                                    "rawProfileConfig": "", "name": "", "keyAlgorithmInfo": ""})
        if path == "/api/v1/organizations/user":
            return self.reply(200, {"organizationId": 42, "organizationName": "foo.io",
                                    "address": "", "primaryContactName": "",
                                    "primaryContactEmail": "", "primaryContactPhone": "",
                                    "manufactureId": "", "logo": "", "authorities": None,
                                    "ecosystemId": 0, "organizationParameters": None,
                                    "orgStatus": ""})
        if path == "/api/v1/certificates/find" and method == "POST":
            d = json.loads(body)
            item = {"deviceId": "42", "commonName": d.get("commonName", ""),
                    "serialNumber": d.get("serialNumber", ""), "creationDate": DATE_MOCK,
                    "status": "valid"}
            return self.reply(200, {"totalCount": 1, "items": [item]})
        m = re.fullmatch(r"/api/v1/certificates/(\d+)/revoke", path)
        if m and method == "POST":
            json.loads(body)
            return self.reply(200, "null", ctype=GIN_JSON)
        return self.reply(404, "404 page not found", ctype="text/plain")

    # ---- the reference staging server's shape ----
    def staging(self, method, path, body):
        if path == "/auth/pwd" and method == "POST":
            d = json.loads(body or b"{}")
            if d.get("username") != "staging" or d.get("password") != "staging-password":
                return self.err(403, "could not authenticate user with password")
            a, r = tokens()
            return self.reply(200, {"accessToken": a, "refreshToken": r})
        if path == "/auth/refresh" and method == "POST":
            a, r = tokens()
            return self.reply(200, {"accessToken": a, "refreshToken": r})
        if path == "/status":
            return self.reply(200, {"status": "ok", "version": "1.7.0", "uptime": "1m0s"})
        parts = self.headers.get("Authorization", "").split(" ")
        if len(parts) != 2 or parts[0] != "Bearer":
            return self.err(403, "authentication required")
        ready = batch(batchId=10000, orderNumber=0, creationDate=DATE_SERVER,
                      profile="CipherTrace EE", size=1, status="READY_FOR_DOWNLOAD",
                      batchName="new certs for example.com", userId=295, downloadable=True)
        if path == "/api/v1/batches/createSingleCertBatch" and method == "PUT":
            d = json.loads(body)
            prof = {423: "CipherTrace EE", 489: "CipherTrace End Entity Certificate"}.get(
                d.get("authorityId"))
            if prof is None:
                return self.err(400, "unknown profile")
            params = d.get("profileParams") or {}
            if "commonName" not in params:
                return self.err(400, "common name required")
            if "pkcs12Password" not in params:
                return self.err(400, "pkcs12 password required")
            return self.reply(201, batch(batchId=10000, creationDate=DATE_SERVER, profile=prof,
                                         size=1, status="PROCESSING", active=True,
                                         batchName=d.get("batchName", ""), userId=295,
                                         rejectable=True))
        if path == "/api/v1/batches/upload":
            return self.err(501, "this endpoint has not been implemented yet")
        m = re.fullmatch(r"/api/v1/batches/([^/]+)(/status|/processing_info|/download)?", path)
        if m and method == "GET":
            if m.group(1) != "10000":
                return self.err(404, "batch not found")
            if m.group(2) is None:
                return self.reply(200, ready)
            if m.group(2) == "/status":
                return self.reply(200, "READY_FOR_DOWNLOAD", ctype="text/plain; charset=utf-8")
            if m.group(2) == "/processing_info":
                return self.reply(200, {"active": 0, "success": 1, "failed": 0})
            disp = CONFIG["disposition"] or 'attachment; filename="10000.zip"'
            return self.reply(200, b"PK\x05\x06" + b"\0" * 18, ctype="application/octet-stream",
                              headers={"Content-Disposition": disp})
        if path == "/api/v1/devices":
            return self.reply(200, {"ordered": 1000, "issued": 1})
        if path == "/api/v1/authorities/allowed":
            return self.reply(200, SERVER_AUTHORITIES)
        if re.fullmatch(r"/api/v1/authorities/\d+/balanceavailable", path):
            return self.reply(200, 100)
        if path.startswith("/api/v1/profiles"):
            return self.err(501, "not implemented yet")
        if path == "/api/v1/organizations/user":
            return self.reply(200, {"organizationId": 1042, "organizationName": "Staging",
                                    "address": "123 Main Street",
                                    "primaryContactName": "Jane Wilkerson",
                                    "primaryContactEmail": "jw@example.com",
                                    "primaryContactPhone": "555-555-5555",
                                    "manufactureId": "", "logo": "",
                                    "authorities": SERVER_AUTHORITIES, "ecosystemId": 21,
                                    "organizationParameters": {"Organization": "Staging"},
                                    "orgStatus": "ACTIVE"})
        if path == "/api/v1/certificates/find" and method == "POST":
            d = json.loads(body)
            if not d.get("commonName") and not d.get("serialNumber"):
                return self.err(400, "specify common name or serial number")
            items = [{"deviceId": UUIDS[0], "commonName": "example.com",
                      "serialNumber": "6F3A9D1C2B7E4F80A1B2C3D4E5F60718",
                      "creationDate": DATE_SERVER, "status": "ISSUED"}]
            if d.get("commonName") not in (None, "", "example.com") or \
                    d.get("serialNumber") not in (None, "", items[0]["serialNumber"]):
                items = []
            return self.reply(200, {"totalCount": len(items), "items": items})
        m = re.fullmatch(r"/api/v1/certificates/(\d+)/revoke", path)
        if m and method == "POST":
            d = json.loads(body)
            if not d.get("serialNumber"):
                return self.err(400, "no serial number specified")
            return self.reply(200, {"success": True})
        return self.err(404, "resource not found")

    def control(self, method, path, body):
        with LOCK:
            if path == "/_fake/requests":
                return self.reply(200, json.dumps(REQUESTS), ctype="application/json")
            if path == "/_fake/requests.txt":
                return self.reply(200, render(REQUESTS), ctype="text/plain")
            if path == "/_fake/clear":
                REQUESTS.clear()
                return self.reply(200, "{}", ctype="application/json")
            if path == "/_fake/connections":
                return self.reply(200, str(CONNECTIONS[0]), ctype="application/json")
            if path == "/_fake/faults":
                FAULTS.append(json.loads(body))
                RELEASE.clear()
                return self.reply(200, "{}", ctype="application/json")
            if path == "/_fake/release":
                RELEASE.set()
                return self.reply(200, "{}", ctype="application/json")
            if path == "/_fake/config":
                CONFIG.update(json.loads(body))
                return self.reply(200, "{}", ctype="application/json")
        return self.reply(404, "{}", ctype="application/json")

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--shape" and args[1] in ("plain", "mock", "server"):
        SHAPE[0] = args[1]
    elif args:
        sys.exit("usage: fake_sectigo.py [--shape plain|mock|server]")
    if SHAPE[0] == "plain":
        CONFIG["access_ttl"], CONFIG["refresh_ttl"] = 600, 3600
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
