"""Real engines for the collector's several-node tests and bench
(test_collector_pg.py, test_collector_nats.py, test_proxy_protocol.py,
test_collector_cluster.py, bench/collect-cluster): a throwaway PostgreSQL
cluster (initdb + pg_ctl as nobody in a temp folder), a nats-server with
JetStream read back by build/natsconsume, and HAProxy from a config
text. Each one listens on a free loopback port and is gone at stop()."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
NATS_SERVER = shutil.which("nats-server")
HAPROXY = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc=None, timeout=10, what="server"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"{what} exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not listen on {port}")
            time.sleep(0.02)


class PgCluster:
    """initdb + pg_ctl as nobody (initdb refuses root) in a temp folder."""

    def __init__(self, max_connections=60):
        self.dir = Path(tempfile.mkdtemp(prefix="wsmd-pg-"))
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "nobody")
        self.data = self.dir / "data"
        self.port = free_port()
        self.max_connections = max_connections
        self.as_nobody(PG_BIN / "initdb", "-D", self.data, "-U", "wsmd", "--auth=trust",
                       "-E", "UTF8", "--no-sync")
        self.start()

    def as_nobody(self, *cmd, check=True):
        return subprocess.run(["runuser", "-u", "nobody", "--", *map(str, cmd)],
                              capture_output=True, text=True, timeout=60, check=check,
                              cwd=str(self.dir))

    def start(self):
        self.as_nobody(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w", "-o",
                       f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                       f"-c shared_buffers=16MB -c max_connections={self.max_connections}",
                       "start")

    def stop(self, mode="fast"):
        self.as_nobody(PG_BIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "stop",
                       check=False)

    def remove(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, db="postgres"):
        cp = self.as_nobody(PG_BIN / "psql", "-h", self.dir, "-p", self.port, "-U", "wsmd",
                            "-d", db, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return cp.stdout

    def pids(self):
        """The postmaster and its children."""
        main = int((self.data / "postmaster.pid").read_text().split()[0])
        out = [main]
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == main:
                        out.append(int(d.name))
                except (OSError, IndexError, ValueError):
                    pass
        return out

    def uri(self, db):
        return f"postgresql://wsmd@127.0.0.1:{self.port}/{db}"


class Nats:
    """nats-server -js with its store in TMP/js; consume() reads a stream
    back with build/natsconsume (a real JetStream consumer on libnats)."""

    def __init__(self, tmp, consume_bin):
        self.dir = Path(tmp) / "js"
        self.dir.mkdir(exist_ok=True)
        self.consume_bin = consume_bin
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.log = open(self.dir.parent / "nats.log", "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-js", "-sd", str(self.dir), "-a", "127.0.0.1",
                                      "-p", str(self.port)], stdout=self.log, stderr=self.log)
        wait_listening(self.port, self.proc, what="nats-server")

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.kill()

    def consume(self, stream="WSMD", subjects="wsmd.events.>", timeout=30):
        cp = subprocess.run([self.consume_bin, self.url, stream, subjects], capture_output=True,
                            text=True, timeout=timeout)
        assert cp.returncode == 0, cp.stderr
        lines = cp.stdout.splitlines()
        assert lines[-1].startswith("count ")
        rows = [line.split("\t", 3) for line in lines[:-1]]
        assert len(rows) == int(lines[-1].split()[1])
        return [(subj, mid, json.loads(data)) for _, subj, mid, data in rows]


class HAProxy:
    """haproxy -db on a config text; ports are the frontends it must open."""

    def __init__(self, tmp_path, config, ports):
        cfg = Path(tmp_path) / "haproxy.cfg"
        cfg.write_text(config)
        self.log = open(Path(tmp_path) / "haproxy.log", "wb")
        self.proc = subprocess.Popen([HAPROXY, "-f", str(cfg), "-db"], stdout=self.log,
                                     stderr=self.log)
        for p in ports:
            wait_listening(p, self.proc, what="haproxy")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


def cluster_haproxy_config(port, backends, inter_ms=200, timeout_s=120, balance="roundrobin"):
    """The configuration of docs/collector.md "Several nodes": TCP mode,
    PROXY v2 to the nodes (the health check sends one too, a LOCAL one, so
    the nodes' listener does not wait for it), round robin (leastconn sends
    one-at-a-time connections all to the first node: ties are not rotated), a fast check so a
    killed node leaves the pool within a retry interval, and client/server
    timeouts above a source's longest heartbeat or batch."""
    servers = "\n".join(
        f"  server n{i} 127.0.0.1:{p} send-proxy-v2 check check-send-proxy "
        f"inter {inter_ms}ms fall 1 rise 2" for i, p in enumerate(backends))
    return f"""global
  maxconn 2000
defaults
  mode tcp
  timeout connect 1s
  timeout client {timeout_s}s
  timeout server {timeout_s}s
  retries 2
  option redispatch
frontend wec
  bind 127.0.0.1:{port}
  default_backend collectors
backend collectors
  balance {balance}
{servers}
"""


def kill9(d):
    """kill -9 a wsmd (the daemon and its network process) from conftest's
    wsmd_factory; its teardown then does not count it as a crash."""
    for p in {d.pid, d.work_pid}:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    d.proc.wait()
    log = d.log()
    d.stop = lambda: (0, log)
