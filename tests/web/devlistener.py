#!/usr/bin/python3
"""devlistener.py - a DEVELOPMENT stand-in for the controller's HTTPS
listener, to work on the console before (or without) it: plain HTTP on
127.0.0.1, the static files of web/, POST/GET/DELETE /v1/session with a
cookie and a CSRF token, and every other /v1/ request passed to the
controller's unix socket with the session's Bearer token.

It is NOT what the acceptance test runs against: tests/integration/
web_console.sh drives the controller's own HTTPS listener. This only helps
a person try the pages (python3 tests/web/devlistener.py --socket
$T/controller/api.sock --port 8088 web/) and is never installed.

usage: devlistener.py --socket SOCK --port PORT WEBDIR
"""
import argparse
import http.client
import http.server
import json
import mimetypes
import os
import secrets
import socket
import sys
import urllib.parse

sessions = {}  # cookie value -> {"token", "csrf"}


class UnixConn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost', timeout=600)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def controller(method, path, body=None, token=None, headers=None):
    c = UnixConn(ARGS.socket)
    h = dict(headers or {})
    if token:
        h['Authorization'] = 'Bearer ' + token
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    out = (r.status, r.getheader('Content-Type') or 'application/json', data)
    c.close()
    return out


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt, *a):
        sys.stderr.write('devlistener: ' + (fmt % a) + '\n')

    def send(self, status, ctype, data, extra=None):
        self.send_response(status)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        self.send_header('Content-Security-Policy', "default-src 'self'; img-src 'self' blob:; media-src 'self' blob:; frame-ancestors 'none'")
        self.send_header('X-Content-Type-Options', 'nosniff')
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(data)

    def jsend(self, status, obj, extra=None):
        self.send(status, 'application/json', json.dumps(obj).encode(), extra)

    def session(self):
        for part in (self.headers.get('Cookie') or '').split(';'):
            k, _, v = part.strip().partition('=')
            if k == 'session' and v in sessions:
                return v, sessions[v]
        return None, None

    def body(self):
        n = int(self.headers.get('Content-Length') or 0)
        return self.rfile.read(n) if n else b''

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        if not url.path.startswith('/v1/'):
            return self.static(url.path)
        sid, s = self.session()
        data = self.body()
        if url.path == '/v1/session':
            if self.command == 'POST':
                try:
                    j = json.loads(data or b'{}')
                except ValueError:
                    return self.jsend(400, {'error': 'the body is not JSON'})
                st, ct, out = controller('POST', '/v1/login', json.dumps(j).encode(),
                                         headers={'Content-Type': 'application/json'})
                if st != 200:
                    return self.send(st, ct, out)
                r = json.loads(out)
                sid = secrets.token_hex(32)
                sessions[sid] = {'token': r['token'], 'csrf': secrets.token_hex(16)}
                r.pop('token', None)
                r['csrf'] = sessions[sid]['csrf']
                return self.jsend(200, r, {'Set-Cookie': 'session=%s; HttpOnly; SameSite=Strict; Path=/' % sid})
            if not s:
                return self.jsend(401, {'error': 'not logged in'})
            if self.command == 'DELETE':
                controller('POST', '/v1/logout', b'{}', s['token'])
                sessions.pop(sid, None)
                return self.jsend(200, {}, {'Set-Cookie': 'session=; Max-Age=0; Path=/'})
            st, ct, out = controller('GET', '/v1/whoami', None, s['token'])
            if st != 200:
                return self.send(st, ct, out)
            r = json.loads(out)
            r['csrf'] = s['csrf']
            return self.jsend(200, r)
        if not s:
            return self.jsend(401, {'error': 'not logged in'})
        if self.command not in ('GET', 'HEAD') and self.headers.get('X-CSRF-Token') != s['csrf']:
            return self.jsend(403, {'error': 'missing or wrong X-CSRF-Token'})
        if url.path == '/v1/events':
            return self.jsend(404, {'error': 'no events here'})
        h = {}
        for k in ('Content-Type', 'X-Filename'):
            if self.headers.get(k):
                h[k] = self.headers.get(k)
        st, ct, out = controller(self.command, self.path, data if data else None, s['token'], h)
        return self.send(st, ct, out)

    def static(self, path):
        if path == '/':
            path = '/index.html'
        full = os.path.realpath(os.path.join(ARGS.webdir, path.lstrip('/')))
        if not full.startswith(os.path.realpath(ARGS.webdir) + '/') or not os.path.isfile(full):
            return self.send(404, 'text/plain', b'not found')
        ctype = mimetypes.guess_type(full)[0] or 'application/octet-stream'
        if full.endswith('.js'):
            ctype = 'text/javascript'
        with open(full, 'rb') as f:
            return self.send(200, ctype + ('; charset=utf-8' if ctype.startswith('text') or 'json' in ctype else ''), f.read())

    do_GET = do_POST = do_DELETE = do_PUT = do_HEAD = handle_any


p = argparse.ArgumentParser()
p.add_argument('--socket', required=True)
p.add_argument('--port', type=int, required=True)
p.add_argument('webdir')
ARGS = p.parse_args()
http.server.ThreadingHTTPServer(('127.0.0.1', ARGS.port), Handler).serve_forever()
