#!/usr/bin/env python3
"""A minimal SAMv3 client written from the specification alone
(i2p.www pages/site/docs/api/samv3.html), standard library socket module
only. It creates a TRANSIENT STREAM session, looks the target up, connects
to it through a second socket and checks that what it sends comes back.

usage: sam_client.py HOST PORT TARGET_B32 NBYTES
exit status 0 and "OK ..." on success, 1 and a reason otherwise.
"""
import base64
import os
import socket
import sys


def b64decode(s):
    try:
        return base64.b64decode(s, altchars=b"-~", validate=True)
    except ValueError:
        return b""


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def read_line(sock, buf):
    """Reads one '\n'-terminated line; buf is a bytearray of bytes read ahead."""
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            fail("connection closed while waiting for a line")
        buf += chunk
    i = buf.index(b"\n")
    line = bytes(buf[:i]).decode("utf-8")
    del buf[: i + 1]
    return line


def parse(line):
    """Splits 'VERB SUB K=V K="quoted \\"v\\""' into (words, {key: value})."""
    words, params, i, n = [], {}, 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and line[i] not in " =":
            i += 1
        key = line[start:i]
        if i < n and line[i] == "=":
            i += 1
            if i < n and line[i] == '"':
                i += 1
                value = []
                while i < n and line[i] != '"':
                    if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\':
                        i += 1
                    value.append(line[i])
                    i += 1
                i += 1
                params[key] = "".join(value)
            else:
                start = i
                while i < n and line[i] != " ":
                    i += 1
                params[key] = line[start:i]
        elif not params:
            words.append(key)
        else:
            params[key] = ""
    return words, params


def command(sock, buf, line, verb, sub):
    sock.sendall((line + "\n").encode("utf-8"))
    reply = read_line(sock, buf)
    words, params = parse(reply)
    if words[:2] != [verb, sub]:
        fail("%s: unexpected reply %r" % (line.split(" ")[0:2], reply[:80]))
    return params


def hello(host, port):
    sock = socket.create_connection((host, port), timeout=60)
    buf = bytearray()
    p = command(sock, buf, "HELLO VERSION MIN=3.0 MAX=3.3", "HELLO", "REPLY")
    if p.get("RESULT") != "OK":
        fail("HELLO: %r" % p)
    return sock, buf, p["VERSION"]


def main():
    host, port, target, nbytes = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ctrl, cbuf, version = hello(host, port)
    nick = "py%d" % os.getpid()
    p = command(ctrl, cbuf,
                "SESSION CREATE STYLE=STREAM ID=%s DESTINATION=TRANSIENT SIGNATURE_TYPE=7 "
                "inbound.length=1 outbound.length=1" % nick, "SESSION", "STATUS")
    # The private keys are the Destination (387+ bytes) and its private
    # keys, in I2P base64 ('-' and '~' for '+' and '/').
    if p.get("RESULT") != "OK" or len(b64decode(p.get("DESTINATION", ""))) < 387 + 32 + 32:
        fail("SESSION CREATE: %r" % p)

    p = command(ctrl, cbuf, "PING keepalive 1", "PONG", "keepalive")
    p = command(ctrl, cbuf, "NAMING LOOKUP NAME=" + target, "NAMING", "REPLY")
    if p.get("RESULT") != "OK":
        fail("NAMING LOOKUP: %r" % p)
    dest = p["VALUE"]
    if len(b64decode(dest)) < 387:
        fail("NAMING LOOKUP: VALUE is not a destination")

    stream, sbuf, _ = hello(host, port)
    p = command(stream, sbuf, "STREAM CONNECT ID=%s DESTINATION=%s SILENT=false" % (nick, dest),
                "STREAM", "STATUS")
    if p.get("RESULT") != "OK":
        fail("STREAM CONNECT: %r" % p)

    data = bytes((i * 7 + 3) % 251 for i in range(nbytes))
    # Read back exactly what was sent, without half-closing first: i2pd's
    # streaming ends the whole stream when it receives a CLOSE, so a
    # half-close would cut the echo short when the peer is i2pd.
    stream.sendall(data)
    got = bytearray(sbuf)
    while len(got) < len(data):
        chunk = stream.recv(65536)
        if not chunk:
            break
        got += chunk
    if bytes(got) != data:
        fail("echo: %d bytes back, sent %d" % (len(got), len(data)))
    stream.close()
    ctrl.sendall(b"QUIT\n")
    ctrl.close()
    print("OK SAM %s, %d bytes echoed" % (version, nbytes))


if __name__ == "__main__":
    main()
