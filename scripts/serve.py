#!/usr/bin/env python3
"""Serve a directory on localhost for Sotto's demo page.

Adds the headers the page relies on: COOP/COEP (cross-origin isolation, so the worker
can be cancelled through a SharedArrayBuffer), a Content-Security-Policy for every
response (the worker's policy comes from its own response, not the page's meta tag),
nosniff, and no-cache for the app files: revalidated on every load (304 when unchanged), so an
edited page is picked up on reload without the 10 MB wasm being downloaded again.
The policy is the one in DIR/index.html's meta tag (one source of truth: it lists the
hashes of the evaluation report's inline code, which the page shows in a frame), plus
frame-ancestors, which a meta tag cannot set.
Model files are large and stable: the page keeps them in the Cache API itself.

    python3 scripts/serve.py [--port 8000] [--bind 127.0.0.1] [--quiet] [--no-isolation] DIR
"""
import argparse
import functools
import http.server
import os
import re
import sys

DEFAULT_CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; "
               "img-src 'self' data: blob:; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'")


def page_csp(directory):
    """The Content-Security-Policy of DIR/index.html's meta tag, else a strict default."""
    try:
        with open(os.path.join(directory, 'index.html'), encoding='utf-8') as f:
            html = f.read()
    except OSError:
        return DEFAULT_CSP + "; frame-ancestors 'none'"
    m = re.search(r'<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"', html)
    return (m.group(1) if m else DEFAULT_CSP) + "; frame-ancestors 'none'"


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      '.wasm': 'application/wasm', '.js': 'text/javascript', '.mjs': 'text/javascript',
                      '.json': 'application/json', '.md': 'text/markdown; charset=utf-8',
                      '.sotto': 'application/octet-stream', '.safetensors': 'application/octet-stream',
                      '.gguf': 'application/octet-stream'}
    quiet = False
    isolate = True
    csp = DEFAULT_CSP

    def end_headers(self):
        if self.isolate:
            self.send_header('Cross-Origin-Opener-Policy', 'same-origin')
            self.send_header('Cross-Origin-Embedder-Policy', 'require-corp')
        self.send_header('Cross-Origin-Resource-Policy', 'same-origin')
        self.send_header('Content-Security-Policy', self.csp)
        self.send_header('X-Content-Type-Options', 'nosniff')
        self.send_header('Referrer-Policy', 'no-referrer')
        if '/models/' not in self.path:
            # Revalidate, don't refetch: the browser keeps the 10 MB wasm and asks with
            # If-Modified-Since on the next visit (a 304 when unchanged), so an edited
            # page is still picked up on reload.
            self.send_header('Cache-Control', 'no-cache')
        super().end_headers()

    def log_message(self, fmt, *args):
        if not self.quiet:
            super().log_message(fmt, *args)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--port', type=int, default=8000)
    ap.add_argument('--bind', default='127.0.0.1')
    ap.add_argument('--quiet', action='store_true')
    ap.add_argument('--no-isolation', action='store_true', help='omit COOP/COEP (tests the fallback without SharedArrayBuffer)')
    a = ap.parse_args()
    Handler.quiet = a.quiet
    Handler.isolate = not a.no_isolation
    Handler.csp = page_csp(a.dir)
    server = http.server.ThreadingHTTPServer((a.bind, a.port), functools.partial(Handler, directory=a.dir))
    print(f'serving {a.dir} at http://{a.bind}:{server.server_address[1]}/', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == '__main__':
    main()
