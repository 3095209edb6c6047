#!/usr/bin/env python3
"""test_links.py - the daemon maps no sync stack (issue 13, the footprint):
sikhnas-node needs neither libcurl nor OpenSSL; sikhnas-node-uplink, the
program it runs for each sync round and for `sync` and `enroll`, does.

    test_links.py NODE_EXE UPLINK_EXE
"""
import subprocess
import sys


def needed(exe):
    out = subprocess.run(['readelf', '-d', exe], capture_output=True, text=True, check=True)
    return [line.split('[', 1)[1].rstrip(']') for line in out.stdout.splitlines()
            if '(NEEDED)' in line]


def main():
    node, uplink = needed(sys.argv[1]), needed(sys.argv[2])
    bad = [so for so in node if so.startswith(('libcurl', 'libssl', 'libcrypto', 'libgnutls'))]
    assert not bad, 'sikhnas-node links %s: the daemon would map them' % bad
    assert any(so.startswith('libcurl') for so in uplink), uplink
    print('sikhnas-node: %d libraries, no libcurl/OpenSSL; sikhnas-node-uplink: %d'
          % (len(node), len(uplink)))


if __name__ == '__main__':
    main()
