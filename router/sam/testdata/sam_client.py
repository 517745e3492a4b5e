#!/usr/bin/env python3
"""A minimal SAMv3 client written from the specification alone
(i2p.www pages/site/docs/api/samv3.html), standard library only.

usage:
  sam_client.py HOST PORT TARGET_B32 NBYTES
      creates a TRANSIENT STREAM session, looks the target up, connects to
      it through a second socket and checks that what it sends comes back.
  sam_client.py HOST PORT forward [NBYTES]
      creates a TRANSIENT STREAM session, forwards its incoming streams to
      a local TCP listener (STREAM FORWARD), prints "DEST <base64>" and
      echoes the first stream that arrives until the peer closes it
      (checking that it carried NBYTES bytes, when given).
  sam_client.py HOST PORT datagram [UDP_PORT [NBYTES]]
      creates two DATAGRAM sessions whose datagrams SAM forwards to local
      UDP sockets (PORT=, HOST=), sends a repliable datagram from the
      first to the second through SAM's UDP port (default 7655), replies
      from the second to the sender it saw, and checks both payloads.

exit status 0 and "OK ..." on success, 1 and a reason otherwise.
"""
import base64
import hashlib
import os
import socket
import sys
import time


def b64decode(s):
    try:
        return base64.b64decode(s, altchars=b"-~", validate=True)
    except ValueError:
        return b""


def fail(msg):
    print("FAIL: " + msg, flush=True)
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


# Short tunnels keep the test networks quick; the options are passed to
# I2CP (samv3.html "SESSION CREATE": [option=value]*).
TUNNELS = "inbound.length=1 outbound.length=1"


def create_session(host, port, style, nick, forward_udp=False):
    """Opens a control socket and creates a TRANSIENT session on it. With
    forward_udp, SAM forwards the session's datagrams to a new UDP socket
    on the address our control socket has (PORT=, HOST=). Returns (socket,
    version, our base64 destination, the UDP socket or None)."""
    ctrl, cbuf, version = hello(host, port)
    extra, udp = "", None
    if forward_udp:
        local = ctrl.getsockname()[0]
        udp = socket.socket(ctrl.family, socket.SOCK_DGRAM)
        udp.bind((local, 0))
        extra = " PORT=%d HOST=%s" % (udp.getsockname()[1], local)
    p = command(ctrl, cbuf,
                "SESSION CREATE STYLE=%s ID=%s DESTINATION=TRANSIENT SIGNATURE_TYPE=7 %s%s"
                % (style, nick, TUNNELS, extra), "SESSION", "STATUS")
    # The private keys are the Destination (387+ bytes) and its private
    # keys, in I2P base64 ('-' and '~' for '+' and '/').
    if p.get("RESULT") != "OK" or len(b64decode(p.get("DESTINATION", ""))) < 387 + 32 + 32:
        fail("SESSION CREATE %s: %r" % (style, p))
    # NAMING LOOKUP NAME=ME answers the session's public destination.
    p = command(ctrl, cbuf, "NAMING LOOKUP NAME=ME", "NAMING", "REPLY")
    if p.get("RESULT") != "OK" or len(b64decode(p.get("VALUE", ""))) < 387:
        fail("NAMING LOOKUP NAME=ME: %r" % p)
    return ctrl, version, p["VALUE"], udp


def b32_of(dest):
    """The .b32.i2p name: base32 of the SHA-256 of the binary destination."""
    h = hashlib.sha256(b64decode(dest)).digest()
    return base64.b32encode(h).decode("ascii").lower().rstrip("=") + ".b32.i2p"


def pattern(n, seed):
    return bytes((i * 7 + seed) % 251 for i in range(n))


def stream_echo(host, port, target, nbytes):
    ctrl, cbuf, version = hello(host, port)
    nick = "py%d" % os.getpid()
    p = command(ctrl, cbuf,
                "SESSION CREATE STYLE=STREAM ID=%s DESTINATION=TRANSIENT SIGNATURE_TYPE=7 %s"
                % (nick, TUNNELS), "SESSION", "STATUS")
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

    data = pattern(nbytes, 3)
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


def forward(host, port, nbytes):
    """samv3.html "SAM Virtual Streams: FORWARD": SAM connects each
    incoming stream to HOST:PORT and writes the peer's destination line
    (with FROM_PORT/TO_PORT as of 3.2) before the stream's data."""
    nick = "pyfw%d" % os.getpid()
    ctrl, version, me, _ = create_session(host, port, "STREAM", nick)
    # Listen where SAM can reach us: the address our control socket has.
    local = ctrl.getsockname()[0]
    lst = socket.socket(ctrl.family, socket.SOCK_STREAM)
    lst.bind((local, 0))
    lst.listen(1)
    lst.settimeout(60)
    fwd, fbuf, _ = hello(host, port)
    p = command(fwd, fbuf, "STREAM FORWARD ID=%s PORT=%d HOST=%s" % (nick, lst.getsockname()[1], local),
                "STREAM", "STATUS")
    if p.get("RESULT") != "OK":
        fail("STREAM FORWARD: %r" % p)
    print("DEST " + me, flush=True)

    try:
        conn, _ = lst.accept()
    except socket.timeout:
        fail("no stream forwarded within 60 s")
    conn.settimeout(60)
    buf = bytearray()
    line = read_line(conn, buf)
    peer = line.split(" ")[0]
    if len(b64decode(peer)) < 387:
        fail("forwarded stream: first line %r is not a destination" % line[:80])
    # Echo until the peer closes, not only until NBYTES went back: the
    # session ends with its control socket, and closing that right after
    # the last write could cut off what SAM has not yet sent on.
    echoed = 0
    try:
        if buf:
            conn.sendall(buf)
            echoed += len(buf)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            conn.sendall(chunk)
            echoed += len(chunk)
    except socket.timeout:
        fail("forwarded stream idle for 60 s after %d bytes" % echoed)
    if nbytes is not None and echoed != nbytes:
        fail("forwarded stream carried %d bytes, want %d" % (echoed, nbytes))
    conn.close()
    fwd.close()
    ctrl.sendall(b"QUIT\n")
    ctrl.close()
    print("OK forward SAM %s, %d bytes echoed, peer %s" % (version, echoed, b32_of(peer)))


def receive_datagram(udp, want, deadline):
    """Reads forwarded repliable datagrams until one carries want or the
    deadline passes. samv3.html "Forwarding Repliable Datagrams": the
    sender's destination (and, as of 3.2, FROM_PORT/TO_PORT) on a line,
    then the payload. Returns the sender, or None."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        udp.settimeout(left)
        try:
            msg, _ = udp.recvfrom(65536)
        except socket.timeout:
            return None
        head, nl, payload = msg.partition(b"\n")
        if not nl:
            fail("forwarded datagram without a header line: %r" % msg[:80])
        sender = head.decode("utf-8").split(" ")[0]
        if payload == want:
            return sender


def datagram(host, port, udp_port, nbytes):
    """Two DATAGRAM sessions forwarded to local UDP sockets; datagrams go
    out through SAM's UDP port with a "3.0 <nick> <destination>" line
    (samv3.html "Sending Repliable or Raw Datagrams")."""
    sessions = []
    for i in (1, 2):
        nick = "pydg%d-%d" % (os.getpid(), i)
        ctrl, version, me, udp = create_session(host, port, "DATAGRAM", nick, forward_udp=True)
        sessions.append((ctrl, udp, nick, me))
    (ctrl1, udp1, nick1, dest1), (ctrl2, udp2, nick2, dest2) = sessions
    sam_udp = (host, udp_port)
    request, reply = pattern(nbytes, 5), pattern(nbytes, 11)

    # Datagrams may be lost: send again every 10 s, for up to a minute.
    deadline = time.monotonic() + 60
    sender = None
    while sender is None and time.monotonic() < deadline:
        sent = time.monotonic()
        udp1.sendto(("3.0 %s %s\n" % (nick1, dest2)).encode("ascii") + request, sam_udp)
        sender = receive_datagram(udp2, request, min(deadline, sent + 10))
    if sender is None:
        fail("datagram from session 1 never arrived at session 2")
    if sender != dest1:
        fail("datagram arrived from %s, not session 1" % b32_of(sender))
    back = None
    while back is None and time.monotonic() < deadline:
        udp2.sendto(("3.0 %s %s\n" % (nick2, sender)).encode("ascii") + reply, sam_udp)
        back = receive_datagram(udp1, reply, min(deadline, time.monotonic() + 10))
    if back is None:
        fail("reply from session 2 never arrived at session 1")
    if back != dest2:
        fail("reply arrived from %s, not session 2" % b32_of(back))
    rtt = time.monotonic() - sent
    for ctrl, udp, _, _ in sessions:
        ctrl.sendall(b"QUIT\n")
        ctrl.close()
        udp.close()
    print("OK datagram SAM %s, %d bytes each way, round trip %.0f ms" % (version, nbytes, rtt * 1000))


def main():
    args = sys.argv[1:]
    if len(args) >= 3 and args[2] == "forward" and len(args) <= 4:
        forward(args[0], int(args[1]), int(args[3]) if len(args) > 3 else None)
    elif len(args) >= 3 and args[2] == "datagram" and len(args) <= 5:
        udp_port = int(args[3]) if len(args) > 3 else 7655
        datagram(args[0], int(args[1]), udp_port, int(args[4]) if len(args) > 4 else 1024)
    elif len(args) == 4:
        stream_echo(args[0], int(args[1]), args[2], int(args[3]))
    else:
        fail("usage: sam_client.py HOST PORT TARGET_B32 NBYTES | HOST PORT forward [NBYTES]"
             " | HOST PORT datagram [UDP_PORT [NBYTES]]")


if __name__ == "__main__":
    main()
