#!/usr/bin/env python3
# po2json.py — the web client's translation catalogues, from po/
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
#   po2json.py catalogue --language LANG [--reference-prefix data/web/] IN.po OUT.json
#       {"language": LANG, "messages": {MSGID: MSGSTR, …}} with the translated,
#       non-fuzzy messages whose source references start with the prefix (so
#       the browser gets the web client's messages, not the server's).
#   po2json.py languages OUT.json LANG…
#       {"languages": [LANG, …]}: the catalogues the web client may ask for.
#
# Messages with a context are keyed "CONTEXT\u0004MSGID", as gettext does.
# Plural messages are left out: the web client has none, and picking a plural
# form would need the Plural-Forms expression evaluated in the browser.

import argparse
import json
import sys

ESCAPES = {'n': '\n', 't': '\t', 'r': '\r', 'a': '\a', 'b': '\b', 'f': '\f',
           'v': '\v', '\\': '\\', '"': '"', "'": "'", '?': '?'}


class PoError(Exception):
    pass


def unquote(text, where):
    """The value of one C string literal from a PO file."""
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoError(f'{where}: expected a quoted string, got {text!r}')
    body = text[1:-1]
    out = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != '\\':
            out.append(c)
            i += 1
            continue
        i += 1
        if i >= len(body):
            raise PoError(f'{where}: string ends in a backslash')
        c = body[i]
        if c in ESCAPES:
            out.append(ESCAPES[c])
            i += 1
        elif c in '01234567':
            j = i
            while j < len(body) and j < i + 3 and body[j] in '01234567':
                j += 1
            out.append(chr(int(body[i:j], 8)))
            i = j
        elif c == 'x':
            j = i + 1
            while j < len(body) and body[j] in '0123456789abcdefABCDEF':
                j += 1
            out.append(chr(int(body[i + 1:j], 16)))
            i = j
        else:
            raise PoError(f'{where}: unknown escape \\{c}')
    return ''.join(out)


def read_po(path):
    """Yield one dict per entry: msgctxt, msgid, msgid_plural, msgstr
    (dict index → text), flags (set), references (list)."""
    entry = None
    field = None

    def new_entry():
        return {'msgctxt': None, 'msgid': None, 'msgid_plural': None, 'msgstr': {},
                'flags': set(), 'references': [], 'obsolete': False}

    with open(path, encoding='utf-8') as f:
        for number, raw in enumerate(f, 1):
            where = f'{path}:{number}'
            line = raw.strip()
            if not line:
                continue
            if line.startswith('#~'):
                # An obsolete entry: ends the current one, and is itself left out
                if entry is not None and entry['msgid'] is not None:
                    yield entry
                entry = None
                field = None
                continue
            if line.startswith('#'):
                if entry is not None and entry['msgid'] is not None and field is not None:
                    yield entry
                    entry = None
                    field = None
                if entry is None:
                    entry = new_entry()
                if line.startswith('#,'):
                    entry['flags'].update(flag.strip() for flag in line[2:].split(','))
                elif line.startswith('#:'):
                    entry['references'].extend(line[2:].split())
                continue
            if line.startswith('"'):
                if field is None:
                    raise PoError(f'{where}: a string continues nothing')
                text = unquote(line, where)
                if isinstance(field, tuple):
                    entry['msgstr'][field[1]] += text
                else:
                    entry[field] += text
                continue
            keyword, _, rest = line.partition(' ')
            if keyword in ('msgctxt', 'msgid') and entry is not None and entry['msgid'] is not None:
                yield entry
                entry = None
            if entry is None:
                entry = new_entry()
            if keyword in ('msgctxt', 'msgid', 'msgid_plural'):
                entry[keyword] = unquote(rest.strip(), where)
                field = keyword
            elif keyword == 'msgstr':
                entry['msgstr'][0] = unquote(rest.strip(), where)
                field = ('msgstr', 0)
            elif keyword.startswith('msgstr[') and keyword.endswith(']'):
                index = int(keyword[7:-1])
                entry['msgstr'][index] = unquote(rest.strip(), where)
                field = ('msgstr', index)
            else:
                raise PoError(f'{where}: unexpected {keyword!r}')
    if entry is not None and entry['msgid'] is not None:
        yield entry


def catalogue(args):
    messages = {}
    for entry in read_po(args.po):
        if entry['msgid'] == '' or 'fuzzy' in entry['flags'] or entry['msgid_plural'] is not None:
            continue
        if args.reference_prefix and not any(ref.startswith(args.reference_prefix)
                                             for ref in entry['references']):
            continue
        text = entry['msgstr'].get(0, '')
        if not text:
            continue
        key = entry['msgid']
        if entry['msgctxt'] is not None:
            key = entry['msgctxt'] + '\u0004' + key
        messages[key] = text
    with open(args.output, 'w', encoding='utf-8') as f:
        json.dump({'language': args.language, 'messages': messages}, f,
                  ensure_ascii=False, indent=1, sort_keys=True)
        f.write('\n')


def languages(args):
    with open(args.output, 'w', encoding='utf-8') as f:
        json.dump({'languages': args.languages}, f)
        f.write('\n')


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('catalogue')
    p.add_argument('--language', required=True)
    p.add_argument('--reference-prefix', default='')
    p.add_argument('po')
    p.add_argument('output')
    p.set_defaults(func=catalogue)
    p = sub.add_parser('languages')
    p.add_argument('output')
    p.add_argument('languages', nargs='*')
    p.set_defaults(func=languages)
    args = parser.parse_args()
    try:
        args.func(args)
    except PoError as e:
        print(f'po2json: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
