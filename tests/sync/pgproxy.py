"""pgproxy.py - a TCP proxy between sikhnas-hub and PostgreSQL that can be
switched off and on (the database "goes away" and comes back on the same
address) and that can cut one connection at the moment the hub sends a
chosen query, reading the PostgreSQL wire protocol to find it.

    p = PgProxy(pg.port)                      # listens on a free port (or port=)
    conninfo = p.conninfo(pg)                 # sslmode=disable: the bytes stay readable
    p.arm(b'UPDATE node SET acked_seq', 'commit')
    p.stop(); p.start()                       # every connection dropped, then back

Modes of arm(marker, mode), for the first simple Query message ('Q') or
extended-protocol Parse message ('P': a statement sent with parameters, as
in a pipeline) that contains marker:
  'commit'  the query goes to PostgreSQL (with the rest of its pipeline, up
            to the Sync), the hub's side is reset at once, and the proxy
            reads PostgreSQL's answers to the end (ReadyForQuery) before it
            closes: the transaction commits and its answer is lost, as when
            a connection dies at COMMIT.
  'drop'    the query never reaches PostgreSQL and both sides are reset:
            the transaction is rolled back.
fired is set (a threading.Event) once it happened. Threads, standard
library only."""
import socket
import struct
import threading


def _recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise EOFError
        buf += d
    return buf


def _reset(s):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


class PgProxy:
    def __init__(self, target_port, port=0):
        self.target = ('127.0.0.1', target_port)
        self.port = port
        self.ls = None
        self.lock = threading.Lock()
        self.conns = []                 # [client socket, server socket]
        self.marker = self.mode = None
        self.fired = threading.Event()
        self.start()

    def conninfo(self, pg, extra=''):
        return ('host=127.0.0.1 port=%d dbname=%s user=%s connect_timeout=2 sslmode=disable '
                'gssencmode=disable %s' % (self.port, pg.dbname, pg.user, extra)).strip()

    def start(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(('127.0.0.1', self.port))
        ls.listen(64)
        self.port = ls.getsockname()[1]
        self.ls = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def stop(self):
        """Stops listening and resets every connection (the database is gone)."""
        ls, self.ls = self.ls, None
        if ls:
            try:
                ls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ls.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for c, s in conns:
            _reset(c)
            _reset(s)

    def arm(self, marker, mode):
        assert mode in ('commit', 'drop')
        self.fired.clear()
        self.marker, self.mode = marker, mode

    def _accept(self, ls):
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(self.target, timeout=10)
                s.settimeout(None)
            except OSError:
                _reset(c)
                continue
            state = {'cut': False}
            with self.lock:
                self.conns.append((c, s))
            threading.Thread(target=self._up, args=(c, s, state), daemon=True).start()
            threading.Thread(target=self._down, args=(c, s, state), daemon=True).start()

    def _up(self, c, s, state):
        """Client -> server: the startup message, then typed messages."""
        try:
            n = struct.unpack('!I', _recv_exact(c, 4))[0]
            s.sendall(struct.pack('!I', n) + _recv_exact(c, n - 4))
            while True:
                head = _recv_exact(c, 5)
                body = _recv_exact(c, struct.unpack('!I', head[1:])[0] - 4)
                marker = self.marker
                if state.get('to_sync'):
                    s.sendall(head + body)
                    if head[:1] == b'S':          # the pipeline's end: cut the hub off
                        state['cut'] = True
                        _reset(c)
                        return
                    continue
                if head[:1] in (b'Q', b'P') and marker and marker in body:
                    self.marker = None
                    self.fired.set()                # before the hub can see the cut
                    if self.mode == 'drop':
                        _reset(c)
                        _reset(s)
                    elif head[:1] == b'P':
                        state['to_sync'] = True   # the rest of the pipeline goes through
                        s.sendall(head + body)
                        continue
                    else:
                        state['cut'] = True       # _down now swallows the answers
                        s.sendall(head + body)
                        _reset(c)
                    return
                s.sendall(head + body)
        except (OSError, EOFError, struct.error):
            pass
        if not state['cut']:
            _reset(s)
            _reset(c)

    def _down(self, c, s, state):
        """Server -> client, message by message (sslmode=disable: all typed)."""
        try:
            while True:
                head = _recv_exact(s, 5)
                body = _recv_exact(s, struct.unpack('!I', head[1:])[0] - 4)
                if state['cut']:
                    if head[:1] == b'Z':          # ReadyForQuery: the query has ended
                        break
                    continue
                c.sendall(head + body)
        except (OSError, EOFError, struct.error):
            pass
        _reset(s)
        _reset(c)
