#!/usr/bin/env python3
"""A tiny stand-in for the Sectigo API, for the transport unit tests only (the emulator is
the real test server). Prints its port on stdout, then serves until killed.

Control endpoints:
  GET  /_fake/requests      -> JSON list of {"method", "path", "body", "auth", "ctype"}
  GET  /_fake/connections   -> number of TCP connections accepted
  POST /_fake/faults        -> body {"path": P, "status": S, "count": N, "retry_after": R,
                               "drop": true, "body": TEXT} queues N faulty replies for P
                               (drop: close without a reply; body: this text as the reply)
  POST /_fake/config        -> body {"access_ttl": s, "refresh_ttl": s, "login_status": S,
                               "empty_refresh": bool, "disposition": "..."}
"""
import base64
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
REQUESTS = []
FAULTS = []
CONNECTIONS = [0]
CONFIG = {"access_ttl": 600, "refresh_ttl": 3600, "login_status": 200,
          "empty_refresh": False, "disposition": 'attachment; filename="batch-7.zip"'}
SEQ = [0]


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def jwt(claims):
    return b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims) + ".c2ln"


def tokens():
    now = int(time.time())
    SEQ[0] += 1
    access = jwt({"sub": "/account/42/user/test", "iat": now,
                  "exp": now + CONFIG["access_ttl"], "n": SEQ[0]})
    refresh = jwt({"iat": now, "nbf": now, "exp": now + CONFIG["refresh_ttl"], "n": SEQ[0]})
    return access, refresh


BATCH = {"batchId": 7, "orderNumber": 1007, "creationDate": "2020-12-10T16:35:32.805+0000",
         "profile": "TRISA <Profile>", "size": 1, "status": "CREATED", "active": False,
         "batchName": "a/b", "rejectReason": "", "generatorParametersValues": None,
         "userId": 10, "downloadable": True, "rejectable": True}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        with LOCK:
            CONNECTIONS[0] += 1
        super().setup()

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list, int)) or body is None:
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

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
                             "ctype": self.headers.get("Content-Type", "")})
            fault = None
            for f in FAULTS:
                if f["path"] == path and f["count"] > 0:
                    f["count"] -= 1
                    fault = f
                    break
        if fault is not None:
            if fault.get("drop"):
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if "body" in fault:
                return self.reply(fault.get("status", 200), fault["body"], ctype="text/html")
            hdrs = {}
            if "retry_after" in fault:
                hdrs["Retry-After"] = str(fault["retry_after"])
            return self.reply(fault["status"], {"status": fault["status"],
                                                "message": "injected fault"}, headers=hdrs)
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
            return self.reply(200, BATCH)
        if path == "/api/v1/batches/7/status":
            return self.reply(200, " Ready for download\n", ctype="text/plain")
        if path == "/api/v1/batches/7/download":
            return self.reply(200, b"PK\x03\x04zipdata", ctype="application/octet-stream",
                              headers={"Content-Disposition": CONFIG["disposition"]})
        if path == "/api/v1/batches/upload" or path.endswith("createSingleCertBatch"):
            return self.reply(200, BATCH)
        return self.reply(404, {"status": 404, "message": "no such thing: " + path})

    def control(self, method, path, body):
        with LOCK:
            if path == "/_fake/requests":
                return self.reply(200, REQUESTS)
            if path == "/_fake/connections":
                return self.reply(200, CONNECTIONS[0])
            if path == "/_fake/faults":
                FAULTS.append(json.loads(body))
                return self.reply(200, {})
            if path == "/_fake/config":
                CONFIG.update(json.loads(body))
                return self.reply(200, {})
        return self.reply(404, {})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
