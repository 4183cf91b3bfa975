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
A single byte range (`Range: bytes=a-b`, `a-`, `-n`) of a file is answered with 206 and its
Content-Range, an unsatisfiable one with 416 (a sharded index's packed file is read this
way); several ranges, or a syntax it does not know, get the whole file (200), as RFC 9110
allows. --no-range ignores Range headers altogether, like a host without Range support.

    python3 scripts/serve.py [--port 8000] [--bind 127.0.0.1] [--quiet] [--no-isolation] [--no-range] DIR
"""
import argparse
import functools
import http.server
import os
import re
import sys

RANGE = re.compile(r'^bytes=(\d*)-(\d*)$')

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
    ranges = True
    csp = DEFAULT_CSP
    _left = None  # bytes still to send of a 206 body (None: the whole file)

    def send_head(self):
        """A 206 or 416 for a single byte range of a file; anything else as before."""
        self._left = None
        want = self.headers.get('Range') if self.ranges else None
        path = self.translate_path(self.path)
        m = RANGE.match(want.strip()) if want else None
        if m is None or not os.path.isfile(path) or m.group(1) == m.group(2) == '':
            return super().send_head()
        try:
            f = open(path, 'rb')
        except OSError:
            return super().send_head()
        st = os.fstat(f.fileno())
        size = st.st_size
        last_modified = self.date_time_string(st.st_mtime)
        if_range = self.headers.get('If-Range')
        if if_range and if_range.strip() != last_modified:
            f.close()  # the client's copy is not this file: send it whole
            return super().send_head()
        a, b = m.group(1), m.group(2)
        if a and b and int(b) < int(a):
            f.close()
            return super().send_head()  # not a valid range: ignored (RFC 9110 §14.2)
        if a == '':  # the last n bytes
            start, end = max(0, size - int(b)), size - 1
            satisfiable = int(b) > 0 and size > 0
        else:
            start = int(a)
            end = min(int(b), size - 1) if b else size - 1
            satisfiable = start < size
        if not satisfiable:
            f.close()
            self.send_response(416)
            self.send_header('Content-Range', f'bytes */{size}')
            self.send_header('Content-Length', '0')
            self.end_headers()
            return None
        f.seek(start)
        self._left = end - start + 1
        self.send_response(206)
        self.send_header('Content-Type', self.guess_type(path))
        self.send_header('Content-Range', f'bytes {start}-{end}/{size}')
        self.send_header('Content-Length', str(self._left))
        self.send_header('Last-Modified', last_modified)
        self.end_headers()
        return f

    def copyfile(self, source, outputfile):
        try:
            if self._left is None:
                return super().copyfile(source, outputfile)
            while self._left > 0:
                buf = source.read(min(64 << 10, self._left))
                if not buf:
                    break
                outputfile.write(buf)
                self._left -= len(buf)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (e.g. a pack it asked a range of, sent whole): not an error

    def end_headers(self):
        if self.isolate:
            self.send_header('Cross-Origin-Opener-Policy', 'same-origin')
            self.send_header('Cross-Origin-Embedder-Policy', 'require-corp')
        self.send_header('Cross-Origin-Resource-Policy', 'same-origin')
        self.send_header('Content-Security-Policy', self.csp)
        self.send_header('X-Content-Type-Options', 'nosniff')
        self.send_header('Referrer-Policy', 'no-referrer')
        if self.ranges:
            self.send_header('Accept-Ranges', 'bytes')
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
    ap.add_argument('--no-range', action='store_true', help='ignore Range headers: every file whole (200), as a host without Range support')
    a = ap.parse_args()
    Handler.quiet = a.quiet
    Handler.isolate = not a.no_isolation
    Handler.ranges = not a.no_range
    Handler.csp = page_csp(a.dir)
    server = http.server.ThreadingHTTPServer((a.bind, a.port), functools.partial(Handler, directory=a.dir))
    print(f'serving {a.dir} at http://{a.bind}:{server.server_address[1]}/', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == '__main__':
    main()
