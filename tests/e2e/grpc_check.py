# gRPC through h2mux: a grpcio server as the upstream, a grpcio client through Envoy.
# Usage: grpc_check.py UPSTREAM_PORT ENVOY_PORT. Checks unary, server streaming, an error
# status (trailers), a slow client stream (an idle upstream must not see ping strikes),
# bidirectional streaming, a deadline that expires (the server sees the call end), a client
# cancel in the middle of a server stream (the server sees it), and many calls in a row.
import sys, time, threading, hashlib
from concurrent import futures
import grpc

ident = lambda b: b
def unary(req, ctx): return b"echo:" + req
def server_stream(req, ctx):
    for i in range(int(req.decode())):
        yield (b"%06d" % i) * 100
def client_stream(it, ctx):
    h = hashlib.sha256(); n = 0
    for chunk in it:
        h.update(chunk); n += len(chunk)
    return (h.hexdigest() + " %d" % n).encode()
def fails(req, ctx):
    ctx.abort(grpc.StatusCode.FAILED_PRECONDITION, "no, thanks")
def chat(it, ctx):
    for m in it:
        yield b"re:" + m
ended = {"sleep": threading.Event(), "endless": threading.Event()}
def sleep(req, ctx):  # answers after the client's deadline; notes that the call ended first
    ctx.add_callback(ended["sleep"].set)
    time.sleep(int(req.decode()) / 1000)
    return b"late"
def endless(req, ctx):  # a server stream only a cancel ends
    ctx.add_callback(ended["endless"].set)
    i = 0
    while ctx.is_active():
        yield b"%08d" % i; i += 1
        time.sleep(0.01)

handler = grpc.method_handlers_generic_handler("t.T", {
    "Unary": grpc.unary_unary_rpc_method_handler(unary, ident, ident),
    "Stream": grpc.unary_stream_rpc_method_handler(server_stream, ident, ident),
    "Upload": grpc.stream_unary_rpc_method_handler(client_stream, ident, ident),
    "Fails": grpc.unary_unary_rpc_method_handler(fails, ident, ident),
    "Chat": grpc.stream_stream_rpc_method_handler(chat, ident, ident),
    "Sleep": grpc.unary_unary_rpc_method_handler(sleep, ident, ident),
    "Endless": grpc.unary_stream_rpc_method_handler(endless, ident, ident),
})
server = grpc.server(futures.ThreadPoolExecutor(8))
server.add_generic_rpc_handlers((handler,))
server.add_insecure_port("127.0.0.1:%s" % sys.argv[1]); server.start()
ch = grpc.insecure_channel("127.0.0.1:%s" % sys.argv[2])
u = ch.unary_unary("/t.T/Unary", ident, ident)
s = ch.unary_stream("/t.T/Stream", ident, ident)
up = ch.stream_unary("/t.T/Upload", ident, ident)
f = ch.unary_unary("/t.T/Fails", ident, ident)
bidi = ch.stream_stream("/t.T/Chat", ident, ident)
sl = ch.unary_unary("/t.T/Sleep", ident, ident)
endless_call = ch.unary_stream("/t.T/Endless", ident, ident)
ok = 0
assert u(b"hi", timeout=5) == b"echo:hi"; ok += 1
got = b"".join(s(b"2000", timeout=10)); assert len(got) == 2000 * 600, len(got); ok += 1
try:
    f(b"x", timeout=5); raise SystemExit("expected an error")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION and e.details() == "no, thanks", (e.code(), e.details()); ok += 1
# A slow client stream: 40 chunks 100 ms apart, idle upstream writes in between (ping strikes).
data = [bytes([i]) * 50000 for i in range(40)]
def slow():
    for d in data:
        time.sleep(0.1); yield d
want = hashlib.sha256(b"".join(data)).hexdigest() + " %d" % sum(map(len, data))
assert up(slow(), timeout=30).decode() == want; ok += 1
# Bidirectional: every message answered, in order.
msgs = [b"%d" % i * 300 for i in range(100)]
assert list(bidi(iter(msgs), timeout=10)) == [b"re:" + m for m in msgs]; ok += 1
# A deadline that expires: DEADLINE_EXCEEDED for the client, the call ended at the server.
try:
    sl(b"2000", timeout=0.3); raise SystemExit("expected DEADLINE_EXCEEDED")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.code()
assert ended["sleep"].wait(5), "the server did not see the expired call end"; ok += 1
# A client cancel in the middle of a server stream reaches the server.
call = endless_call(b"", timeout=30)
got = [next(call) for _ in range(5)]
assert got == [b"%08d" % i for i in range(5)], got
call.cancel()
try:
    next(call); raise SystemExit("expected CANCELLED")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.CANCELLED, e.code()
assert ended["endless"].wait(5), "the server did not see the cancel"; ok += 1
for i in range(200):
    assert u(b"%d" % i, timeout=5) == b"echo:%d" % i
ok += 1
print("grpc: %d checks passed" % ok)
