"""A fake GSM modem on a pseudo-terminal for smsd (smstools3): it answers
the AT commands smsd sends (PDU mode), keeps received messages in a fake
SIM that smsd reads and deletes (AT+CPMS, AT+CMGR, AT+CMGL, AT+CMGD), and
decodes what smsd sends (AT+CMGS, then the PDU and Ctrl-Z) with pdu.py.
Runs in a thread of the test; stop() closes the pty."""
import os
import pty
import re
import select
import threading
import time
import tty

import pdu

SIM_SIZE = 20


class FakeModem:
    def __init__(self, log_path=None):
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        self.device = os.ttyname(self.slave)
        self.sim = {}                     # slot -> SMS-DELIVER PDU hex
        self.parts = []                   # every SMS-SUBMIT decoded, in order
        self.commands = []                # every command line received
        self.lock = threading.Lock()
        self.log = open(log_path, 'a') if log_path else None
        self._stop = False
        self._mr = 0
        self._pending_len = None          # after AT+CMGS=n: the PDU comes next
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # ------------------------------------------------------------ test side

    def inject(self, sender, text, when=(26, 11, 28, 10, 1, 2, 28), ucs2=None):
        """A received message, stored in the first free SIM slot."""
        with self.lock:
            slot = next(i for i in range(1, SIM_SIZE + 1) if i not in self.sim)
            self.sim[slot] = pdu.deliver(sender, text, when, ucs2)
        return slot

    def messages(self):
        """The messages sent, parts joined: [{'number', 'text', 'dcs', 'parts'}]."""
        with self.lock:
            parts = list(self.parts)
        out, open_ = [], {}
        for p in parts:
            c = p['concat']
            if not c:
                out.append(dict(p, parts=1))
                continue
            key = (p['number'], c[0])
            m = open_.setdefault(key, {'number': p['number'], 'dcs': p['dcs'], 'total': c[1],
                                       'texts': {}})
            m['texts'][c[2]] = p['text']
            if len(m['texts']) == m['total']:
                del open_[key]
                out.append({'number': m['number'], 'dcs': m['dcs'], 'parts': m['total'],
                            'text': ''.join(m['texts'][i] for i in sorted(m['texts']))})
        return out

    def sim_empty(self):
        with self.lock:
            return not self.sim

    def stop(self):
        self._stop = True
        self.thread.join(5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.log:
            self.log.close()

    # ------------------------------------------------------------ modem side

    def _say(self, text):
        if self.log:
            self.log.write('<- %r\n' % text)
            self.log.flush()
        os.write(self.master, text.encode('ascii'))

    def _run(self):
        buf = b''
        while not self._stop:
            try:
                r, _, _ = select.select([self.master], [], [], 0.1)
                if not r:
                    continue
                buf += os.read(self.master, 4096)
            except OSError:
                time.sleep(0.1)
                continue
            while True:
                ends = [i for i in (buf.find(b'\r'), buf.find(b'\x1a')) if i >= 0]
                if not ends:
                    break
                i = min(ends)
                line, buf = buf[:i].decode('ascii', 'replace').strip(), buf[i + 1:]
                if line:
                    self._line(line)

    def _line(self, line):
        if self.log:
            self.log.write('-> %s\n' % line)
            self.log.flush()
        if self._pending_len is not None:          # the PDU after AT+CMGS
            self._pending_len = None
            try:
                part = pdu.submit(line)
            except (ValueError, IndexError) as e:
                self._say('\r\n+CMS ERROR: 304\r\n')
                if self.log:
                    self.log.write('bad PDU %s: %s\n' % (line, e))
                return
            with self.lock:
                self.parts.append(part)
                self._mr = (self._mr + 1) % 256
            self._say('\r\n+CMGS: %d\r\n\r\nOK\r\n' % self._mr)
            return
        with self.lock:
            self.commands.append(line)
        self._say(self._answer(line.upper()))

    def _answer(self, cmd):
        ok = '\r\nOK\r\n'
        m = re.match(r'AT\+CMGS=(\d+)$', cmd)
        if m:
            self._pending_len = int(m.group(1))
            return '\r\n> '
        if cmd == 'AT+CPIN?':
            return '\r\n+CPIN: READY\r\n' + ok
        if cmd == 'AT+CSQ':
            return '\r\n+CSQ: 20,0\r\n' + ok
        if cmd == 'AT+CREG?':
            return '\r\n+CREG: 0,1\r\n' + ok
        if cmd.startswith('AT+CPMS'):
            with self.lock:
                n = len(self.sim)
            if cmd.endswith('?'):
                return '\r\n+CPMS: "SM",%d,%d,"SM",%d,%d,"SM",%d,%d\r\n' % (
                    n, SIM_SIZE, n, SIM_SIZE, n, SIM_SIZE) + ok
            return '\r\n+CPMS: %d,%d,%d,%d,%d,%d\r\n' % (n, SIM_SIZE, n, SIM_SIZE, n,
                                                        SIM_SIZE) + ok
        m = re.match(r'AT\+CMGR=(\d+)$', cmd)
        if m:
            with self.lock:
                p = self.sim.get(int(m.group(1)))
            if p is None:
                return ok
            return '\r\n+CMGR: 0,,%d\r\n%s\r\n' % (len(p) // 2 - 1 - int(p[:2], 16), p) + ok
        if cmd.startswith('AT+CMGL'):
            with self.lock:
                items = sorted(self.sim.items())
            return '\r\n' + ''.join('+CMGL: %d,0,,%d\r\n%s\r\n' % (
                k, len(p) // 2 - 1 - int(p[:2], 16), p) for k, p in items) + ok
        m = re.match(r'AT\+CMGD=(\d+)', cmd)
        if m:
            with self.lock:
                self.sim.pop(int(m.group(1)), None)
            return ok
        return ok
