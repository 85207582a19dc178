"""A chatbotmgr-server child process for the Python tests (standard library only).

Shared by tests/e2e and tests/postgres: starts the binary with the given arguments,
collects stdout and stderr on reader threads, waits for its "listening on" line, and
stops it with a signal.
"""
import queue
import re
import signal
import subprocess
import threading
import time


class Failure(Exception):
    pass


class ServerProcess:
    def __init__(self, argv, env=None, name="server"):
        self.name = name
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env)
        self.stdout_lines, self.stderr_lines = [], []
        self._events = queue.Queue()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.stdout_lines, True),
                             daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr_lines, False),
                             daemon=True)]
        for r in self._readers:
            r.start()
        self.base = None  # "http://host:port", once listening
        self.port = None

    def _pump(self, stream, sink, notify):
        for line in stream:
            sink.append(line.rstrip("\n"))
            if notify:
                self._events.put(line)
        if notify:
            self._events.put(None)

    def wait_listening(self, timeout=30):
        """Waits for the "listening on" line; returns the base URL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._events.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                raise Failure("%s exited before listening; stderr:\n%s" %
                              (self.name, self.stderr()))
            m = re.search(r"listening on (http://[0-9.]+:([0-9]+))", line)
            if m:
                self.base, self.port = m.group(1), int(m.group(2))
                return self.base
        raise Failure("%s did not print its address in time; stderr:\n%s" %
                      (self.name, self.stderr()))

    def credentials(self):
        """(email, password) of the admin user printed on first start, or None."""
        text = "\n".join(self.stdout_lines)
        email = re.search(r"^\s*email:\s+(\S+)$", text, re.M)
        password = re.search(r"^\s*password:\s+(\S+)$", text, re.M)
        return (email.group(1), password.group(1)) if email and password else None

    def output(self):
        return "\n".join(self.stdout_lines + self.stderr_lines)

    def stderr(self):
        return "\n".join(self.stderr_lines)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends sig (unless the process has exited) and returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("%s did not stop within %ss of %s" % (self.name, timeout, sig.name))
        for r in self._readers:
            r.join(timeout=5)
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
