"""GSM 03.40 PDUs for the fake modem of the gateway tests: SMS-DELIVER
(what a modem hands a gateway when a message arrives) encoded, SMS-SUBMIT
(what a gateway hands the modem to send) decoded, text in the GSM 7-bit
default alphabet (with its extension table) or UCS-2, concatenated parts
(8- and 16-bit reference UDH) joined. Standard library only."""

# GSM 03.38 default alphabet, code point = index
GSM7 = ('@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?'
        '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà')
GSM7_EXT = {0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\', 0x3C: '[', 0x3D: '~',
            0x3E: ']', 0x40: '|', 0x65: '€'}
assert len(GSM7) == 128
_ENC = {c: i for i, c in enumerate(GSM7) if i != 0x1B}
_ENC_EXT = {c: i for i, c in GSM7_EXT.items()}


def gsm7_septets(text):
    """The septets of text, or None when a character is not in the alphabet."""
    out = []
    for c in text:
        if c in _ENC:
            out.append(_ENC[c])
        elif c in _ENC_EXT:
            out += [0x1B, _ENC_EXT[c]]
        else:
            return None
    return out


def gsm7_text(septets):
    out, esc = [], False
    for s in septets:
        if esc:
            out.append(GSM7_EXT.get(s, GSM7[s]))
            esc = False
        elif s == 0x1B:
            esc = True
        else:
            out.append(GSM7[s])
    return ''.join(out)


def pack7(septets, fill=0):
    """Packs septets LSB first, after fill bits (to align after a UDH)."""
    acc, bits, out = 0, fill, bytearray()
    for s in septets:
        acc |= s << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            bits -= 8
    if bits:
        out.append(acc & 0xFF)
    return bytes(out)


def unpack7(data, count, fill=0):
    acc = int.from_bytes(data, 'little') >> fill
    return [(acc >> (7 * i)) & 0x7F for i in range(count)]


def _semi(digits):
    if len(digits) % 2:
        digits += 'F'
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, len(digits), 2))


def _unsemi(data, n):
    s = ''.join('%x%x' % (b & 0xF, b >> 4) for b in data)
    return s[:n].upper()


def _address(number):
    """An address field: digit count, type (international when +), semi-octets."""
    toa = 0x91 if number.startswith('+') else 0x81
    digits = number.lstrip('+')
    return bytes([len(digits), toa]) + _semi(digits)


def _scts(t):
    """(yy, mm, dd, hh, mi, ss, tz quarters) as the service centre time stamp."""
    vals = ['%02d' % v for v in t[:6]] + ['%02d' % t[6]]
    return bytes(int(v[1] + v[0], 16) for v in vals)


def deliver(sender, text, when=(26, 11, 28, 10, 1, 2, 28), ucs2=None):
    """The hex of an SMS-DELIVER PDU (with an SMSC field) of one part.
    ucs2: None picks GSM 7-bit when every character is in the alphabet."""
    septets = None if ucs2 else gsm7_septets(text)
    if septets is not None:
        dcs, udl, ud = 0x00, len(septets), pack7(septets)
    else:
        ud = text.encode('utf-16-be')
        dcs, udl = 0x08, len(ud)
    if udl > 160 or len(ud) > 140:
        raise ValueError('one part only: %d' % udl)
    smsc = _address('+6281100000')
    pdu = bytes([len(smsc) - 1]) + smsc[1:] + bytes([0x04]) + _address(sender) + \
        bytes([0x00, dcs]) + _scts(when) + bytes([udl]) + ud
    return pdu.hex().upper()


def submit(data):
    """Decodes an SMS-SUBMIT PDU (hex, with its SMSC field) into a dict:
    number, text, dcs ('gsm7' or 'ucs2'), and concat (ref, total, seq) or None."""
    b = bytes.fromhex(data)
    i = 1 + b[0]                              # skip the SMSC field
    fo = b[i]
    if fo & 0x03 != 0x01:
        raise ValueError('not an SMS-SUBMIT: first octet %02x' % fo)
    vpf, udhi = (fo >> 3) & 3, fo & 0x40
    i += 2                                    # first octet, message reference
    n, toa = b[i], b[i + 1]
    number = ('+' if toa & 0x70 == 0x10 else '') + _unsemi(b[i + 2:i + 2 + (n + 1) // 2], n)
    i += 2 + (n + 1) // 2
    dcs = b[i + 1]
    i += 2 + {0: 0, 2: 1, 1: 7, 3: 7}[vpf]
    udl = b[i]
    ud = b[i + 1:]
    alphabet = (dcs >> 2) & 3 if dcs & 0xC0 == 0 else (2 if dcs & 0xF4 == 0xF4 else 0)
    concat, hlen = None, 0
    if udhi:
        hlen = ud[0] + 1
        j = 1
        while j < hlen:
            iei, ln = ud[j], ud[j + 1]
            v = ud[j + 2:j + 2 + ln]
            if iei == 0x00:
                concat = (v[0], v[1], v[2])
            elif iei == 0x08:
                concat = (v[0] << 8 | v[1], v[2], v[3])
            j += 2 + ln
    if alphabet == 0:
        skip = (hlen * 8 + 6) // 7                  # septets taken by the header
        sept = unpack7(ud, udl, 0)
        if hlen:
            fill = (7 - (hlen * 8) % 7) % 7
            sept = unpack7(ud[hlen:], udl - skip, fill)
        text, kind = gsm7_text(sept), 'gsm7'
    elif alphabet == 2:
        text, kind = ud[hlen:udl].decode('utf-16-be', 'replace'), 'ucs2'
    else:
        text, kind = ud[hlen:udl].decode('latin-1'), '8bit'
    return {'number': number, 'text': text, 'dcs': kind, 'concat': concat}


def _selftest():
    for t in ['U KBG SP 2', 'hellohello', 'é€[x]', '@' * 160]:
        s = gsm7_septets(t)
        assert gsm7_text(unpack7(pack7(s), len(s))) == t
    # the classic example: "hellohello" packs to E8329BFD4697D9EC37
    assert pack7(gsm7_septets('hellohello')).hex().upper() == 'E8329BFD4697D9EC37'
    # fill bits after a 6-byte UDH: one bit
    s = gsm7_septets('abc')
    assert gsm7_text(unpack7(pack7(s, 1), 3, 1)) == 'abc'


_selftest()
