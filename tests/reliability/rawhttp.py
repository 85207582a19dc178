"""Raw HTTP/1.1 over sockets for the attack tests (standard library only).

The attack tests (connection_limits, preauth_memory, desync, log_redaction) need what
http.client will not do: bytes exactly as written (smuggling, obs-fold, a key as the
method), many connections from chosen loopback source addresses (the whole of 127.0.0.0/8
reaches a server on 127.0.0.1), and reading an answer without sending a whole body.
"""

import os
import socket
import subprocess
import time


def connect(port, source=None, timeout=10.0):
    """A TCP connection to 127.0.0.1:port, from source (an address of 127.0.0.0/8) when
    given."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower(), "")

    @property
    def closes(self):
        return self.header("connection").lower() == "close"

    def __repr__(self):
        return f"<{self.status} {self.headers}>"


class Reader:
    """Reads Content-Length framed HTTP/1.1 responses off a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buf += data

    def response(self):
        """The next response; EOFError when the peer closed first, OSError (a timeout, a
        reset) as raised."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode(errors="replace")
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, headers, body)

    def closed(self, timeout=5.0):
        """True when the peer closes (EOF or reset) within timeout, dropping any bytes."""
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
        except OSError:
            return False
        return False


def exchange(port, data, timeout=10.0, source=None):
    """Sends data on a fresh connection; returns (first response or None when the server
    closed without one, whether the server then closed the connection, every further
    response that came)."""
    s = connect(port, source, timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close early
        r = Reader(s)
        try:
            first = r.response()
        except (EOFError, OSError):
            return None, True, []
        more = []
        closed = False
        s.settimeout(2.0)
        while True:
            try:
                more.append(r.response())
            except EOFError:
                closed = True
                break
            except ConnectionResetError:
                closed = True
                break
            except OSError:  # timeout: still open
                break
        return first, closed, more
    finally:
        s.close()


def get(port, path="/healthz", source=None, headers=b"", timeout=10.0):
    """GET path on a fresh connection; the response or None."""
    first, _, _ = exchange(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           + headers + b"Connection: close\r\n\r\n", timeout, source)
    return first


def server_flags(binary):
    """The flags `serve --help` lists (a baseline build may lack the newer ones)."""
    out = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True,
                         timeout=30)
    text = out.stdout + out.stderr
    return {w.rstrip(",") for w in text.split() if w.startswith("--")}


def proc_status_kib(pid, field):
    """A field of /proc/<pid>/status in KiB: VmRSS (now), VmHWM (the peak so far)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def raise_fd_limit(need):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= need


def server_binary_from(args_server):
    """--server, else $CHATBOTMGR_SERVER (to run an attack against another build)."""
    return args_server or os.environ.get("CHATBOTMGR_SERVER")
