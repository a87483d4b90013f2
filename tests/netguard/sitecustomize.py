"""Loaded by every Python process of a test run (via PYTHONPATH): records each socket address a process
connects or sends to, and each host name it resolves, into $SPACEVISTA_NETLOG (JSON lines), and that the process
was audited at all."""

import json
import os
import socket
import sys

_LOG = os.environ.get("SPACEVISTA_NETLOG")


def _write(event, host):
    with open(_LOG, "a") as handle:
        handle.write(json.dumps({"event": event, "host": host, "pid": os.getpid(), "argv": sys.argv[:2]}) + "\n")


def _record(event, args):
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        sock, address = args[0], args[-1]
        if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0] if isinstance(address, tuple) else str(address)
    elif event == "socket.getaddrinfo":
        host = args[0]
        if not isinstance(host, (str, bytes)):
            return
        host = host.decode() if isinstance(host, bytes) else host
    else:
        return
    _write(event, host)


if _LOG:
    _write("audited", "")
    sys.addaudithook(_record)
