#!/usr/bin/env python3
"""batchgen.py - realistic push batches as a node writes them (sync/batch.c:
columnar JSON, the columns of sync/kinds.c), for training the zstd
dictionary (tools/train-dict.sh) and for the byte benchmarks
(tests/bench/bytes-bench.py). Python 3 stdlib only.

Two kinds of records, as in the field:
  coded  - a case report of codes, counts and a place, no note;
  noted  - the same with a free-text note of about 120 characters, made of
           the phrases district officers write (owner, hamlet, signs,
           duration, what was done), in Indonesian.
Every call with another seed gives other ids, times, places and notes."""
import json
import random
import time
import uuid

CASE_COLS = ['seq', 'id', 'origin', 'hlc', 'deleted', 'created_at', 'updated_at', 'ref',
             'kind', 'village', 'syndrome', 'signs', 'animals', 'ddx', 'event_date',
             'reporter', 'note', 'lon', 'lat']
SPECIES = ['AY', 'IT', 'SP', 'KB', 'DB', 'BB', 'KR', 'KD', 'BI']
SIGNS = ['DMM', 'DIA', 'KBG', 'DBD', 'PAR', 'LMP', 'BTK', 'DEM', 'NFM', 'KRS']
SYNDROMES = [None, None, None, 'MMD', 'PRN', 'NRV', 'SKN']
DISEASES = ['AI', 'ND', 'FMD', 'ANT', 'RAB', 'BRU', 'SE', 'LSD', 'ASF', 'JD']
OWNERS = ['Pak Slamet', 'Bu Siti', 'Pak Joko', 'Bu Wati', 'Pak Ahmad', 'Pak Budi', 'Bu Sri',
          'Pak Agus', 'Bu Yanti', 'Pak Dedi', 'Pak Hendra', 'Bu Rina', 'Pak Udin',
          'Pak Asep', 'Bu Euis', 'Pak Ujang', 'Bu Dewi', 'Pak Wahyu', 'Pak Rahmat',
          'Bu Nur', 'Pak Iwan', 'Bu Lilis', 'Pak Dadang', 'Pak Yayat', 'Bu Entin']
HAMLETS = ['Cibeureum', 'Sukamaju', 'Mekarsari', 'Sindangsari', 'Cijeruk', 'Pasirmulya',
           'Sukaraja', 'Cibodas', 'Girimulya', 'Karangtengah', 'Tanjungsari', 'Cipelang',
           'Neglasari', 'Sirnagalih', 'Babakan', 'Kadumanggu', 'Wangunjaya', 'Leuwisadeng']
ANIMALS = ['ayam kampung', 'itik', 'sapi potong', 'kambing', 'domba', 'kerbau', 'sapi perah',
           'ayam petelur', 'bebek', 'entok']
SIGNS_TXT = ['lemas', 'tidak mau makan', 'mencret', 'batuk', 'jengger kebiruan',
             'keluar lendir dari hidung', 'kepincangan', 'demam tinggi', 'air liur berlebih',
             'luka di mulut', 'benjolan di kulit', 'mati mendadak', 'sesak napas',
             'bulu kusam', 'produksi telur turun', 'kejang', 'kaki lumpuh', 'kurus']
ACTIONS = ['Sudah diberi vitamin dan antibiotik oleh petugas.',
           'Pemilik diminta memisahkan ternak yang sakit.',
           'Sampel darah diambil untuk dikirim ke laboratorium.',
           'Kandang sudah disemprot desinfektan.',
           'Bangkai sudah dikubur, pemilik diberi penyuluhan.',
           'Ternak diobati dan akan dipantau tiga hari lagi.',
           'Dilaporkan ke puskeswan, menunggu dokter hewan.',
           'Belum ada pengobatan, pemilik minta kunjungan ulang.',
           'Tetangga juga melaporkan gejala yang sama.',
           'Lalu lintas ternak dari desa ini dihentikan sementara.']


def note(rnd):
    """A field note of about 120 characters."""
    n = rnd.randrange(2, 40)
    s = '%s di dusun %s: %d ekor %s %s dan %s sejak %d hari. %s' % (
        rnd.choice(OWNERS), rnd.choice(HAMLETS), n, rnd.choice(ANIMALS),
        rnd.choice(SIGNS_TXT), rnd.choice(SIGNS_TXT), rnd.randrange(1, 8), rnd.choice(ACTIONS))
    if len(s) < 110:
        s += ' %d mati.' % rnd.randrange(0, n)
    return s


def uuid7(rnd, ms):
    r = rnd.getrandbits(74)
    v = (ms << 80) | (0x7 << 76) | ((r >> 62) & 0xfff) << 64 | (0b10 << 62) | (r & ((1 << 62) - 1))
    return str(uuid.UUID(int=v))


def villages(district='3201', n=300, seed=5):
    rnd = random.Random(seed)
    return sorted(set('%s%03d%03d' % (district, rnd.randrange(10, 41), rnd.randrange(1, 20))
                      for _ in range(n)))


def rows(node, first, n, kind='noted', seed=1, vill=None, district='3201', base_ms=None):
    """n case_report rows (seq first..) of node as CASE_COLS lists."""
    rnd = random.Random(seed)
    vill = vill or villages(district)
    base_ms = base_ms or int(time.time() * 1000) - 86400000
    reporters = ['+62812%07d' % rnd.randrange(10000000) for _ in range(40)]
    out = []
    ms = base_ms
    for i in range(n):
        seq = first + i
        ms += rnd.randrange(200, 60000)
        t = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(ms / 1000))
        sick = rnd.randrange(1, 40)
        out.append([seq, uuid7(rnd, ms), node, str((ms << 16) + rnd.randrange(4)), 0, t, t,
                    '%s-%06d' % (district, seq), rnd.choice('UUUUUVP'), rnd.choice(vill),
                    rnd.choice(SYNDROMES), rnd.sample(SIGNS, rnd.randrange(1, 3)),
                    [{'species': rnd.choice(SPECIES), 'sick': sick, 'dead': rnd.randrange(0, sick),
                      'at_risk': sick * rnd.randrange(2, 20)}],
                    rnd.sample(DISEASES, rnd.randrange(0, 2)),
                    time.strftime('%Y-%m-%d', time.gmtime(ms / 1000 - 86400 * rnd.randrange(0, 4))),
                    rnd.choice(reporters), note(rnd) if kind == 'noted' else None,
                    round(106.5 + rnd.random() * 0.8, 6), round(-6.8 + rnd.random() * 0.5, 6)])
    return out


def batch(node, last_seq, rows_, hlc=None):
    """The plain batch bytes, as node/sync_push.c writes them."""
    doc = {'v': 1, 'node': node, 'last_seq': last_seq,
           'hlc': str(hlc or (int(time.time() * 1000) << 16)),
           'tables': [{'table': 'case_report', 'cols': CASE_COLS, 'rows': rows_}]}
    return json.dumps(doc, separators=(',', ':'), ensure_ascii=False).encode()


def node_id(seed):
    return uuid7(random.Random(seed), int(time.time() * 1000) - seed * 1000)
