"""linkemu.py - a 2G-like link in user space, for machines without netem
(`tc qdisc ... netem` answers "Specified qdisc kind is unknown" here).

Two TUN devices: `skf<N>a` stays in this network namespace (10.77.N.1),
`skf<N>b` is moved into a namespace the emulator creates (10.77.N.2). A
forwarder joins them: in each direction a packet is dropped with the loss
probability (or always, while the link is cut), waits in a queue while the
link sends the packets before it at the set rate (tail drop past queue_s of
backlog), then travels half the round trip. Programs run in the namespace
with `Link.cmd()` (`ip netns exec`); /etc/netns/<name>/hosts makes
`localhost` the far end, so a certificate for localhost still matches.
Python 3 standard library; needs root (namespaces, TUN)."""
import fcntl
import heapq
import os
import random
import select
import socket
import struct
import subprocess
import threading
import time

TUNSETIFF = 0x400454ca
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def _ip(*args, ns=None):
    cmd = (['ip', 'netns', 'exec', ns] if ns else []) + ['ip'] + list(args)
    subprocess.run(cmd, check=True, capture_output=True)


def _tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    """One direction of the link: its queue and its counters."""

    def __init__(self, name, rate_bps, delay_s, loss, queue_s, rng):
        self.name, self.rate, self.delay, self.loss = name, rate_bps, delay_s, loss
        self.queue_s, self.rng = queue_s, rng
        self.busy_until = 0.0
        self.offered = self.sent = self.dropped = self.cut = 0     # bytes
        self.busy = 0.0                                            # seconds sending

    def admit(self, now, n, down):
        """The time the packet of n bytes arrives at the far end, or None."""
        self.offered += n
        if down:
            self.cut += n
            return None
        if self.rng.random() < self.loss:
            self.dropped += n
            return None
        start = max(now, self.busy_until)
        if start - now > self.queue_s:
            self.dropped += n
            return None
        tx = n * 8.0 / self.rate
        self.busy_until = start + tx
        self.busy += tx
        self.sent += n
        return self.busy_until + self.delay


class Link:
    def __init__(self, rate_bps, rtt_s, loss, queue_s=3.0, seed=1, up_rate_bps=None):
        self.n = os.getpid() % 200 + 20
        self.ns = 'skfield%d' % os.getpid()
        self.near, self.far = '10.77.%d.1' % self.n, '10.77.%d.2' % self.n
        rng = random.Random(seed)
        self.up = Direction('up', up_rate_bps or rate_bps, rtt_s / 2, loss, queue_s, rng)
        self.down = Direction('down', rate_bps, rtt_s / 2, loss, queue_s, rng)
        self.cut_until = 0.0
        self.heap, self.seq = [], 0
        self.cv = threading.Condition()
        self.closed = False
        self.fds = []
        self.threads = []
        self.relays = []

    # ------------------------------------------------------------ set up
    def start(self):
        a, b = 'skf%da' % self.n, 'skf%db' % self.n
        _ip('netns', 'add', self.ns)
        os.makedirs('/etc/netns/%s' % self.ns, exist_ok=True)
        with open('/etc/netns/%s/hosts' % self.ns, 'w') as f:
            f.write('%s localhost\n127.0.0.1 nearby\n' % self.near)
        fa, fb = _tun(a), _tun(b)
        self.fds = [fa, fb]
        _ip('link', 'set', b, 'netns', self.ns)
        _ip('addr', 'add', self.near + '/30', 'dev', a)
        _ip('link', 'set', a, 'up')
        _ip('addr', 'add', self.far + '/30', 'dev', b, ns=self.ns)
        _ip('link', 'set', b, 'up', ns=self.ns)
        _ip('link', 'set', 'lo', 'up', ns=self.ns)
        # far (the node) -> near (the hub) is "up"
        for src, dst, d in ((fb, fa, self.up), (fa, fb, self.down)):
            t = threading.Thread(target=self._read, args=(src, dst, d), daemon=True)
            t.start()
            self.threads.append(t)
        t = threading.Thread(target=self._deliver, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def relay(self, port):
        """Listens on the near address at a free port and relays to
        127.0.0.1:port (where the hub listens); returns the port."""
        r = Relay(self.near, port)
        self.relays.append(r)
        return r.port

    def cmd(self, argv):
        return ['ip', 'netns', 'exec', self.ns] + list(argv)

    def close(self):
        self.closed = True
        with self.cv:
            self.cv.notify_all()
        for r in self.relays:
            r.close()
        for t in self.threads:
            t.join(timeout=2)
        for fd in self.fds:
            os.close(fd)
        subprocess.run(['ip', 'netns', 'del', self.ns], capture_output=True)
        try:
            os.remove('/etc/netns/%s/hosts' % self.ns)
            os.rmdir('/etc/netns/%s' % self.ns)
        except OSError:
            pass

    # ------------------------------------------------------------ the link
    def cut(self, seconds):
        """Drops every packet, both ways, for the next `seconds`."""
        self.cut_until = time.monotonic() + seconds

    def _read(self, src, dst, d):
        while not self.closed:
            r, _, _ = select.select([src], [], [], 0.2)
            if not r:
                continue
            try:
                pkt = os.read(src, 65535)
            except OSError:
                return
            now = time.monotonic()
            with self.cv:
                at = d.admit(now, len(pkt), now < self.cut_until)
                if at is not None:
                    self.seq += 1
                    heapq.heappush(self.heap, (at, self.seq, dst, pkt))
                    self.cv.notify()

    def _deliver(self):
        with self.cv:
            while not self.closed:
                if not self.heap:
                    self.cv.wait(0.5)
                    continue
                at, _, dst, pkt = self.heap[0]
                wait = at - time.monotonic()
                if wait > 0:
                    self.cv.wait(wait)
                    continue
                heapq.heappop(self.heap)
                try:
                    os.write(dst, pkt)
                except OSError:
                    pass

    def counters(self):
        return {d.name: {'offered': d.offered, 'sent': d.sent, 'dropped': d.dropped,
                         'cut': d.cut, 'busy_s': d.busy} for d in (self.up, self.down)}


class Relay:
    """TCP relay from (addr, free port) to 127.0.0.1:target."""

    def __init__(self, addr, target):
        self.target = target
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind((addr, 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(('127.0.0.1', self.target))
            except OSError:
                c.close()
                continue
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.ls.close()


def calibrate(link, nbytes=62500):
    """Seconds to send nbytes over TCP from the far end to the near one
    (the link's own check: ideal is nbytes * 8 / rate)."""
    ls = socket.socket()
    ls.bind((link.near, 0))
    ls.listen(1)
    port = ls.getsockname()[1]
    got = []

    def sink():
        c, _ = ls.accept()
        n = 0
        while True:
            d = c.recv(65536)
            if not d:
                break
            n += len(d)
        got.append((n, time.monotonic()))
        c.close()
    t = threading.Thread(target=sink, daemon=True)
    t.start()
    code = ('import socket,sys,time; s=socket.create_connection((sys.argv[1], int(sys.argv[2])));'
            'time.sleep(0.5); t=time.monotonic(); s.sendall(b"x"*int(sys.argv[3])); s.close()')
    t0 = time.monotonic()
    subprocess.run(link.cmd(['python3', '-c', code, link.near, str(port), str(nbytes)]),
                   check=True, timeout=120)
    t.join(timeout=120)
    ls.close()
    return got[0][1] - t0 - 0.5 if got else None
