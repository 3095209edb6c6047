"""faultproxy.py - a TCP proxy on 127.0.0.1 that cuts connections on purpose.

    p = FaultProxy(target_port, cut_up=N)     # cut after N client->server bytes
    p = FaultProxy(target_port, cut_down=N)   # cut after N server->client bytes
    p.port ... p.close()

A cut closes both sides at once (the hub sees a request end mid-body, or the
client sees a response end mid-body). Threads, standard library only."""
import socket
import threading


class FaultProxy:
    def __init__(self, target_port, cut_up=None, cut_down=None):
        self.target = ('127.0.0.1', target_port)
        self.cut_up, self.cut_down = cut_up, cut_down
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(('127.0.0.1', 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.cuts = 0
        self.up_bytes = self.down_bytes = 0
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.target, timeout=10)
            except OSError:
                c.close()
                continue
            state = {'dead': False}
            threading.Thread(target=self._pump, args=(c, s, self.cut_up, state, 'up'),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, self.cut_down, state, 'down'),
                             daemon=True).start()

    def _kill(self, a, b, state):
        if not state['dead']:
            state['dead'] = True
            self.cuts += 1
        for x in (a, b):
            try:
                # RST, and wake the other pump thread blocked in recv()
                x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                x.close()
            except OSError:
                pass

    def _pump(self, src, dst, limit, state, way):
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                # cut only when there is something past the limit to hold
                # back: an exchange that ends exactly at it (an answer a
                # byte shorter than the one measured) goes whole, uncut
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[:max(0, limit - sent)])
                    self._kill(src, dst, state)
                    return
                dst.sendall(data)
                sent += len(data)
                if way == 'up':
                    self.up_bytes += len(data)
                else:
                    self.down_bytes += len(data)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                x.close()
            except OSError:
                pass

    def close(self):
        self.closed = True
        self.ls.close()
