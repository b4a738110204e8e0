#!/usr/bin/python3
"""msgids.py - the console's msgids (every t('...') in web/js, every
data-i18n, the labels passed to field()/cell() and the words of maps that go
through t()), one per line. tests/integration/web_console.sh checks that
web/i18n/vi.json and en.json hold each of them, so no page shows English to
a Vietnamese official because a translation was forgotten."""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..', 'web')
ids = set()
for f in glob.glob(os.path.join(root, 'js', '*.js')) + [os.path.join(root, 'index.html')]:
    s = open(f, encoding='utf-8').read()
    for m in re.finditer(r"\bt\(\s*'((?:[^'\\]|\\.)*)'", s):
        ids.add(m.group(1).replace("\\'", "'"))
    for m in re.finditer(r'data-i18n="([^"]+)"', s):
        ids.add(m.group(1))
    # field('time', 'Time', ...), cell('Last seen', ...)
    for m in re.finditer(r"\bfield\('[a-z]+', '([^']+)'", s):
        ids.add(m.group(1))
    for m in re.finditer(r"\bcell\('([^']+)'", s):
        ids.add(m.group(1))
    # words of tables translated with t(x): ['Time', 'Cluster', ...].map((x) => h('th'
    for m in re.finditer(r"\[((?:'[^']*',\s*)+'[^']*')\]\s*\.map\(\(x\) => h\('(?:th|option)'", s):
        ids.update(re.findall(r"'([^']*)'", m.group(1)))
    # maps of words: {pending: ['Waiting', 'wait'], ...} and {offline: 'offline', ...}
    for m in re.finditer(r"^\s*// i18n-words\n(.*?)\n\s*// end-i18n-words", s, re.S | re.M):
        ids.update(re.findall(r"'([^']+)'", m.group(1)))
ids.discard('msgid')
for i in sorted(ids):
    print(i)
