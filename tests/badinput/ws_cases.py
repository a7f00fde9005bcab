#!/usr/bin/python3
"""RFC 6455 conformance and abuse cases for a sioc worker's WebSocket.

Our own case list, grouped like the Autobahn testsuite's families (1 framing,
2 ping/pong, 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8 with fail
fast, 7 close handling, 9 limits) plus masking. Frames are built and sent
with Debian's python3-autobahn (WebSocketProtocol.sendFrame deliberately
sends invalid frames); a frame that must stop half-way (fail-fast cases) is
written raw with the same protocol's sendData.

Target: the Engine.IO echo app (`sioc-worker --app echo --path /engine.io/`),
directly or through sioc-proxy. Every case opens its own connection, waits
for the Engine.IO open packet, does its thing, and expects either an echo
(the message comes back unchanged: "4<text>" as text, binary as binary) or a
close frame with one of the allowed codes followed by the end of the TCP
connection, within a deadline.

Group 12 (permessage-deflate, RFC 7692, like Autobahn's 12 and 13) runs only with
--deflate, against a worker started with --per-message-deflate: its connections offer
permessage-deflate (autobahn's PerMessageDeflateOffer), check the server's answer (both
no_context_takeover parameters), and send compressed messages (autobahn compresses) or
hand-made RSV1 frames (Python's zlib).

Usage: ws_cases.py --host 127.0.0.1 --port N [--path /engine.io/] [--limit BYTES] [--only PREFIX] [--deflate]
Prints one JSON object per case: {"id", "group", "title", "expect", "got", "ok", "ms"}
and a final {"summary": {...}}. Exit status 0 when every case passed.
"""

import argparse
import asyncio
import json
import os
import struct
import sys
import time
import zlib

from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (PerMessageDeflateOffer, PerMessageDeflateResponse,
                                         PerMessageDeflateResponseAccept)

# Opcodes
CONT, TEXT, BINARY, CLOSE, PING, PONG = 0, 1, 2, 8, 9, 10

CASE_DEADLINE = 3.0  # seconds for a case to get its answer


class Probe(WebSocketClientProtocol):
    """Records everything the server does; the case drives it."""

    def __init__(self):
        super().__init__()
        self.msgs = asyncio.Queue()
        self.pongs = asyncio.Queue()
        self.close_frame = None  # (code, reason bytes) as sent by the server
        self.done = asyncio.get_event_loop().create_future()
        self.opened = asyncio.get_event_loop().create_future()

    def onOpen(self):
        if not self.opened.done():
            self.opened.set_result(True)

    def onMessage(self, payload, isBinary):
        self.msgs.put_nowait((payload, isBinary))

    def onPong(self, payload):
        self.pongs.put_nowait(payload)

    def onCloseFrame(self, code, reasonRaw):
        if self.close_frame is None:
            self.close_frame = (code, reasonRaw)
        return super().onCloseFrame(code, reasonRaw)

    def onClose(self, wasClean, code, reason):
        if hasattr(self, "done") and not self.done.done():
            self.done.set_result(time.monotonic())
        if hasattr(self, "opened") and not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before open: %s" % reason))

    # -- frame helpers -------------------------------------------------------
    def frame(self, opcode, payload=b"", fin=True, rsv=0, mask=True, payload_len=None):
        self.maskClientFrames = mask
        self.sendFrame(opcode, payload=payload, fin=fin, rsv=rsv, payload_len=payload_len)
        self.maskClientFrames = True

    def raw(self, data):
        self.sendData(data)


def head_len(n):
    """Bytes before the payload of a masked frame of payload length n."""
    return (2 if n <= 125 else 4 if n <= 0xFFFF else 10) + 4


def masked_frame_bytes(opcode, payload, fin=True, declared_len=None):
    """A masked client frame as bytes (to send only part of it)."""
    n = len(payload) if declared_len is None else declared_len
    b0 = (0x80 if fin else 0) | opcode
    if n <= 125:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    key = os.urandom(4)
    body = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    return head + key + body


# -- expectations -------------------------------------------------------------
async def next_msg(p, timeout=CASE_DEADLINE):
    return await asyncio.wait_for(p.msgs.get(), timeout)


async def expect_echo(p, payload, binary=False):
    try:
        got, isb = await next_msg(p)
    except asyncio.TimeoutError:
        return False, "no echo within %.1f s%s" % (CASE_DEADLINE, closed_note(p))
    if got == payload and isb == binary:
        return True, "echoed (%d bytes)" % len(payload)
    return False, "got %r (binary=%s)" % (got[:40], isb)


def closed_note(p):
    if p.close_frame is not None:
        return "; server closed with %s" % (p.close_frame[0],)
    if p.done.done():
        return "; connection dropped"
    return ""


async def expect_close(p, codes, within=CASE_DEADLINE):
    """The server must send a close frame with one of `codes` and end the TCP connection."""
    try:
        await asyncio.wait_for(asyncio.shield(p.done), within)
    except asyncio.TimeoutError:
        if p.close_frame is not None:
            return False, "close %s sent but TCP still open after %.1f s" % (p.close_frame[0], within)
        return False, "still open after %.1f s" % within
    if p.close_frame is None:
        return False, "TCP closed without a close frame"
    code = p.close_frame[0]
    if code in codes:
        return True, "close %s" % code
    return False, "close %s, expected %s" % (code, "/".join(map(str, sorted(codes))))


async def still_alive(p):
    """The connection still works: an echo round trip."""
    p.frame(TEXT, b"4alive")
    ok, got = await expect_echo(p, b"4alive")
    return ok, got


# -- the cases ----------------------------------------------------------------
CASES = []


def case(cid, group, title, expect, deflate=False):
    def deco(fn):
        CASES.append({"id": cid, "group": group, "title": title, "expect": expect, "fn": fn, "deflate": deflate})
        return fn
    return deco


def echo_case(cid, group, title, payload, binary=False, **frame_kw):
    async def fn(p, ctx):
        p.frame(BINARY if binary else TEXT, payload, **frame_kw)
        return await expect_echo(p, payload, binary)
    case(cid, group, title, "echo")(fn)


def close_case(cid, group, title, codes, send):
    async def fn(p, ctx):
        send(p, ctx)
        return await expect_close(p, set(codes))
    case(cid, group, title, "close " + "/".join(map(str, codes)))(fn)


# 1 framing
for n in (0, 125, 126, 127, 65535, 65536 + 1000):
    echo_case("1.1.%d" % n, "1 framing", "text message, payload %d bytes" % n, b"4" + b"*" * n)
for n in (1, 125, 126, 65536):
    echo_case("1.2.%d" % n, "1 framing", "binary message, payload %d bytes" % n, bytes((i * 7) & 255 for i in range(n)), binary=True)


@case("1.3", "1 framing", "text message sent in 1-byte TCP chunks", "echo")
async def _(p, ctx):
    payload = b"4" + b"chunked" * 20
    p.sendData(masked_frame_bytes(TEXT, payload), chopsize=1)
    return await expect_echo(p, payload)


# 2 ping / pong
@case("2.1", "2 ping/pong", "ping without payload gets a pong", "pong")
async def _(p, ctx):
    p.frame(PING, b"")
    try:
        got = await asyncio.wait_for(p.pongs.get(), CASE_DEADLINE)
    except asyncio.TimeoutError:
        return False, "no pong"
    return got == b"", "pong %r" % got


@case("2.2", "2 ping/pong", "ping with 125-byte binary payload gets the same pong", "pong")
async def _(p, ctx):
    payload = bytes(range(125))
    p.frame(PING, payload)
    try:
        got = await asyncio.wait_for(p.pongs.get(), CASE_DEADLINE)
    except asyncio.TimeoutError:
        return False, "no pong"
    return got == payload, "pong of %d bytes" % len(got)


@case("2.3", "2 ping/pong", "10 pings in a row get 10 pongs in order", "10 pongs")
async def _(p, ctx):
    for i in range(10):
        p.frame(PING, b"ping-%d" % i)
    got = []
    try:
        for _ in range(10):
            got.append(await asyncio.wait_for(p.pongs.get(), CASE_DEADLINE))
    except asyncio.TimeoutError:
        return False, "%d pongs" % len(got)
    return got == [b"ping-%d" % i for i in range(10)], "%d pongs in order" % len(got)


@case("2.4", "2 ping/pong", "unsolicited pong is ignored", "still open")
async def _(p, ctx):
    p.frame(PONG, b"unsolicited")
    return await still_alive(p)


close_case("2.5", "2 ping/pong", "ping with a 126-byte payload (control frame too long)", [1002], lambda p, c: p.frame(PING, b"x" * 126))
close_case("2.6", "2 ping/pong", "pong with a 126-byte payload", [1002], lambda p, c: p.frame(PONG, b"x" * 126))

# 3 reserved bits
close_case("3.1", "3 reserved bits", "RSV1 on a text frame (no extension negotiated)", [1002], lambda p, c: p.frame(TEXT, b"4rsv", rsv=4))
close_case("3.2", "3 reserved bits", "RSV2 on a text frame after a valid one", [1002], lambda p, c: (p.frame(TEXT, b"4ok"), p.frame(TEXT, b"4rsv", rsv=2)))
close_case("3.3", "3 reserved bits", "RSV3 on a text frame", [1002], lambda p, c: p.frame(TEXT, b"4rsv", rsv=1))
close_case("3.4", "3 reserved bits", "RSV1+2+3 on a binary frame", [1002], lambda p, c: p.frame(BINARY, b"\x01\x02", rsv=7))
close_case("3.5", "3 reserved bits", "RSV2 on a ping", [1002], lambda p, c: p.frame(PING, b"", rsv=2))
close_case("3.6", "3 reserved bits", "RSV1 on a close", [1002], lambda p, c: p.frame(CLOSE, struct.pack("!H", 1000), rsv=4))
close_case("3.7", "3 reserved bits", "RSV1 on a continuation frame", [1002], lambda p, c: (p.frame(TEXT, b"4frag", fin=False), p.frame(CONT, b"ment", rsv=4)))

# 4 opcodes
for op in (3, 4, 5, 6, 7):
    close_case("4.1.%d" % op, "4 opcodes", "reserved data opcode %d" % op, [1002], lambda p, c, op=op: p.frame(op, b"4x"))
for op in (11, 12, 13, 14, 15):
    close_case("4.2.%d" % op, "4 opcodes", "reserved control opcode %d" % op, [1002], lambda p, c, op=op: p.frame(op, b""))
close_case("4.3", "4 opcodes", "reserved opcode 5 after a valid message", [1002], lambda p, c: (p.frame(TEXT, b"4ok"), p.frame(5, b"")))

# 5 fragmentation
close_case("5.1", "5 fragmentation", "fragmented ping (FIN=0 on a control frame)", [1002], lambda p, c: (p.frame(PING, b"frag", fin=False), p.frame(CONT, b"ment")))
close_case("5.2", "5 fragmentation", "fragmented pong", [1002], lambda p, c: (p.frame(PONG, b"frag", fin=False), p.frame(CONT, b"ment")))
close_case("5.3", "5 fragmentation", "fragmented close", [1002], lambda p, c: p.frame(CLOSE, struct.pack("!H", 1000), fin=False))


@case("5.4", "5 fragmentation", "text in 2 fragments is one message", "echo")
async def _(p, ctx):
    p.frame(TEXT, b"4frag", fin=False)
    p.frame(CONT, b"ment", fin=True)
    return await expect_echo(p, b"4fragment")


@case("5.5", "5 fragmentation", "text in 3 fragments with a ping in the middle: pong first, then the message", "pong + echo")
async def _(p, ctx):
    p.frame(TEXT, b"4a", fin=False)
    p.frame(PING, b"mid")
    p.frame(CONT, b"b", fin=False)
    p.frame(CONT, b"c", fin=True)
    try:
        pong = await asyncio.wait_for(p.pongs.get(), CASE_DEADLINE)
    except asyncio.TimeoutError:
        return False, "no pong"
    ok, got = await expect_echo(p, b"4abc")
    return ok and pong == b"mid", "pong %r, %s" % (pong, got)


@case("5.6", "5 fragmentation", "text in 1000 one-byte fragments", "echo")
async def _(p, ctx):
    payload = b"4" + bytes(0x61 + (i % 26) for i in range(999))
    for i, ch in enumerate(payload):
        p.frame(TEXT if i == 0 else CONT, bytes([ch]), fin=(i == len(payload) - 1))
    return await expect_echo(p, payload)


@case("5.7", "5 fragmentation", "binary in 2 fragments with empty middle fragment", "echo")
async def _(p, ctx):
    p.frame(BINARY, b"\x00\x01", fin=False)
    p.frame(CONT, b"", fin=False)
    p.frame(CONT, b"\x02", fin=True)
    return await expect_echo(p, b"\x00\x01\x02", binary=True)


close_case("5.8", "5 fragmentation", "continuation (FIN=1) without a message started", [1002], lambda p, c: p.frame(CONT, b"4x"))
close_case("5.9", "5 fragmentation", "continuation (FIN=0) without a message started", [1002], lambda p, c: p.frame(CONT, b"4x", fin=False))
close_case("5.10", "5 fragmentation", "new text frame while a fragmented message is open", [1002], lambda p, c: (p.frame(TEXT, b"4a", fin=False), p.frame(TEXT, b"4b")))
close_case("5.11", "5 fragmentation", "new binary frame while a fragmented text message is open", [1002], lambda p, c: (p.frame(TEXT, b"4a", fin=False), p.frame(BINARY, b"b")))


@case("5.12", "5 fragmentation", "close between fragments ends the connection cleanly", "close 1000")
async def _(p, ctx):
    p.frame(TEXT, b"4a", fin=False)
    p.frame(CLOSE, struct.pack("!H", 1000))
    return await expect_close(p, {1000})


# 6 UTF-8
VALID_UTF8 = [
    ("6.1.1", "Hello-µ@ßöäüàá-UTF-8!!", "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode()),
    ("6.1.2", "Greek kosme", "\u03ba\u1f79\u03c3\u03bc\u03b5".encode()),
    ("6.1.3", "4-byte sequence U+1D11E", "\U0001D11E".encode()),
    ("6.1.4", "boundary U+FFFF and U+10FFFF", "\uffff\U0010ffff".encode()),
    ("6.1.5", "U+0000 inside text", b"a\x00b"),
]
for cid, title, data in VALID_UTF8:
    echo_case(cid, "6 UTF-8", "valid UTF-8: " + title, b"4" + data)

INVALID_UTF8 = [
    ("6.2.1", "overlong '/' (C0 AF)", b"\xc0\xaf"),
    ("6.2.2", "overlong 3-byte NUL (E0 80 80)", b"\xe0\x80\x80"),
    ("6.2.3", "UTF-16 surrogate U+D800 (ED A0 80)", b"\xed\xa0\x80"),
    ("6.2.4", "above U+10FFFF (F4 90 80 80)", b"\xf4\x90\x80\x80"),
    ("6.2.5", "lone continuation byte 80", b"a\x80b"),
    ("6.2.6", "byte FE", b"\xfe"),
    ("6.2.7", "byte FF", b"\xff"),
    ("6.2.8", "truncated 2-byte sequence at the end", b"ok\xce"),
    ("6.2.9", "5-byte sequence (F8 88 80 80 80)", b"\xf8\x88\x80\x80\x80"),
    ("6.2.10", "kosme with an invalid byte in the middle", "\u03ba\u1f79".encode() + b"\xed\xa0\x80" + "\u03bc\u03b5".encode()),
]
for cid, title, data in INVALID_UTF8:
    close_case(cid, "6 UTF-8", "invalid UTF-8 in one frame: " + title, [1007], lambda p, c, data=data: p.frame(TEXT, b"4" + data))

@case("6.3.1", "6 UTF-8", "valid code point split across two fragments", "echo")
async def _(p, ctx):
    p.frame(TEXT, b"4\xce", fin=False)
    p.frame(CONT, b"\xba", fin=True)
    return await expect_echo(p, b"4\xce\xba")


@case("6.3.2", "6 UTF-8", "fail fast: valid first fragment, invalid second fragment, message never finished", "close 1007 before the end")
async def _(p, ctx):
    p.frame(TEXT, b"4valid", fin=False)
    p.frame(CONT, b"\xed\xa0\x80", fin=False)
    return await expect_close(p, {1007}, within=1.5)


@case("6.3.3", "6 UTF-8", "fail fast inside one frame: header announces 4000 bytes, the 6th is invalid, the rest never sent", "close 1007 before the frame ends")
async def _(p, ctx):
    payload = b"4abcd\xff" + b"x" * 3994
    data = masked_frame_bytes(TEXT, payload)
    p.raw(data[: head_len(len(payload)) + 10])
    return await expect_close(p, {1007}, within=1.5)


@case("6.3.4", "6 UTF-8", "fail fast: impossible byte sent byte by byte in a frame that never ends", "close 1007 before the frame ends")
async def _(p, ctx):
    payload = b"4" + b"k" * 20 + b"\xc0" + b"z" * 200
    data = masked_frame_bytes(TEXT, payload)
    p.sendData(data[: head_len(len(payload)) + 23], chopsize=1)
    return await expect_close(p, {1007}, within=1.5)


# 7 close handling
@case("7.1", "7 close", "close without payload: server answers with a close and ends TCP", "close (no code) or 1000")
async def _(p, ctx):
    p.frame(CLOSE, b"")
    return await expect_close(p, {None, 1000, 1005})


@case("7.2", "7 close", "data after a close frame is ignored", "close 1000")
async def _(p, ctx):
    p.frame(CLOSE, struct.pack("!H", 1000))
    p.frame(TEXT, b"4after-close")
    ok, got = await expect_close(p, {1000})
    if ok and not p.msgs.empty():
        return False, "message echoed after close"
    return ok, got


close_case("7.3", "7 close", "close with a 1-byte payload", [1002], lambda p, c: p.frame(CLOSE, b"\x03"))
close_case("7.4", "7 close", "close reason with invalid UTF-8", [1007, 1002], lambda p, c: p.frame(CLOSE, struct.pack("!H", 1000) + b"\xff\xfe"))


@case("7.5", "7 close", "close with a 123-byte reason (the longest allowed)", "close 1000")
async def _(p, ctx):
    p.frame(CLOSE, struct.pack("!H", 1000) + b"r" * 123)
    return await expect_close(p, {1000})


for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
    close_case("7.6.%d" % code, "7 close", "valid close code %d is answered" % code, [code, 1000], lambda p, c, code=code: p.frame(CLOSE, struct.pack("!H", code)))
for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    close_case("7.7.%d" % code, "7 close", "invalid close code %d" % code, [1002], lambda p, c, code=code: p.frame(CLOSE, struct.pack("!H", code)))

# 9 limits (the limit is the worker's --max-http-buffer-size, given as --limit)


@case("9.1", "9 limits", "message of exactly the limit is delivered", "echo")
async def _(p, ctx):
    payload = b"4" + b"L" * (ctx["limit"] - 1)
    p.frame(TEXT, payload)
    return await expect_echo(p, payload)


@case("9.2", "9 limits", "frame header announcing limit+1 bytes: 1009 at the header, before any payload", "close 1009")
async def _(p, ctx):
    data = masked_frame_bytes(TEXT, b"", declared_len=ctx["limit"] + 1)
    p.raw(data)  # header + mask only
    return await expect_close(p, {1009}, within=1.5)


@case("9.3", "9 limits", "fragmented message growing past the limit", "close 1009")
async def _(p, ctx):
    chunk = b"F" * 4096
    p.frame(TEXT, b"4", fin=False)
    sent = 1
    while sent <= ctx["limit"]:
        p.frame(CONT, chunk, fin=False)
        sent += len(chunk)
    return await expect_close(p, {1009})


close_case("9.4", "9 limits", "64-bit length with the most significant bit set", [1002, 1009], lambda p, c: p.raw(struct.pack("!BBQ", 0x81, 0xFF, 1 << 63) + os.urandom(4)))


@case("9.5", "9 limits", "a 16 MiB frame header: refused at once, nothing buffered", "close 1009")
async def _(p, ctx):
    p.raw(masked_frame_bytes(BINARY, b"", declared_len=16 << 20))
    return await expect_close(p, {1009}, within=1.5)


# masking
close_case("M.1", "masking", "unmasked text frame from the client", [1002], lambda p, c: p.frame(TEXT, b"4unmasked", mask=False))
close_case("M.2", "masking", "unmasked ping from the client", [1002], lambda p, c: p.frame(PING, b"", mask=False))
close_case("M.3", "masking", "unmasked close from the client", [1002], lambda p, c: p.frame(CLOSE, struct.pack("!H", 1000), mask=False))
close_case("M.4", "masking", "masked message then an unmasked continuation", [1002], lambda p, c: (p.frame(TEXT, b"4a", fin=False), p.frame(CONT, b"b", mask=False)))


# 12 permessage-deflate (RFC 7692; with --deflate only)
def deflate_raw(data):
    """A message payload as RFC 7692 §7.2.1 makes it: raw deflate, sync flush, tail cut."""
    c = zlib.compressobj(wbits=-15)
    z = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert z.endswith(b"\x00\x00\xff\xff")
    return z[:-4]


def negotiated(p):
    """The server accepted the offer with both no_context_takeover parameters."""
    ext = [e for e in (p.websocket_extensions_in_use or []) if e.EXTENSION_NAME == "permessage-deflate"]
    if not ext:
        return False, "permessage-deflate not negotiated"
    e = ext[0]
    if not (e.server_no_context_takeover and e.client_no_context_takeover):
        return False, "negotiated without both no_context_takeover parameters"
    return True, ""


def deflate_echo_case(cid, title, payload, binary=False, fragment=None):
    async def fn(p, ctx):
        ok, why = negotiated(p)
        if not ok:
            return ok, why
        p.sendMessage(payload, isBinary=binary, fragmentSize=fragment)
        return await expect_echo(p, payload, binary)
    case(cid, "12 permessage-deflate", title, "echo", deflate=True)(fn)


for n in (16, 1023, 1024, 4096, 65536):
    deflate_echo_case("12.1.%d" % n, "compressed text message of %d bytes, echoed" % n, b"4" + (b"Hello, permessage-deflate! " * (n // 27 + 1))[:n])
for n in (16, 4096, 65536):
    deflate_echo_case("12.2.%d" % n, "compressed binary message of %d bytes, echoed" % n, bytes((i * i) & 255 for i in range(n)), binary=True)
deflate_echo_case("12.3.1", "compressed text message in 100-byte fragments", b"4" + b"fragmented " * 2000, fragment=100)
deflate_echo_case("12.3.2", "compressed binary message in 7-byte fragments", bytes(range(256)) * 40, binary=True, fragment=7)


@case("12.3.3", "12 permessage-deflate", "compressed message inflating to exactly the limit, echoed", "echo", deflate=True)
async def _(p, ctx):
    ok, why = negotiated(p)
    if not ok:
        return ok, why
    payload = b"4" + b"L" * (ctx["limit"] - 1)
    p.sendMessage(payload)
    return await expect_echo(p, payload)


@case("12.3.4", "12 permessage-deflate", "compressed message inflating to the limit + 1", "close 1009", deflate=True)
async def _(p, ctx):
    ok, why = negotiated(p)
    if not ok:
        return ok, why
    p.sendMessage(b"4" + b"L" * ctx["limit"])
    return await expect_close(p, {1009})


def deflate_raw_case(cid, title, codes, frames):
    async def fn(p, ctx):
        ok, why = negotiated(p)
        if not ok:
            return ok, why
        for f in frames(ctx):
            p.frame(**f)
        if codes is None:
            return await still_alive(p)
        return await expect_close(p, set(codes))
    case(cid, "12 permessage-deflate", title, "close " + "/".join(map(str, codes)) if codes else "echo", deflate=True)(fn)


@case("12.4.1", "12 permessage-deflate", "hand-made RSV1 text frame (one sync-flushed block), echoed", "echo", deflate=True)
async def _(p, ctx):
    ok, why = negotiated(p)
    if not ok:
        return ok, why
    p.frame(TEXT, deflate_raw(b"4handmade"), rsv=4)
    return await expect_echo(p, b"4handmade")


@case("12.4.2", "12 permessage-deflate", "RSV1 frame ending in a final block (BFINAL), echoed", "echo", deflate=True)
async def _(p, ctx):
    ok, why = negotiated(p)
    if not ok:
        return ok, why
    c = zlib.compressobj(wbits=-15)
    p.frame(TEXT, c.compress(b"4final") + c.flush(zlib.Z_FINISH), rsv=4)
    return await expect_echo(p, b"4final")


@case("12.4.3", "12 permessage-deflate", "compressed then plain then compressed: no context kept", "echo", deflate=True)
async def _(p, ctx):
    ok, why = negotiated(p)
    if not ok:
        return ok, why
    for payload, rsv in ((b"4one one one", 4), (b"4two", 0), (b"4one one one", 4)):
        p.frame(TEXT, deflate_raw(payload) if rsv else payload, rsv=rsv)
        ok, got = await expect_echo(p, payload)
        if not ok:
            return ok, got
    return True, "three echoes"


deflate_raw_case("12.5.1", "RSV1 on a continuation frame", [1002],
                 lambda c: [dict(opcode=TEXT, payload=deflate_raw(b"4ab")[:1], fin=False, rsv=4), dict(opcode=CONT, payload=b"x", rsv=4)])
deflate_raw_case("12.5.2", "RSV1 on a ping", [1002], lambda c: [dict(opcode=PING, payload=b"p", rsv=4)])
deflate_raw_case("12.5.3", "RSV2 on a text frame (no extension gives it a meaning)", [1002], lambda c: [dict(opcode=TEXT, payload=b"4x", rsv=2)])
deflate_raw_case("12.5.4", "RSV1 frame that is not deflate data", [1007], lambda c: [dict(opcode=TEXT, payload=b"\xff\xff\xff\xff\x00", rsv=4)])
deflate_raw_case("12.5.5", "compressed text that inflates to invalid UTF-8", [1007], lambda c: [dict(opcode=TEXT, payload=deflate_raw(b"4ok\xed\xa0\x80"), rsv=4)])
deflate_raw_case("12.5.6", "compression bomb: inflates past the limit (1009 at the limit)", [1009],
                 lambda c: [dict(opcode=BINARY, payload=deflate_raw(b"\0" * (c["limit"] * 50)), rsv=4)])


# -- runner -------------------------------------------------------------------
async def run_case(c, args, loop):
    url = "ws://%s:%d%s?EIO=4&transport=websocket" % (args.host, args.port, args.path)
    factory = WebSocketClientFactory(url)
    factory.protocol = Probe
    factory.setProtocolOptions(autoPingInterval=0, failByDrop=False, openHandshakeTimeout=5, closeHandshakeTimeout=3,
                               maxMessagePayloadSize=0, maxFramePayloadSize=0, serverConnectionDropTimeout=3)
    if c["deflate"]:
        factory.setProtocolOptions(
            perMessageCompressionOffers=[PerMessageDeflateOffer(accept_no_context_takeover=True, accept_max_window_bits=True)],
            perMessageCompressionAccept=lambda r: PerMessageDeflateResponseAccept(r) if isinstance(r, PerMessageDeflateResponse) else None)
    t0 = time.monotonic()
    try:
        _, p = await asyncio.wait_for(loop.create_connection(factory, args.host, args.port), 5)
        await asyncio.wait_for(p.opened, 5)
        first, _ = await next_msg(p, 5)
        if not first.startswith(b"0{"):
            return False, "no Engine.IO open packet: %r" % first[:40], time.monotonic() - t0
        ok, got = await c["fn"](p, {"limit": args.limit})
    except Exception as e:  # noqa: BLE001 - any failure is the case's result
        ok, got = False, "%s: %s" % (type(e).__name__, e)
        p = None
    ms = (time.monotonic() - t0) * 1000
    if p is not None and p.transport is not None:
        p.transport.abort()
    return ok, got, ms


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/engine.io/")
    ap.add_argument("--limit", type=int, default=1000000, help="the server's --max-http-buffer-size")
    ap.add_argument("--only", default="")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--deflate", action="store_true", help="run group 12 (the server has --per-message-deflate) instead")
    args = ap.parse_args()
    if args.list:
        for c in CASES:
            print(json.dumps({"id": c["id"], "group": c["group"], "title": c["title"], "expect": c["expect"]}))
        return 0
    loop = asyncio.get_event_loop()
    passed = failed = 0
    by_group = {}
    for c in CASES:
        if args.only and not c["id"].startswith(args.only):
            continue
        if c["deflate"] != args.deflate:
            continue
        ok, got, ms = await run_case(c, args, loop)
        passed += ok
        failed += not ok
        g = by_group.setdefault(c["group"], [0, 0])
        g[0 if ok else 1] += 1
        print(json.dumps({"id": c["id"], "group": c["group"], "title": c["title"], "expect": c["expect"],
                          "got": got, "ok": bool(ok), "ms": round(ms, 1)}), flush=True)
    print(json.dumps({"summary": {"passed": passed, "failed": failed, "groups": by_group}}), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
