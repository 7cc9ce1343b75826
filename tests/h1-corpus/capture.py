#!/usr/bin/env python3
"""Capture the real-client and real-server cases of the h2mux HTTP/1.1 corpus.

Not run by CI. It prints corpus blocks (the format of README.md) on stdout; the blocks in
requests.txt and responses.txt whose name starts with `real_` or `head_real_` were made by
this script and pasted in as printed. Everything runs on 127.0.0.1 only.

    python3 tests/h1-corpus/capture.py requests  > /tmp/real-requests.txt
    python3 tests/h1-corpus/capture.py responses > /tmp/real-responses.txt

requests: a one-shot raw TCP listener records every byte of the first request (head, then the
body by its Content-Length or chunked framing; up to 5 s of silence ends the record) and answers
`HTTP/1.1 204 No Content\\r\\n\\r\\n`; each client below is pointed at it in turn. A client that is
not installed is skipped with a note on stderr.

responses: `python3 -m http.server` and, when installed, nginx (own config in a temporary
directory, a high port, stopped afterwards) serve a small directory; a raw socket sends each
request with `Connection: close` and records every byte until the server closes.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check_format import decode  # noqa: E402  (the same decoder as the checker)


# ---------------------------------------------------------------------------------------------
# Encoding raw bytes into the corpus text form


def _esc_byte(b):
    if b == 0x5C:
        return "\\\\"
    if b == 0x0D:
        return "\\r"
    if b == 0x0A:
        return "\\n"
    if b == 0x09:
        return "\\t"
    if b == 0x00:
        return "\\0"
    if 0x20 <= b <= 0x7E:
        return chr(b)
    return "\\x%02x" % b


def _tokens(data):
    """Escape tokens; a run of 64 or more equal bytes becomes one repetition escape."""
    i, n = 0, len(data)
    while i < n:
        j = i
        while j < n and data[j] == data[i]:
            j += 1
        run = j - i
        if run >= 64:
            t = _esc_byte(data[i])
            if t == "}":
                t = "\\x7d"
            yield "\\{%d*%s}" % (run, t), False
            i = j
            continue
        yield _esc_byte(data[i]), data[i] == 0x0A
        i += 1


KEY_PREFIXES = ("expect:", "why:", "body:", "requests:", "responses:")


def _fix_line(line):
    """Keep a physical line from being misread: no leading '#'/'=', no key-like start, no
    leading or trailing blank (escaped as \\x20 / \\t)."""
    if not line:
        return line
    if line[0] in "#=" or line.lower().startswith(KEY_PREFIXES):
        line = "\\x%02x" % ord(line[0]) + line[1:]
    if line[0] == " ":
        line = "\\x20" + line[1:]
    if line.endswith(" "):
        line = line[:-1] + "\\x20"
    return line


def encode(data, width=96):
    lines, cur = [], ""
    for tok, is_lf in _tokens(data):
        if len(cur) + len(tok) > width and cur:
            lines.append(cur)
            cur = ""
        cur += tok
        if is_lf:
            lines.append(cur)
            cur = ""
    if cur:
        lines.append(cur)
    text = "\n".join(_fix_line(line) for line in lines)
    assert decode(text) == data, "encoder round trip failed"
    return text


def block(name, expect, why, data, count_key=None, count=None, body=None):
    out = ["== " + name, "expect: " + expect]
    if count_key:
        out.append("%s: %d" % (count_key, count))
    out.append("why: " + why)
    if body is not None:
        b = encode(body, width=10**9).replace("\n", "")
        out.append("body: " + b)
    out.append(encode(data))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Request capture


def _request_complete(buf):
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    head, body = buf[:end], buf[end + 4:]
    te, cl = b"", None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            te += value.strip().lower()
        elif name == b"content-length":
            cl = int(value.strip())
    if b"chunked" in te:
        pos = 0
        while True:
            eol = body.find(b"\r\n", pos)
            if eol < 0:
                return False
            size = int(body[pos:eol].split(b";")[0], 16)
            if size == 0:
                return body.find(b"\r\n\r\n", eol) >= 0 or body.endswith(b"0\r\n\r\n")
            pos = eol + 2 + size + 2
            if pos > len(body):
                return False
    if cl is not None:
        return len(body) >= cl
    return True


def record_request(run_client):
    """Run run_client(port) against a one-shot listener; return the bytes of the request."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(30)
    port = srv.getsockname()[1]
    got = {}

    def serve():
        conn, _ = srv.accept()
        conn.settimeout(5)
        buf = b""
        try:
            while not _request_complete(buf):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except socket.timeout:
            pass
        got["data"] = buf
        try:
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
            conn.shutdown(socket.SHUT_WR)
            time.sleep(0.2)
        except OSError:
            pass
        conn.close()
        srv.close()

    t = threading.Thread(target=serve)
    t.start()
    try:
        run_client(port)
    finally:
        t.join(40)
    return got.get("data", b"")


def sh(*argv, stdin=None):
    subprocess.run(argv, check=False, timeout=30, input=stdin,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        line = (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return None
    line = line.split(" (")[0].split(" built on")[0]
    line = line.replace("nginx version: ", "")
    return ("Node " + line) if argv[0] == "node" else line


PY_GET = """
import http.client, sys
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))
c.request('GET', '/python/get?q=1')
c.getresponse().read()
"""
PY_POST = """
import http.client, sys
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))
c.request('POST', '/python/post', body=b'{"h2mux": "corpus"}',
          headers={'Content-Type': 'application/json'})
c.getresponse().read()
"""
PY_CHUNKED = """
import http.client, sys
c = http.client.HTTPConnection('127.0.0.1', int(sys.argv[1]))
c.request('POST', '/python/chunked', body=iter([b'hello ', b'chunked ', b'world']),
          headers={'Transfer-Encoding': 'chunked'}, encode_chunked=True)
c.getresponse().read()
"""
PY_URLLIB = """
import urllib.request, sys
urllib.request.urlopen('http://127.0.0.1:%s/python/urllib' % sys.argv[1]).read()
"""
NODE_GET = """
const http = require('http');
http.get({host: '127.0.0.1', port: +process.argv[1], path: '/node/get'}, r => r.resume());
"""
NODE_CHUNKED = """
const http = require('http');
const req = http.request({host: '127.0.0.1', port: +process.argv[1], method: 'POST',
                          path: '/node/stream', headers: {'Content-Type': 'text/plain'}},
                         r => r.resume());
req.write('hello ');
setTimeout(() => { req.write('from node'); req.end(); }, 50);
"""
NODE_FETCH_GET = """
fetch('http://127.0.0.1:' + process.argv[1] + '/node/fetch').then(r => r.arrayBuffer());
"""
NODE_FETCH_POST = """
fetch('http://127.0.0.1:' + process.argv[1] + '/node/fetch-post', {method: 'POST',
      headers: {'content-type': 'application/json'}, body: '{"h2mux":1}'})
  .then(r => r.arrayBuffer());
"""


def request_clients(tmp):
    small = os.path.join(tmp, "small.txt")
    with open(small, "wb") as f:
        f.write(b"hello chunked world\n")
    big = os.path.join(tmp, "big.bin")
    with open(big, "wb") as f:
        f.write(b"a" * 200000)
    py = sys.executable
    url = "http://127.0.0.1:%d"
    C = []  # (name, tool-version argv, why, runner, count_key, count, body)

    def add(name, tool, why, runner, body=None):
        C.append((name, tool, why, runner, body))

    curl = ["curl", "-s", "-o", "/dev/null"]
    add("real_curl_get", ["curl", "--version"], "curl GET, origin-form, Host with port",
        lambda p: sh(*curl, url % p + "/curl/get"))
    add("real_curl_head", ["curl", "--version"], "curl -I, HEAD without body",
        lambda p: sh(*curl, "-I", url % p + "/curl/head"))
    add("real_curl_post_form", ["curl", "--version"],
        "curl -d, urlencoded POST framed by Content-Length (RFC 9112 §6.2)",
        lambda p: sh(*curl, "-d", "name=h2mux&kind=corpus", url % p + "/curl/post"),
        b"name=h2mux&kind=corpus")
    add("real_curl_post_chunked", ["curl", "--version"],
        "curl -H 'Transfer-Encoding: chunked' --data-binary @file (RFC 9112 §7.1)",
        lambda p: sh(*curl, "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + small,
                     url % p + "/curl/chunked"),
        b"hello chunked world\n")
    add("real_curl_expect_100_large", ["curl", "--version"],
        "curl -H 'Expect: 100-continue' with a 200000-byte body sent after the 1 s wait "
        "(RFC 9110 §10.1.1, framed by Content-Length)",
        lambda p: sh(*curl, "-H", "Expect: 100-continue", "--data-binary", "@" + big,
                     url % p + "/curl/expect"),
        b"a" * 200000)
    add("real_curl_put_upload", ["curl", "--version"], "curl -T file, PUT with Content-Length",
        lambda p: sh(*curl, "-T", small, url % p + "/curl/put/small.txt"),
        b"hello chunked world\n")
    add("real_curl_post_multipart", ["curl", "--version"],
        "curl -F, multipart/form-data POST framed by Content-Length",
        lambda p: sh(*curl, "-F", "field=value", "-F", "file=@" + small, url % p + "/curl/form"))
    add("real_curl_http10", ["curl", "--version"], "curl --http1.0, HTTP/1.0 GET with Host",
        lambda p: sh(*curl, "--http1.0", url % p + "/curl/http10"))
    add("real_python_http_client_get", [py, "--version"], "Python http.client GET",
        lambda p: sh(py, "-c", PY_GET, str(p)))
    add("real_python_http_client_post", [py, "--version"],
        "Python http.client POST with a bytes body (Content-Length)",
        lambda p: sh(py, "-c", PY_POST, str(p)), b'{"h2mux": "corpus"}')
    add("real_python_http_client_chunked", [py, "--version"],
        "Python http.client encode_chunked=True over an iterator (RFC 9112 §7.1)",
        lambda p: sh(py, "-c", PY_CHUNKED, str(p)), b"hello chunked world")
    add("real_python_urllib_get", [py, "--version"],
        "Python urllib.request GET (Connection: close)",
        lambda p: sh(py, "-c", PY_URLLIB, str(p)))
    add("real_node_http_get", ["node", "--version"], "Node http.get",
        lambda p: sh("node", "-e", NODE_GET, str(p)))
    add("real_node_http_post_chunked", ["node", "--version"],
        "Node http.request POST with req.write and no Content-Length: chunked (RFC 9112 §7.1)",
        lambda p: sh("node", "-e", NODE_CHUNKED, str(p)), b"hello from node")
    add("real_node_fetch_get", ["node", "--version"], "Node global fetch GET",
        lambda p: sh("node", "-e", NODE_FETCH_GET, str(p)))
    add("real_node_fetch_post", ["node", "--version"],
        "Node global fetch POST with a string body (Content-Length)",
        lambda p: sh("node", "-e", NODE_FETCH_POST, str(p)), b'{"h2mux":1}')
    add("real_h2load_h1_get", ["h2load", "--version"], "h2load --h1 -n 1 -c 1 GET",
        lambda p: sh("h2load", "--h1", "-n", "1", "-c", "1", url % p + "/h2load"))
    add("real_wget_get", ["wget", "--version"], "GNU Wget GET",
        lambda p: sh("wget", "-q", "-t", "1", "-O", "/dev/null", url % p + "/wget/file.txt"))
    return C


def capture_requests():
    tmp = tempfile.mkdtemp(prefix="h1corpus-")
    out = []
    try:
        for name, tool, why, runner, body in request_clients(tmp):
            if shutil.which(tool[0]) is None:
                print("skipped %s: %s not installed" % (name, tool[0]), file=sys.stderr)
                continue
            data = record_request(runner)
            if not data:
                print("skipped %s: nothing recorded" % name, file=sys.stderr)
                continue
            ver = version(tool)
            if "RFC" not in why:
                why += " (RFC 9112 §3, §5)"
            out.append(block(name, "pass", "%s; captured from %s" % (why, ver),
                             data, "requests", 1, body))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------------------------
# Response capture


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fetch_raw(port, req):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(req)
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return buf


def header_value(resp, name):
    for line in resp.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name:
            return v.strip()
    return None


def response_set(tag, label, port, ver):
    host = b"Host: 127.0.0.1:%d\r\n" % port
    req = lambda line, extra=b"": line + b"\r\n" + host + extra + b"Connection: close\r\n\r\n"
    out = []
    get = fetch_raw(port, req(b"GET / HTTP/1.1"))
    out.append(block("real_%s_get_index" % tag, "pass",
                     "%s answering GET / (Content-Length body, RFC 9112 §6.3); captured from %s"
                     % (label, ver), get, "responses", 1, get.split(b"\r\n\r\n", 1)[1]))
    head = fetch_raw(port, req(b"HEAD / HTTP/1.1"))
    out.append(block("head_real_%s_head_index" % tag, "pass",
                     "%s answering HEAD /: Content-Length but no body, the request was HEAD "
                     "(RFC 9112 §6.3 rule 1); captured from %s" % (label, ver), head,
                     "responses", 1))
    nf = fetch_raw(port, req(b"GET /no-such-file HTTP/1.1"))
    out.append(block("real_%s_404" % tag, "pass",
                     "%s answering a 404 with an error page (RFC 9112 §6.3); captured from %s"
                     % (label, ver), nf, "responses", 1))
    lm = header_value(get, b"last-modified")
    etag = header_value(get, b"etag")
    cond = b""
    if etag:
        cond += b"If-None-Match: " + etag + b"\r\n"
    if lm:
        cond += b"If-Modified-Since: " + lm + b"\r\n"
    if cond:
        nm = fetch_raw(port, req(b"GET / HTTP/1.1", cond))
        out.append(block("real_%s_304" % tag, "pass",
                         "%s answering a conditional GET with 304, no body whatever the fields "
                         "say (RFC 9112 §6.3 rule 1); captured from %s" % (label, ver), nm,
                         "responses", 1))
    return out


INDEX = (b"<!doctype html>\n<html><head><title>h2mux corpus</title></head>\n"
         b"<body><p>Hello from the h2mux HTTP/1.1 corpus.</p>\n"
         b"<p>This page is long enough for gzip to be worth it: gzip gzip gzip gzip.</p>\n"
         b"</body></html>\n")

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path %(dir)s/body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;
    default_type text/html;
    gzip on;
    gzip_types text/html;
    server {
        listen 127.0.0.1:%(port)d;
        root %(dir)s/www;
    }
}
"""


def capture_responses():
    tmp = tempfile.mkdtemp(prefix="h1corpus-")
    www = os.path.join(tmp, "www")
    os.mkdir(www)
    with open(os.path.join(www, "index.html"), "wb") as f:
        f.write(INDEX)
    out = []
    try:
        port = free_port()
        py = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                               "--directory", www, str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if wait_port(port):
                out += response_set("python_http_server", "python3 -m http.server", port,
                                    version([sys.executable, "--version"]))
        finally:
            py.terminate()
            py.wait(10)
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx"
                                          if os.path.exists("/usr/sbin/nginx") else None)
        if nginx is None:
            print("skipped nginx: not installed", file=sys.stderr)
            return out
        port = free_port()
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {"dir": tmp, "port": port})
        ng = subprocess.Popen([nginx, "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "err.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if wait_port(port):
                ver = version([nginx, "-v"])
                out += response_set("nginx", "nginx", port, ver)
                gz = fetch_raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                     b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n" % port)
                out.append(block("real_nginx_gzip_chunked", "pass",
                                 "nginx gzip on the fly: chunked body, Content-Encoding gzip "
                                 "(RFC 9112 §7.1); captured from %s" % ver, gz, "responses", 1))
        finally:
            ng.terminate()
            ng.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "requests"
    blocks = capture_requests() if what == "requests" else capture_responses()
    sys.stdout.write("\n".join(blocks))


if __name__ == "__main__":
    main()
