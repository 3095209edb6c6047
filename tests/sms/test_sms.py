#!/usr/bin/env python3
"""SMS intake tests: the real sikhnas-node on a real spool directory and a
real SQLite store. Every message kind, every error reply, duplicate delivery,
unknown phones, garbage bytes, alerts for the district's vets, replies
written only after the commit, and nothing stored for refused messages.
usage: test_sms.py PATH/TO/sikhnas-node"""
import glob
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import nodetest  # noqa: E402

EXE = None
REPORTER = '6281234567890'       # a village reporter (Pelsa) of 3201011001
VET = '6281298765432'            # district vets
VET2 = '6281311112222'
CLERK = '6281355556666'
VIEWER = '6281377778888'
STRANGER = '6289999999999'
NO_VILLAGE = '6281200001111'     # a reporter registered without a village


GSM7 = set('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡'
           'ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà')
GSM7_EXT = set('^{}\\[~]|€\f')


def sms_units(text):
    """(units, ucs2): GSM-7 septets, or UTF-16 units when a character is not GSM-7."""
    if all(c in GSM7 or c in GSM7_EXT for c in text):
        return sum(2 if c in GSM7_EXT else 1 for c in text), False
    return len(text.encode('utf-16-le')) // 2, True


def sms_fits(text):
    n, ucs2 = sms_units(text)
    return n <= (70 if ucs2 else 160)


class Spool:
    """A node with officers and an smstools3-style spool."""

    def __init__(self, prime=True):
        self.node = nodetest.Node(EXE)
        self.dir = os.path.join(self.node.tmp, 'spool')
        for sub in ('incoming', 'outgoing'):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.n = 0
        for name, phone, role, village in [
                ('Budi Pelsa', '0' + REPORTER[2:], 'reporter', '3201011001'),
                ('Drh Sari', '+' + VET, 'vet', '3201011002'),
                ('Drh Andi', VET2, 'vet', '3201011003'),
                ('Citra Data', CLERK, 'clerk', '3201011001'),
                ('Dewi Lihat', VIEWER, 'viewer', '3201011001')]:
            r = self.node.run('officer', 'add', '--name', name, '--phone', phone, '--role', role,
                              '--village', village)
            assert r.returncode == 0, r.stderr
        if prime:       # the first pass remembers the spool for `status` (the store's meta)
            self.process()

    def drop(self, text, sender=REPORTER, sent=None, name=None, raw=None, headers=None):
        """Puts a message file into incoming/ the way smstools3 writes one."""
        self.n += 1
        sent = sent or '26-11-28 10:%02d:%02d' % (self.n // 60 % 60, self.n % 60)
        if raw is None:
            head = headers if headers is not None else (
                'From: %s\nFrom_TOA: 91 international, ISDN/telephone\nFrom_SMSC: 6281100000\n'
                'Sent: %s\nReceived: 26-11-28 10:05:00\nSubject: GSM1\nModem: GSM1\nIMSI: 510\n'
                'Report: no\nAlphabet: ISO\nLength: %d\n' % (sender, sent, len(text)))
            raw = (head + '\n' + text).encode('utf-8') if isinstance(text, str) else \
                head.encode() + b'\n' + text
        name = name or 'GSM1.%06d' % self.n
        path = os.path.join(self.dir, 'incoming', name)
        with open(path + '.part', 'wb') as fp:
            fp.write(raw)
        os.utime(path + '.part', (time.time() - 5, time.time() - 5))
        os.rename(path + '.part', path)
        return name

    def process(self, expect=0, config=None, gateway='smstools'):
        args = ['sms', 'process', '--spool', self.dir] + (['--gateway', gateway] if gateway else [])
        if config:
            args = ['--config', config] + args
            r = subprocess.run([EXE, '--db', self.node.db] + args, capture_output=True,
                               text=True, timeout=120)
        else:
            r = self.node.run(*args, timeout=120)
        assert r.returncode == expect, (r.returncode, r.stdout, r.stderr)
        return r

    def outgoing(self):
        """{phone: [texts]} of the outgoing folder, and removes the files."""
        out = {}
        # by mtime, then by name: two replies written in one clock tick keep
        # the order of their zero-padded sequence numbers
        for f in sorted(glob.glob(os.path.join(self.dir, 'outgoing', '*')),
                        key=lambda f: (os.stat(f).st_mtime_ns, os.path.basename(f))):
            with open(f, 'rb') as fp:
                data = fp.read().decode('utf-8')
            head, _, text = data.partition('\n\n')
            to = [h[4:].strip() for h in head.split('\n') if h.startswith('To: ')]
            out.setdefault(to[0] if to else os.path.basename(f), []).append(text)
            os.unlink(f)
        return out

    def reply(self, text, sender=REPORTER, **kw):
        """Sends one message, processes the spool, returns the one reply."""
        self.drop(text, sender=sender, **kw)
        self.process()
        out = self.outgoing()
        assert list(out.keys()) == [sender], out
        assert len(out[sender]) == 1, out
        return out[sender][0]

    def files(self, sub):
        return sorted(os.listdir(os.path.join(self.dir, sub)))


class Kinds(unittest.TestCase):
    """Every message kind of DOMAIN.md §7 that we support, with its record."""

    @classmethod
    def setUpClass(cls):
        cls.s = Spool()

    def test_u(self):
        s = self.s
        r = s.reply('U KBG,DMM SP 2')
        self.assertRegex(r, r'^Terima kasih\. \[ID kasus 3201-\d{6}\] Tanda: kembung, demam')
        self.assertIn('2 sapi', r)
        self.assertIn('Desa Pondok Rajeg', r)           # the reporter's village by default
        ref = r.split('[ID kasus ')[1].split(']')[0]
        row = s.node.sql('SELECT kind, village, signs, animals, reporter, event_date FROM '
                         'case_report WHERE ref = ?', (ref,))[0]
        self.assertEqual(row[0], 'U')
        self.assertEqual(row[1], '3201011001')
        self.assertEqual(row[2], '["KBG","DMM"]')
        self.assertIn('"species":"SP","sick":2', row[3])
        self.assertEqual(row[4], '+' + REPORTER)
        self.assertEqual(row[5], '2026-11-28')           # from the modem's Sent: header
        # the same outbox as every other way in
        self.assertEqual(s.node.sql("SELECT count(*) FROM outbox o JOIN case_report c ON "
                                    "c.id = o.row_id WHERE c.ref = ?", (ref,))[0][0], 1)

    def test_u_lowercase_with_village_and_ddx(self):
        # another village than the sender's own: a vet's report (a village
        # reporter may name only their own, see Errors)
        r = self.s.reply('u kbg , dmm sp 2 kb 5 32.01.01.1006 ant', sender=VET)
        self.assertIn('Desa Cibinong', r)
        ref = r.split('[ID kasus ')[1].split(']')[0]
        row = self.s.node.sql('SELECT village, ddx, animals FROM case_report WHERE ref = ?',
                              (ref,))[0]
        self.assertEqual(row[0], '3201011006')
        self.assertEqual(row[1], '["ANT"]')
        self.assertIn('"KB"', row[2])

    def test_p_alerts_every_vet_of_the_district(self):
        s = self.s
        s.drop('P MMD SP 3')
        s.process()
        out = s.outgoing()
        self.assertEqual(sorted(out.keys()), sorted([REPORTER, VET, VET2]))
        reply = out[REPORTER][0]
        self.assertRegex(reply, r'^Terima kasih\. \[ID kasus 3201-\d{6}\] Sindrom: '
                                r'mati mendadak')
        ref = reply.split('[ID kasus ')[1].split(']')[0]
        for vet in (VET, VET2):
            self.assertEqual(len(out[vet]), 1)
            alert = out[vet][0]
            self.assertIn('PERINGATAN', alert)
            self.assertIn('suspek antraks', alert)
            self.assertIn(ref, alert)
            self.assertIn('Budi Pelsa', alert)
        self.assertEqual(s.node.sql('SELECT kind, syndrome FROM case_report WHERE ref = ?',
                                    (ref,)), [('P', 'MMD')])

    def test_p_from_a_vet_alerts_the_other_vets(self):
        s = self.s
        s.drop('P GGK AJ 1', sender=VET)
        s.process()
        out = s.outgoing()
        self.assertEqual(sorted(out.keys()), sorted([VET, VET2]))
        self.assertIn('gila galak', out[VET2][0])

    def _case(self):
        r = self.s.reply('U DIA KB 4')
        return r.split('[ID kasus ')[1].split(']')[0]

    def test_pk(self):
        ref = self._case()
        r = self.s.reply('PK %s SB' % ref, sender=VET)
        self.assertEqual(r, 'Terima kasih. [ID kasus %s] Hasil: sembuh.' % ref)
        cid = self.s.node.sql('SELECT id FROM case_report WHERE ref = ?', (ref,))[0][0]
        self.assertEqual(self.s.node.sql('SELECT outcome, reporter FROM case_followup WHERE '
                                         'case_id = ?', (cid,)), [('SB', '+' + VET)])
        # the bare number means this district's case; lower case is fine
        num = int(ref.split('-')[1])
        r = self.s.reply('pk %d mt' % num, sender=CLERK)
        self.assertIn('Hasil: mati', r)
        # LAPK shows the latest outcome
        r = self.s.reply('LAPK %s' % ref, sender=VIEWER)
        self.assertIn('[ID kasus %s]' % ref, r)
        self.assertIn('4 kambing', r)
        self.assertIn('Hasil: mati', r)

    def test_ltl(self):
        ref = self._case()
        r = self.s.reply('LTL %s KB 10 5 0 20 Y' % ref, sender=VET)
        self.assertIn('Tindak lanjut [ID kasus %s]' % ref, r)
        self.assertIn('kambing: 10 sakit, 5 mati, 0 dimusnahkan, 20 berisiko', r)
        self.assertIn('Kepala Dinas', r)
        cid = self.s.node.sql('SELECT id FROM case_report WHERE ref = ?', (ref,))[0][0]
        row = self.s.node.sql('SELECT outcome, animals, escalate FROM case_followup WHERE '
                              'case_id = ?', (cid,))[0]
        self.assertIsNone(row[0])
        self.assertEqual(row[1], '[{"species":"KB","sick":10,"dead":5,"culled":0,"at_risk":20}]')
        self.assertEqual(row[2], 1)

    def test_vak(self):
        r = self.s.reply('VAK 18 3201011002 SP 20 5 KB 10', sender=VET)
        self.assertIn('Vaksinasi program 18 di Desa Karadenan', r)
        self.assertIn('sapi 20 (ulangan 5); kambing 10', r)
        row = self.s.node.sql("SELECT program, village, animals FROM vaccination "
                              "WHERE program = '18'")[0]
        self.assertEqual(row[1], '3201011002')
        self.assertEqual(row[2], '[{"species":"SP","primary":20,"booster":5},'
                                 '{"species":"KB","primary":10,"booster":0}]')

    def test_pop(self):
        before = self.s.node.sql('SELECT count(*) FROM population_report')[0][0]
        r = self.s.reply('POP SP 120 KB 40')
        self.assertIn('Populasi di Desa Pondok Rajeg', r)
        self.assertIn('sapi 120; kambing 40', r)
        rows = self.s.node.sql('SELECT village, animals FROM population_report')
        self.assertEqual(len(rows), before + 1)
        self.assertIn(('3201011001', '[{"species":"SP","n":120},{"species":"KB","n":40}]'), rows)

    def test_sk(self):
        r = self.s.reply('SK 123456789012345 3201011001 5371 SPAC 10 SPBA 15 081299990000',
                         sender=VET)
        self.assertRegex(r, r'SKKH 3201-SK-\d{6}, pemilik ID 123456789012345')
        self.assertIn('10 sapi aceh, 15 sapi bali', r)
        self.assertIn('Asal: Desa Pondok Rajeg', r)
        permit = r.split('SKKH ')[1].split(',')[0]
        row = self.s.node.sql('SELECT owner_id, owner_phone, from_area, to_area, animals FROM '
                              'movement_permit WHERE permit_no = ?', (permit,))[0]
        self.assertEqual(row[:4], ('123456789012345', '+6281299990000', '3201011001', '5371'))

    def test_queries(self):
        s = self.s
        r = s.reply('KODE')
        self.assertIn('KODE SP (spesies)', r)
        r = s.reply('kode sp')
        self.assertIn('AG angsa', r)
        self.assertIn('AY ayam', r)
        self.assertRegex(r, r' \+\d+ lagi$')        # the rest counted, in one SMS
        self.assertTrue(sms_fits(r), r)
        r = s.reply('KODE SIN')
        self.assertIn('MMD mati', r)
        self.assertIn('PLB penyakit', r)
        self.assertTrue(sms_fits(r), r)
        r = s.reply('CKL cibinong')
        self.assertIn('Cibinong (kec.): 320101', r)
        self.assertIn('Cibinong (desa): 3201011006', r)
        r = s.reply('CKL tidakadadesaini')
        self.assertIn('Tidak ada wilayah', r)
        r = s.reply('?')
        self.assertIn('Kode yang dapat Anda kirim: U, P, POP, KODE, CKL', r)
        self.assertNotIn('PK', r)
        r = s.reply('?', sender=VET)
        self.assertIn('U, P, PK, LTL, VAK, POP, SK, KODE, CKL, LAPK', r)


class Errors(unittest.TestCase):
    """Every error reply, and nothing stored for any of them."""

    @classmethod
    def setUpClass(cls):
        cls.s = Spool()

    def refused(self, text, want, sender=VET):
        before = self.s.node.counts()
        r = self.s.reply(text, sender=sender)
        self.assertIn(want, r, text)
        self.assertEqual(self.s.node.counts(), before, text)
        return r

    def test_bare_codes_give_their_format(self):
        for code, fmt in [('U', 'U [tanda,...] ([spesies] [jumlah]...) {desa} {diagnosis,...}'),
                          ('P', 'P [sindrom] ([spesies] [jumlah]...)'),
                          ('PK', 'PK [ID kasus] [SB|MS|MT]'),
                          ('LTL', 'LTL [ID kasus] ([spesies] [sakit] [mati] [dimusnahkan] '
                                  '[berisiko]...) {Y|T}'),
                          ('VAK', 'VAK [program] {desa}'),
                          ('POP', 'POP ([spesies] [jumlah]...) {desa}'),
                          ('SK', 'SK [ID pemilik] [desa asal] [tujuan]'),
                          ('CKL', 'CKL [nama desa]'),
                          ('LAPK', 'LAPK [ID kasus]')]:
            r = self.refused(code, '[Sikhnas Edge] Format salah (')
            self.assertIn('Contoh: ' + code + ' ', r)
            if code in ('PK', 'POP', 'CKL', 'LAPK'):  # the long formats make way for the example
                self.assertIn('Format: ' + fmt, r)
            self.assertTrue(sms_fits(r), r)

    def test_bad_bodies(self):
        self.refused('U KBG SP X', 'jumlah harus angka: X')
        self.refused('U KBG XX 2', 'spesies/jumlah kode tidak dikenal: XX)')
        self.refused('U ZZZ SP 2', 'tanda kode tidak dikenal: ZZZ)')
        self.refused('P XYZ SP 2', 'sindrom kode tidak dikenal: XYZ)')
        self.refused('U KBG SP 2 3202011001', 'desa bukan di kabupaten/kota ini')
        self.refused('U KBG SP 2 3201999999', 'desa kode tidak dikenal')
        self.refused('U KBG SP 2 3201011001 XX', 'diagnosis kode tidak dikenal')
        self.refused('U KBG SP 99999999', 'harus bilangan bulat')
        self.refused('PK 3201-000001 XX', 'hasil harus SB, MS atau MT')
        self.refused('LTL 1 SP 1 2', 'perlu 4 angka')
        self.refused('POP SP 1 SP 2', 'disebut dua kali')
        self.refused('SK 1 3202011001 5371 SP 2', 'desa asal')
        self.refused('SK 1 3201011001 3201011001 SP 2', 'tujuan')
        self.refused('SK 1 3201011001 5371 SP 2 12345', 'nomor telepon tidak sah')
        self.refused('KODE XYZ', 'jenis kode tidak dikenal')

    def test_counts_must_agree(self):
        self.refused('U KBG SP 0', 'sakit + mati harus 1 atau lebih: 0 < 1')
        self.refused('P MMD AY 2 SP 0', 'spesies/jumlah sakit + mati harus 1 atau lebih')
        r = self.s.reply('U DIA KB 4')
        ref = r.split('[ID kasus ')[1].split(']')[0]
        r = self.refused('LTL %s KB 10 5 6 20' % ref,
                         'sakit + mati + dimusnahkan tidak boleh lebih dari jumlah berisiko: 21 > 20')
        self.assertTrue(r.startswith('[Sikhnas Edge]'), r)
        self.assertIn('dimusnahkan', self.s.reply('LTL %s KB 10 5 5 20' % ref, sender=VET))
        self.assertIn('dimusnahkan', self.s.reply('LTL %s KB 10 5 6 0' % ref, sender=VET))

    def test_unknown_case(self):
        r = self.refused('PK 3201-009999 SB', 'ID kasus 3201-009999 tidak ditemukan')
        self.assertTrue(r.startswith('[Sikhnas Edge]'))
        self.refused('LAPK 424242', 'ID kasus 3201-424242 tidak ditemukan')

    def test_unknown_codes(self):
        r = self.refused('LAB 2055 FES SG PAR 2 730801',
                         'Format SMS tidak dikenali: SMS harus mulai dengan kode berikut: ')
        self.assertIn('U, P, PK, LTL, VAK, POP, SK, KODE, CKL, LAPK', r)
        r = self.refused('Selamat pagi pak', 'Format SMS tidak dikenali', sender=REPORTER)
        self.assertIn('U, P, POP, KODE, CKL', r)
        self.assertNotIn('LTL', r)
        self.refused('   ', 'Format SMS tidak dikenali')

    def test_codes_not_for_this_role(self):
        r = self.refused('PK 1 SB', 'Maaf, kode PK tidak dapat Anda kirim', sender=REPORTER)
        self.assertIn('Kode Anda: U, P, POP, KODE, CKL', r)
        self.refused('U KBG SP 2', 'kode U tidak dapat Anda kirim', sender=VIEWER)

    def test_reporter_only_for_the_own_village(self):
        """U, P and POP name a village; a village reporter's own is the only one
        they may name (the web API says the same: 403 not_own_village)."""
        for text in ('U KBG SP 2 3201011002', 'P MMD SP 3 32.01.01.1002', 'POP SP 5 3201011002'):
            r = self.refused(text, 'Maaf, Anda hanya boleh melapor untuk Desa Pondok Rajeg '
                                   '(3201011001). Laporan untuk Desa Karadenan (3201011002) '
                                   'tidak disimpan.', sender=REPORTER)
            self.assertTrue(r.startswith('[Sikhnas Edge] Maaf'), r)
            self.assertNotIn('Format salah', r)
            row = self.s.node.sql('SELECT status, error FROM sms_in WHERE text = ?', (text,))
            self.assertEqual(row, [('refused', 'village: a village reporter may report only for '
                                               'their own village (3201011001)')])
        before = self.s.node.counts()
        self.assertIn('Terima kasih', self.s.reply('U KBG SP 2 3201011001', sender=REPORTER))
        self.assertIn('Terima kasih', self.s.reply('POP SP 5', sender=REPORTER))
        self.assertIn('Terima kasih', self.s.reply('U KBG SP 2 3201011002', sender=VET))
        self.assertIn('Terima kasih', self.s.reply('POP SP 5 3201011002', sender=CLERK))
        after = self.s.node.counts()
        self.assertEqual(after['case_report'], before['case_report'] + 2)
        self.assertEqual(after['population_report'], before['population_report'] + 2)

    def test_reporter_without_a_village(self):
        r = self.s.node.run('officer', 'add', '--name', 'Tanpa Desa', '--phone', NO_VILLAGE,
                            '--role', 'reporter')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.refused('U KBG SP 2 3201011001', 'belum terdaftar untuk satu desa', sender=NO_VILLAGE)
        self.refused('U KBG SP 2', 'desa wajib diisi', sender=NO_VILLAGE)

    def test_refusals_are_logged_not_stored(self):
        self.refused('U KBG SP X', 'Format salah')
        row = self.s.node.sql("SELECT status, code, error FROM sms_in WHERE text = 'U KBG SP X'")
        self.assertEqual(row[0][0], 'refused')
        self.assertEqual(row[0][1], 'U')


class Delivery(unittest.TestCase):
    """Duplicates, unknown phones, garbage, formats, order and durability."""

    def setUp(self):
        self.s = Spool()

    def test_duplicate_delivery_makes_one_record(self):
        s = self.s
        s.drop('U KBG SP 2', sent='26-11-28 09:00:00')
        s.drop('U KBG SP 2', sent='26-11-28 09:00:00')     # the modem delivers it again
        r = s.process()
        self.assertIn('"duplicates":1', r.stdout)
        out = s.outgoing()
        self.assertEqual(len(out[REPORTER]), 2)              # each delivery is answered ...
        self.assertEqual(out[REPORTER][0], out[REPORTER][1])  # ... with the same reference
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 1)
        self.assertEqual(s.node.sql('SELECT deliveries FROM sms_in')[0][0], 2)
        # a later run sees it again: still one record
        s.drop('U KBG SP 2', sent='26-11-28 09:00:00')
        s.process()
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 1)
        self.assertEqual(s.outgoing()[REPORTER], out[REPORTER][:1])
        # the same text sent again by the officer (a new modem time) is a new report
        s.drop('U KBG SP 2', sent='26-11-28 09:30:00')
        s.process()
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 2)

    def test_duplicate_p_alerts_once(self):
        s = self.s
        s.drop('P MMD SP 3', sent='26-11-28 09:00:00')
        s.drop('P MMD SP 3', sent='26-11-28 09:00:00')
        s.process()
        out = s.outgoing()
        self.assertEqual(len(out[REPORTER]), 2)
        self.assertEqual(len(out[VET]), 1)
        self.assertEqual(len(out[VET2]), 1)

    def test_unknown_phone(self):
        s = self.s
        before = s.node.counts()
        r = s.reply('U KBG SP 2', sender=STRANGER)
        self.assertIn('Maaf, nomor Anda belum terdaftar', r)
        self.assertEqual(s.node.counts(), before)
        s.reply('P MMD SP 3', sender=STRANGER)                # no alert either
        self.assertEqual(s.node.counts(), before)
        self.assertEqual(s.node.sql("SELECT count(*) FROM sms_in WHERE status = "
                                    "'unknown_phone'")[0][0], 2)

    def test_sender_that_is_not_a_phone(self):
        s = self.s
        before = s.node.counts()
        s.drop('Promo pulsa murah', sender='Telkomsel')
        s.process()
        self.assertEqual(s.outgoing(), {})                    # nobody to answer
        self.assertEqual(s.files('processed'), ['GSM1.000001'])
        self.assertEqual(s.node.counts(), before)

    def test_garbage_files_move_to_failed_with_a_reason(self):
        s = self.s
        before = s.node.counts()
        s.drop(None, raw=b'\x00\xff\xfe garbage \x01\x02 no headers at all')
        s.drop(None, raw=b'From: 6281234567890\nSent: 26-11-28 10:00:00\n')   # no blank line
        s.drop(None, raw=b'Sent: 26-11-28 10:00:00\n\nU KBG SP 2')            # no From:
        s.drop(None, raw=b'From: 6281234567890\nAlphabet: UCS2\n\n\x00U\x00')  # odd UCS2
        s.drop(None, raw=b'From: 6281234567890\n\n' + b'A' * 70000)            # too large
        s.drop('U KBG SP 2')                                  # a good one after the bad ones
        r = s.process()
        self.assertIn('"failed":5', r.stdout)
        failed = s.files('failed')
        self.assertEqual(len(failed), 10)
        for f in failed:
            if f.endswith('.reason'):
                with open(os.path.join(s.dir, 'failed', f)) as fp:
                    self.assertTrue(fp.read().strip(), f)
        with open(os.path.join(s.dir, 'failed', 'GSM1.000003.reason')) as fp:
            self.assertIn('From', fp.read())
        self.assertEqual(s.files('incoming'), [])
        self.assertEqual(s.files('processed'), ['GSM1.000006'])
        self.assertIn('Terima kasih', s.outgoing()[REPORTER][0])
        self.assertEqual(s.node.counts()['case_report'], before['case_report'] + 1)

    def test_ambiguous_files_move_to_failed(self):
        """A file that names its sender (or its time or alphabet) twice is not
        guessed at: the last From: once issued a permit as the vet."""
        s = self.s
        before = s.node.counts()
        sk = b'SK 123456789012345 3201011001 5371 SP 10'
        cases = [
            (b'From: %s\nFrom: %s\nSent: 26-11-28 10:00:00\n\n' % (REPORTER.encode(),
                                                                  VET.encode()) + sk, 'From'),
            (b'From: %s\nSent: 26-11-28 10:00:00\nfrom: %s\n\n' % (VET.encode(),
                                                                  VET.encode()) + sk, 'From'),
            (b'From: %s\nSent: 26-11-28 10:00:00\nSent: 26-11-29 10:00:00\n\n' % VET.encode()
             + sk, 'Sent'),
            (b'From: %s\nReceived: 26-11-28 10:00:00\nReceived: 26-11-28 10:00:00\n\n'
             % VET.encode() + sk, 'Received'),
            (b'From: %s\nAlphabet: ISO\nAlphabet: UCS2\n\n' % VET.encode() + sk, 'Alphabet'),
        ]
        names = [s.drop(None, raw=raw) for raw, _ in cases]
        # gammu names the sender in the file name; a From: header inside is a second sender
        gname = 'IN20261128_100102_00_+%s_00.txt' % REPORTER
        s.drop(None, raw=('From: +%s\n\n%s' % (VET, sk.decode())).encode('utf-16'), name=gname)
        gname2 = 'IN20261128_100103_00_+%s_00.txt' % REPORTER
        s.drop(None, raw=b'Sent: 26-11-28 10:00:00\nFROM: ' + VET.encode() + b'\n\n' + sk,
               name=gname2)
        s.drop('U KBG SP 2')                                  # a good one after them
        r = s.process()
        self.assertIn('"failed":7', r.stdout)
        for name, (_, header) in zip(names, cases):
            with open(os.path.join(s.dir, 'failed', name + '.reason')) as fp:
                reason = fp.read()
            self.assertIn(header + ':', reason, name)
            self.assertIn('twice', reason, name)
        for name in (gname, gname2):
            with open(os.path.join(s.dir, 'failed', name + '.reason')) as fp:
                self.assertIn('From:', fp.read(), name)
        out = s.outgoing()
        self.assertEqual(list(out), [REPORTER])               # only the good one is answered
        self.assertIn('Terima kasih', out[REPORTER][0])
        after = s.node.counts()
        self.assertEqual(after['movement_permit'], before['movement_permit'])
        self.assertEqual(after['case_report'], before['case_report'] + 1)
        self.assertEqual(s.node.sql('SELECT count(*) FROM sms_in')[0][0], 1)

    def test_gammu_text_that_only_mentions_from_is_a_message(self):
        s = self.s
        s.drop(None, raw='CKL From: Cibinong'.encode('utf-16'),
               name='IN20261128_100104_00_+%s_00.txt' % REPORTER)
        s.process()
        self.assertEqual(s.files('failed'), [])
        self.assertEqual(len(os.listdir(os.path.join(s.dir, 'outgoing'))), 1)

    def test_garbage_text_from_an_officer_is_answered(self):
        s = self.s
        before = s.node.counts()
        s.drop(b'\xff\xfe\x00\x01U KBG \xc3\x28 SP 2 \xed\xa0\x80',
               headers='From: %s\nSent: 26-11-28 10:00:00\n' % REPORTER)   # no Alphabet: ISO
        s.process()
        out = s.outgoing()
        self.assertIn('Format SMS tidak dikenali', out[REPORTER][0])
        self.assertEqual(s.node.counts(), before)
        text = s.node.sql('SELECT text FROM sms_in')[0][0]
        self.assertIn('\ufffd', text)                         # invalid bytes replaced
        s.drop(b'U KBG\xff SP 2')
        s.process()
        self.assertIn('Format salah (kode tidak sah', s.outgoing()[REPORTER][0])

    def test_ucs2_crlf_and_latin1(self):
        s = self.s
        s.drop(None, raw=b'From: 6281234567890\r\nSent: 26-11-28 10:00:00\r\nAlphabet: UCS2\r\n'
                         b'\r\n' + 'U KBG SP 2'.encode('utf-16-be'))
        s.drop(None, raw=b'From: +6281234567890\nSent: 26-11-28 10:00:01\nAlphabet: ISO\n\n'
                         b'CKL Pondok Rajeg\xe9')
        s.process()
        out = s.outgoing()[REPORTER]
        self.assertIn('Terima kasih. [ID kasus 3201-000001]', out[0])
        self.assertIn('Tidak ada wilayah', out[1])
        self.assertIn('Rajeg\u00e9', out[1])                  # Latin-1 read as Latin-1

    def test_gammu_files(self):
        s = self.s
        s.drop(None, raw='U KBG SP 2'.encode('utf-16'),         # BOM + UTF-16LE, as gammu writes
               name='IN20261128_100102_00_+6281234567890_00.txt')
        s.process(gateway='gammu')
        out = os.listdir(os.path.join(s.dir, 'outgoing'))
        self.assertEqual(len(out), 1)
        self.assertRegex(out[0], r'^OUTA\d{8}_\d{6}_\d\d_\+6281234567890_sikhnas\d+\.txt$')
        with open(os.path.join(s.dir, 'outgoing', out[0]), encoding='utf-8') as fp:
            self.assertIn('Terima kasih. [ID kasus 3201-000001]', fp.read())
        self.assertEqual(s.node.sql('SELECT event_date FROM case_report'), [('2026-11-28',)])

    def test_a_file_of_the_other_gateway_is_answered_for_the_configured_one(self):
        s = self.s
        s.drop(None, raw='U KBG SP 2'.encode('utf-16'),
               name='IN20261128_100102_00_+6281234567890_00.txt')
        r = s.process()                                       # sms.gateway = smstools
        self.assertIn('is a gammu file, but sms.gateway = smstools', r.stderr)
        out = s.outgoing()
        self.assertTrue(out[REPORTER][0].startswith('Terima kasih. [ID kasus 3201-000001]'))

    def test_gammu_trailing_zero_units_are_not_text(self):
        """gammu-smsd's InboxFormat = unicode ends the text with zero units."""
        s = self.s
        for i, tail in enumerate([b'\0\0', b'\0\0\0\0']):
            s.drop(None, raw=b'\xff\xfe' + 'CKL Rajeg'.encode('utf-16-le') + tail,
                   name='IN20261128_10010%d_00_+6281234567890_00.txt' % i)
        s.drop(None, raw='CKL Rajeg'.encode('utf-8') + b'\0',
               name='IN20261128_100109_00_+6281234567890_00.txt')
        s.process(gateway='gammu')
        self.assertEqual(s.node.sql('SELECT text FROM sms_in ORDER BY id'), [('CKL Rajeg',)] * 3)

    def test_smstools_alphabets(self):
        """smstools3 writes "Alphabet: UTF-8" (incoming_utf8 = yes) or "ISO"."""
        s = self.s
        head = 'From: %s\nSent: 26-11-28 10:00:0%d\nAlphabet: %s\n\n'
        for i, (alpha, body) in enumerate([('UTF-8', 'CKL Rajég'.encode('utf-8')),
                                           ('ISO', 'CKL Rajég'.encode('latin-1')),
                                           ('ISO8859-15', 'CKL Rajég'.encode('latin-1'))]):
            s.drop(None, raw=(head % (REPORTER, i, alpha)).encode() + body)
        s.process()
        self.assertEqual(s.node.sql('SELECT text FROM sms_in ORDER BY id'), [('CKL Rajég',)] * 3)

    def test_the_gateway_must_be_set(self):
        """The node never guesses the outgoing format: no gateway, no spool."""
        s = self.s
        s.drop('U KBG SP 2')
        r = s.process(expect=2, gateway=None)
        self.assertIn('set sms.gateway = gammu or smstools', r.stderr)
        r = s.process(expect=2, gateway='kannel')
        self.assertIn("unknown gateway 'kannel'", r.stderr)
        self.assertEqual(s.files('incoming'), ['GSM1.000001'])
        self.assertEqual(s.node.sql('SELECT count(*) FROM sms_in')[0][0], 0)
        bad = os.path.join(s.node.tmp, 'bad.ini')
        with open(bad, 'w') as fp:
            fp.write('[sms]\ngateway = kannel\n')
        r = s.process(expect=1, config=bad, gateway=None)
        self.assertIn("bad value 'kannel' for sms.gateway", r.stderr)
        conf = os.path.join(s.node.tmp, 'gammu.ini')
        with open(conf, 'w') as fp:
            fp.write('[sms]\ngateway = gammu\n')
        s.process(config=conf, gateway=None)                  # from the config file
        out = s.files('outgoing')
        self.assertEqual(len(out), 1)
        self.assertRegex(out[0], r'^OUTA\d{8}_\d{6}_\d\d_\+6281234567890_sikhnas\d+\.txt$')

    def test_files_are_handled_oldest_first(self):
        s = self.s
        a = s.drop('U KBG SP 1', name='zzz')
        b = s.drop('U KBG SP 2', name='aaa')
        os.utime(os.path.join(s.dir, 'incoming', a), (time.time() - 50, time.time() - 50))
        os.utime(os.path.join(s.dir, 'incoming', b), (time.time() - 10, time.time() - 10))
        s.process()
        rows = s.node.sql('SELECT ref, animals FROM case_report ORDER BY ref')
        self.assertIn('"sick":1', rows[0][1])
        self.assertIn('"sick":2', rows[1][1])

    def test_reply_only_after_commit(self):
        """While another writer holds the store, nothing is stored and nothing is sent;
        the file stays in incoming/ and the next run handles it."""
        s = self.s
        conf = os.path.join(s.node.tmp, 'busy.ini')
        with open(conf, 'w') as fp:
            fp.write('[store]\nbusy_timeout_ms = 200\n')
        s.drop('P MMD SP 3')
        con = sqlite3.connect(s.node.db, timeout=5, isolation_level=None)
        con.execute('BEGIN IMMEDIATE')
        try:
            r = s.process(expect=75, config=conf)
            self.assertIn('"waiting":1', r.stdout)
        finally:
            con.execute('ROLLBACK')
            con.close()
        self.assertEqual(s.outgoing(), {})
        self.assertEqual(s.files('incoming'), ['GSM1.000001'])
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 0)
        s.process()
        out = s.outgoing()
        self.assertEqual(sorted(out), sorted([REPORTER, VET, VET2]))
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 1)
        # every file written is recorded as written; every reply quotes a stored case
        self.assertEqual(s.node.sql('SELECT count(*) FROM sms_out WHERE written = 0')[0][0], 0)

    def test_queued_replies_are_written_after_a_crash(self):
        """A crash between COMMIT and the reply file leaves sms_out.written = 0:
        the next run writes it."""
        s = self.s
        s.reply('U KBG SP 2')
        con = sqlite3.connect(s.node.db)
        con.execute('UPDATE sms_out SET written = 0')
        con.commit()
        con.close()
        s.process()
        out = s.outgoing()
        self.assertIn('[ID kasus 3201-000001]', out[REPORTER][0])
        s.process()
        self.assertEqual(s.outgoing(), {})

    def test_file_left_in_incoming_after_a_crash_is_not_answered_twice(self):
        """A stop between the reply file and the move to processed/ leaves the
        message file in incoming/: the next run reads the same file again.
        It is the same delivery: no second reply, deliveries stays 1. A copy
        under a new name is a new delivery by the gateway: answered again."""
        s = self.s
        name = s.drop('U KBG SP 2', sent='26-11-28 09:00:00')
        s.process()
        out = s.outgoing()
        self.assertEqual(len(out[REPORTER]), 1)
        # the state a crash before the move leaves: the file back in incoming/
        os.rename(os.path.join(s.dir, 'processed', name), os.path.join(s.dir, 'incoming', name))
        r = s.process()
        self.assertIn('"duplicates":0', r.stdout)
        self.assertIn('handled before a stop or crash', r.stderr)
        self.assertEqual(s.outgoing(), {})
        self.assertEqual(s.files('incoming'), [])
        self.assertEqual(s.node.sql('SELECT deliveries FROM sms_in')[0][0], 1)
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 1)
        # a reply the crash kept from its file is still written, once
        con = sqlite3.connect(s.node.db)
        con.execute('UPDATE sms_out SET written = 0')
        con.commit()
        con.close()
        os.rename(os.path.join(s.dir, 'processed', name), os.path.join(s.dir, 'incoming', name))
        s.process()
        self.assertEqual(len(s.outgoing()[REPORTER]), 1)
        # the gateway delivering it again is a new file: answered again
        s.drop('U KBG SP 2', sent='26-11-28 09:00:00')
        r = s.process()
        self.assertIn('"duplicates":1', r.stdout)
        self.assertEqual(len(s.outgoing()[REPORTER]), 1)
        self.assertEqual(s.node.sql('SELECT deliveries FROM sms_in')[0][0], 2)
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 1)

    def test_queued_replies_after_a_crash_in_the_configured_format(self):
        """A fresh process has handled no message: the reply left from before
        the crash is written for the configured gateway (gammu reads only
        OUT*.txt), not in a format guessed from the last message."""
        s = self.s
        s.drop(None, raw='U KBG SP 2'.encode('utf-16'),
               name='IN20261128_100102_00_+6281234567890_00.txt')
        s.process(gateway='gammu')
        for f in s.files('outgoing'):
            os.unlink(os.path.join(s.dir, 'outgoing', f))
        con = sqlite3.connect(s.node.db)
        con.execute('UPDATE sms_out SET written = 0, file = NULL')
        con.commit()
        con.close()
        r = s.process(gateway='gammu')
        self.assertIn('committed before a stop or crash (gammu format)', r.stderr)
        out = s.files('outgoing')
        self.assertEqual(len(out), 1)
        self.assertRegex(out[0], r'^OUTA\d{8}_\d{6}_\d\d_\+6281234567890_sikhnas\d+\.txt$')
        with open(os.path.join(s.dir, 'outgoing', out[0]), encoding='utf-8') as fp:
            self.assertTrue(fp.read().startswith('Terima kasih. [ID kasus 3201-000001]'))

    def test_status_warns_of_files_the_gateway_left(self):
        s = Spool(prime=False)
        self.assertIsNone(s.node.status()['sms'])              # no spool used yet
        s.reply('U KBG SP 2')
        st = s.node.status()['sms']
        self.assertEqual((st['spool'], st['gateway'], st['outgoing'], st['stuck'],
                          st['unwritten'], st['warning']),
                         (s.dir, 'smstools', 0, 0, 0, None))
        s.drop('U KBG SP 3')
        s.process()
        [f] = s.files('outgoing')
        path = os.path.join(s.dir, 'outgoing', f)
        os.utime(path, (time.time() - 250, time.time() - 250))     # young enough
        self.assertEqual(s.node.status()['sms']['stuck'], 0)
        os.utime(path, (time.time() - 400, time.time() - 400))     # over 300 s
        st = s.node.status()['sms']
        self.assertEqual((st['outgoing'], st['stuck']), (1, 1))
        self.assertGreaterEqual(st['oldest_stuck_s'], 400)
        self.assertIn('1 SMS file(s) in %s/outgoing not picked up by the gateway (smstools)'
                      % s.dir, st['warning'])
        self.assertIn(f, st['warning'])
        r = s.node.run('status')
        self.assertIn('WARNING:', r.stdout)
        self.assertIn('not picked up', r.stdout)

    def test_options_before_the_subcommand(self):
        s = self.s
        s.drop('U KBG SP 2')
        r = s.node.run('sms', '--spool', s.dir, '--gateway', 'smstools', 'process')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"handled":1', r.stdout)
        self.assertEqual(s.node.run('sms', '--spool', s.dir).returncode, 2)

    def test_outgoing_files_are_complete(self):
        """No temporary file is ever left in outgoing/; names are unique."""
        s = self.s
        for i in range(20):
            s.drop('POP SP %d' % (i + 1))
        s.process()
        out = s.files('outgoing')
        self.assertEqual(len(out), 20)
        self.assertEqual(s.files('tmp'), [])
        for f in out:
            with open(os.path.join(s.dir, 'outgoing', f)) as fp:
                self.assertTrue(fp.read().startswith('To: 6281234567890\n\nTerima kasih.'))


class Daemon(unittest.TestCase):
    """`run --sms-spool`: files are picked up as they arrive."""

    def test_run_needs_the_gateway(self):
        s = Spool()
        s.drop('U KBG SP 2')
        for extra, why in [([], 'set sms.gateway = gammu or smstools'),
                           (['--sms-gateway', 'sms'], "'sms' is not gammu or smstools")]:
            r = subprocess.run([EXE, '--db', s.node.db, 'run', '--sms-spool', s.dir] + extra,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(why, r.stderr)
        self.assertEqual(s.files('incoming'), ['GSM1.000001'])

    def test_run_picks_up_new_files(self):
        s = Spool()
        s.drop('U KBG SP 2')                                  # waiting before the start
        p = subprocess.Popen([EXE, '--db', s.node.db, 'run', '--sms-spool', s.dir,
                              '--sms-gateway', 'smstools'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            def wait_for(n):
                deadline = time.time() + 20
                while time.time() < deadline:
                    if len(s.files('outgoing')) >= n and not s.files('incoming'):
                        return True         # replies out, and the file moved on
                    time.sleep(0.1)
                return False
            self.assertTrue(wait_for(1), 'the waiting file was not handled')
            path = os.path.join(s.dir, 'incoming', 'GSM1.live')
            with open(path, 'w') as fp:                      # written in place, like smstools3
                fp.write('From: %s\nSent: 26-11-28 11:00:00\n\nP MMD SP 3' % REPORTER)
            self.assertTrue(wait_for(4), 'the new file was not handled')
            self.assertEqual(s.files('incoming'), [])
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                _, err = p.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(s.node.sql('SELECT count(*) FROM case_report')[0][0], 2)

def sql_exec(node, query, args=()):
    """A write to the store behind the node's back (test set-up only)."""
    con = sqlite3.connect(node.db, timeout=30)
    try:
        con.execute(query, args)
        con.commit()
    finally:
        con.close()


def longest_area_names():
    """The longest village and kecamatan names of the area data (tests/data/idn-area)."""
    import csv
    with open(os.path.join(nodetest.AREAS, 'villages.csv'), newline='') as fp:
        village = max((r['name'] for r in csv.DictReader(fp)), key=len)
    with open(os.path.join(nodetest.AREAS, 'districts.csv'), newline='') as fp:
        kec = max((r['name'] for r in csv.DictReader(fp)), key=len)
    return village, kec


class Lengths(unittest.TestCase):
    """Every reply and alert in one SMS: each template rendered with the
    longest real names of the area data, the longest code labels, officers'
    names at their cap, several species, and checked for its length (160
    GSM-7 characters, or 70 when it needs UCS-2). The replies still carry
    what they are for (the case's number, the outcome)."""

    @classmethod
    def setUpClass(cls):
        cls.s = Spool()
        village, kec = longest_area_names()
        # the reporter's village and the vets' get the longest names; the
        # officers' names are at the cap of 100 characters
        sql_exec(cls.s.node, "UPDATE area SET name = ? WHERE code IN ('3201011001', '3201011002')",
                            (village,))
        sql_exec(cls.s.node, "UPDATE area SET name = ? WHERE code = '320101'", (kec,))
        sql_exec(cls.s.node, "UPDATE officer SET name = ? WHERE role IN ('reporter', 'vet')",
                            (('Muhammad Abdurrahman Wahyudiningrat Kusumawardhani ' * 2)[:100],))
        cls.village = village

    def check(self, out):
        for phone, texts in out.items():
            for t in texts:
                n, ucs2 = sms_units(t)
                self.assertTrue(sms_fits(t), '%s: %d %s units: %s' %
                                (phone, n, 'UCS-2' if ucs2 else 'GSM-7', t))

    def send(self, text, sender=VET):
        self.s.drop(text, sender=sender)
        self.s.process()
        out = self.s.outgoing()
        self.check(out)
        return out

    def test_every_template_fits(self):
        s = self.s
        syndromes = [r[0] for r in s.node.sql("SELECT code FROM code_list WHERE list = 'syndrome'")]
        signs = [r[0] for r in s.node.sql(
            "SELECT code FROM code_list WHERE list = 'sign' ORDER BY length(label_id) DESC")]
        herd = 'SPBA 12345 SPAC 2345 KR 345 KB 45'
        for syn in syndromes:                                  # every P and its alert
            out = self.send('P %s %s' % (syn, herd), sender=REPORTER)
            self.assertEqual(len(out), 3, out)                 # reply and two vets' alerts
            ref = out[REPORTER][0].split('[ID kasus ')[1].split(']')[0]
            for vet in (VET, VET2):
                self.assertIn(ref, out[vet][0])
                self.assertIn('PERINGATAN', out[vet][0])
        out = self.send('U %s %s' % (','.join(signs[:10]), herd), sender=REPORTER)
        r = out[REPORTER][0]
        self.assertRegex(r, r'^Terima kasih\. \[ID kasus 3201-\d{6}\]')
        ref = r.split('[ID kasus ')[1].split(']')[0]
        for text in ('PK %s SB' % ref, 'PK %s MS' % ref,
                     'LTL %s SPBA 10 5 0 20 SPAC 1 2 3 40 KR 100 200 300 900 Y' % ref,
                     'LTL %s KB 10 5 0 20 Y' % ref, 'LAPK %s' % ref,
                     'VAK PROGRAM-2026-AB/01 3201011002 %s' % herd, 'POP %s' % herd,
                     'SK 123456789012345 3201011001 5371 %s 081299990000' % herd,
                     'KODE', 'KODE SP', 'KODE TAN', 'KODE SIN', 'KODE PNY', 'KODE PK',
                     'CKL a', 'CKL pondok', 'CKL tidakadadesaini', '?', 'PK 3201-999999 SB'):
            out = self.send(text)
            self.assertEqual(len(out[VET]), 1, text)
        self.assertIn('Hasil: masih sakit', self.send('PK %s MS' % ref)[VET][0])
        # refusals: every bare code, bad bodies, another village, not allowed
        for text in ('U', 'P', 'PK', 'LTL', 'VAK', 'POP', 'SK', 'CKL', 'LAPK', 'KODE XYZ',
                     'U KBG SP 99999999', 'U KBGXYZ SP 2', 'LAB 1', 'SK 1 3201011001 3201011001 SP 2'):
            r = self.send(text)[VET][0]
            self.assertNotIn('Terima kasih', r, text)
        for text in ('U KBG SP 2 3201011003', 'PK 1 SB', 'U KBG SP 2 3201011001 XX'):
            self.send(text, sender=REPORTER)
        self.check({STRANGER: [self.s.reply('U KBG SP 2', sender=STRANGER)]})
        self.s.outgoing()

    def test_a_reply_that_needs_ucs2_fits_in_70(self):
        # a village named with a character outside GSM-7 makes the reply UCS-2
        sql_exec(self.s.node, "UPDATE area SET name = ? WHERE code = '3201011003'",
                             ('\u0100gung Sukamaju',))
        out = self.send('POP SP 120 KB 40 3201011003')
        n, ucs2 = sms_units(out[VET][0])
        self.assertTrue(ucs2 and n <= 70, out)


class Deaths(unittest.TestCase):
    """The death syndromes (rising poultry deaths, sudden death) count deaths."""

    def test_death_syndromes_store_deaths(self):
        s = Spool()

        def reply(text):
            s.drop(text)
            s.process()
            return s.outgoing()[REPORTER][0]
        r = reply('P MMU AY 25')
        self.assertIn('mati meningkat pada unggas; 25 ayam mati', r)
        ref = r.split('[ID kasus ')[1].split(']')[0]
        self.assertEqual(s.node.sql('SELECT animals FROM case_report WHERE ref = ?', (ref,)),
                         [('[{"species":"AY","sick":0,"dead":25,"at_risk":0}]',)])
        r = reply('P MMD SP 3 KB 2')
        ref = r.split('[ID kasus ')[1].split(']')[0]
        self.assertEqual(s.node.sql('SELECT animals FROM case_report WHERE ref = ?', (ref,)),
                         [('[{"species":"SP","sick":0,"dead":3,"at_risk":0},'
                          '{"species":"KB","sick":0,"dead":2,"at_risk":0}]',)])
        # the other syndromes count the sick
        r = reply('P GGK AJ 1')
        ref = r.split('[ID kasus ')[1].split(']')[0]
        self.assertEqual(s.node.sql('SELECT animals FROM case_report WHERE ref = ?', (ref,)),
                         [('[{"species":"AJ","sick":1,"dead":0,"at_risk":0}]',)])
        self.assertIn('AI flu burung', s.reply('KODE PNY'))


if __name__ == '__main__':
    EXE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
