"""A small OpenID Connect provider for the console's sign-in test, shaped like Cognito's
hosted UI: authorization code with PKCE (S256 only), a public client (no secret), ID tokens
signed RS256 with a key made at start and published as a JWKS, the person's groups in
`cognito:groups`, and CORS on the token endpoint (the console exchanges the code from the
browser). Loopback only; it stops when its parent does.

usage: oidc_provider.py PORT CLIENT_ID REDIRECT_URI
"""

import base64
import hashlib
import html
import json
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

PORT, CLIENT_ID, REDIRECT_URI = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ISSUER = f"http://127.0.0.1:{PORT}"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "console-test-key"
CODES = {}  # code -> what the authorization asked for


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n):
    return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def id_token(subject, group):
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": KID}
    claims = {
        "iss": ISSUER, "aud": CLIENT_ID, "sub": subject, "email": subject,
        "cognito:groups": [group], "token_use": "id", "iat": now, "exp": now + 3600,
    }
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


class Provider(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json", headers=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def cors(self):
        origin = self.headers.get("Origin")
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin else {}

    def do_OPTIONS(self):
        headers = self.cors()
        headers.update({"Access-Control-Allow-Methods": "POST",
                        "Access-Control-Allow-Headers": "Content-Type"})
        self.answer(204, b"", headers=headers)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/jwks.json":
            numbers = KEY.public_key().public_numbers()
            jwk = {"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
                   "n": uint(numbers.n), "e": uint(numbers.e)}
            return self.answer(200, json.dumps({"keys": [jwk]}))
        if url.path == "/oauth2/authorize":
            problems = []
            if query.get("response_type") != "code":
                problems.append("response_type must be code")
            if query.get("client_id") != CLIENT_ID:
                problems.append("unknown client_id")
            if query.get("redirect_uri") != REDIRECT_URI:
                problems.append("redirect_uri is not registered")
            if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
                problems.append("PKCE with S256 is required")
            if problems:
                return self.answer(400, "; ".join(problems), "text/plain")
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in query.items())
            page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sign in - test identity provider</title><link rel="icon" href="data:,"></head><body><main>
<h1>Sign in</h1><form method="post" action="/oauth2/authorize">{hidden}
<label for="username">Email</label><input id="username" name="username" value="ops@warp.example">
<label for="group">Group</label><select id="group" name="group">
<option>viewer</option><option>editor</option><option selected>admin</option></select>
<button id="approve" type="submit">Sign in</button></form></main></body></html>"""
            return self.answer(200, page, "text/html; charset=utf-8")
        self.answer(404, '{"error":"not_found"}')

    def read_form(self):
        length = int(self.headers.get("Content-Length", "0"))
        return dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))

    def do_POST(self):
        form = self.read_form()
        if self.path == "/oauth2/authorize":
            code = secrets.token_urlsafe(24)
            CODES[code] = form
            target = form["redirect_uri"] + "?" + urllib.parse.urlencode(
                {"code": code, "state": form.get("state", "")})
            return self.answer(302, b"", headers={"Location": target})
        if self.path == "/oauth2/token":
            asked = CODES.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = b64url(hashlib.sha256(verifier.encode()).digest())
            if (form.get("grant_type") != "authorization_code" or asked is None
                    or form.get("client_id") != CLIENT_ID
                    or form.get("redirect_uri") != asked["redirect_uri"]
                    or challenge != asked["code_challenge"]):
                return self.answer(400, '{"error":"invalid_grant"}', headers=self.cors())
            token = id_token(asked["username"], asked["group"])
            body = {"id_token": token, "access_token": token, "token_type": "Bearer",
                    "expires_in": 3600}
            return self.answer(200, json.dumps(body), headers=self.cors())
        self.answer(404, '{"error":"not_found"}')


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Provider).serve_forever()
