#!/usr/bin/env python3
# check-po.py — the translations are complete, compile, and reach the web client
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run by meson (suite i18n) as
#   check-po.py --source-root DIR --web-catalogues DIR --xgettext X --msgfmt X --msgmerge X -- XGETTEXT_ARGS…
# and prints TAP. Each check fails with the list of what is wrong:
#   - every po/LANG.po in LINGUAS passes `msgfmt --check`;
#   - every source file with marked messages is in po/POTFILES.in, and every
#     file listed there exists;
#   - xgettext reads every _('…')/N_('…') of the web client (its JavaScript
#     lexer skips what it cannot parse, silently);
#   - against a template made now, with po/meson.build's xgettext arguments,
#     no message of any LANG.po is untranslated or fuzzy;
#   - each built web catalogue i18n/LANG.json holds every web client message.

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# Files that are translated whole, by their ITS rules or type
ALWAYS_TRANSLATABLE = ('.desktop.in', '.metainfo.xml.in', '.appdata.xml.in', '.gschema.xml')
# Marked messages: _("…"), N_("…"), C_("ctx", "…"), NC_(…), ngettext (…)
C_MARK = re.compile(r'(?<![\w$.])(?:_|N_|C_|NC_|g_dngettext|ngettext|g_dpgettext2)\s*\(\s*"')
JS_MARK = re.compile(r'''(?<![\w$.])(?:_|N_|C_)\(\s*['"]''')
JS_LITERAL = re.compile(r'''(?<![\w$.])(?:_|N_)\(\s*(?:'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)")\s*\)''')
SKIP_DIRS = {'.git', 'node_modules', 'tests', 'bench', 'po', 'flatpak', 'docs'}

results = []


def check(name, problems):
    results.append((name, problems))


def load_po2json(source_root):
    path = os.path.join(source_root, 'build-aux', 'po2json.py')
    spec = importlib.util.spec_from_file_location('po2json', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_list(path):
    entries = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                entries.extend(line.split())
    return entries


def marked_files(source_root):
    found = []
    for dirpath, dirnames, filenames in os.walk(source_root):
        rel_dir = os.path.relpath(dirpath, source_root)
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and not d.startswith(('build', '_build', '.'))
                             or (d == 'build-aux'))
        for name in sorted(filenames):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            path = os.path.join(dirpath, name)
            if name.endswith(ALWAYS_TRANSLATABLE):
                found.append(rel)
                continue
            if name.endswith(('.c', '.h')):
                pattern = C_MARK
            elif name.endswith(('.js', '.mjs')):
                pattern = JS_MARK
            else:
                continue
            with open(path, encoding='utf-8', errors='replace') as f:
                if pattern.search(without_comment_lines(f.read())):
                    found.append(rel)
    return found


def without_comment_lines(text):
    """The text with whole-line comments blanked (// …, /* …, * …), so that
    examples in comments do not count; line numbers stay."""
    return '\n'.join('' if line.lstrip().startswith(('//', '/*', '*')) else line
                     for line in text.split('\n'))


def js_unescape(text):
    return re.sub(r'\\(.)', lambda m: {'n': '\n', 't': '\t'}.get(m.group(1), m.group(1)), text)


def run(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, **kwargs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--source-root', required=True)
    parser.add_argument('--web-catalogues', required=True)
    parser.add_argument('--xgettext', default='xgettext')
    parser.add_argument('--msgfmt', default='msgfmt')
    parser.add_argument('--msgmerge', default='msgmerge')
    parser.add_argument('xgettext_args', nargs='*')
    args = parser.parse_args()

    root = os.path.abspath(args.source_root)
    po_dir = os.path.join(root, 'po')
    po2json = load_po2json(root)
    languages = read_list(os.path.join(po_dir, 'LINGUAS'))
    potfiles = read_list(os.path.join(po_dir, 'POTFILES.in'))

    check('LINGUAS lists at least one language, each with its .po file',
          ([] if languages else ['po/LINGUAS is empty'])
          + [f'po/{lang}.po is missing' for lang in languages
             if not os.path.exists(os.path.join(po_dir, lang + '.po'))])
    languages = [lang for lang in languages if os.path.exists(os.path.join(po_dir, lang + '.po'))]

    problems = []
    for lang in languages:
        r = run([args.msgfmt, '--check', '--output-file=' + os.devnull, os.path.join(po_dir, lang + '.po')])
        if r.returncode != 0:
            problems.append(f'po/{lang}.po does not compile:\n{r.stdout.strip()}')
    check('every .po file compiles with msgfmt --check', problems)

    marked = marked_files(root)
    check('every file with marked messages is in po/POTFILES.in',
          [f'{f} has marked messages but is not in po/POTFILES.in' for f in marked if f not in potfiles])
    check('every file in po/POTFILES.in exists',
          [f'{f} is listed in po/POTFILES.in but does not exist' for f in potfiles
           if not os.path.exists(os.path.join(root, f))])

    with tempfile.TemporaryDirectory(prefix='kaigi-po-') as tmp:
        pot = os.path.join(tmp, 'kaigi.pot')
        # As meson's kaigi-pot target does, into a temporary directory
        r = run([args.xgettext, '--package-name=kaigi', '-p', tmp, '-f', os.path.join(po_dir, 'POTFILES.in'),
                 '-D', root, '-k_', '-o', 'kaigi.pot'] + args.xgettext_args)
        if r.returncode != 0 or not os.path.exists(pot):
            check('xgettext makes a template', [r.stdout.strip() or f'xgettext exited with {r.returncode}'])
            return finish()
        template = [e for e in po2json.read_po(pot) if e['msgid']]
        template_ids = {e['msgid'] for e in template}
        web_ids = {e['msgid'] for e in template if any(ref.startswith('data/web/') for ref in e['references'])}

        problems = []
        for rel in potfiles:
            if rel.endswith(('.js', '.mjs')) and os.path.exists(os.path.join(root, rel)):
                with open(os.path.join(root, rel), encoding='utf-8') as f:
                    for m in JS_LITERAL.finditer(without_comment_lines(f.read())):
                        text = js_unescape(m.group(1) if m.group(1) is not None else m.group(2))
                        if text not in template_ids:
                            problems.append(f'{rel}: xgettext did not extract {text!r}')
        check('xgettext extracts every marked string of the web client', problems)

        for lang in languages:
            merged = os.path.join(tmp, lang + '.po')
            r = run([args.msgmerge, '--quiet', '--output-file=' + merged,
                     os.path.join(po_dir, lang + '.po'), pot])
            if r.returncode != 0:
                check(f'po/{lang}.po merges with the template', [r.stdout.strip()])
                continue
            problems = []
            for e in po2json.read_po(merged):
                if not e['msgid']:
                    continue
                if 'fuzzy' in e['flags']:
                    problems.append(f'fuzzy: {e["msgid"]!r}')
                elif not all(e['msgstr'].values()) or not e['msgstr']:
                    problems.append(f'untranslated: {e["msgid"]!r}')
            if problems:
                problems.append(f'update it: ninja -C BUILDDIR kaigi-pot kaigi-update-po, then translate po/{lang}.po')
            check(f'po/{lang}.po translates every message of the template, none fuzzy', problems)

            problems = []
            catalogue_path = os.path.join(args.web_catalogues, lang + '.json')
            try:
                with open(catalogue_path, encoding='utf-8') as f:
                    catalogue = json.load(f)
                if catalogue.get('language') != lang:
                    problems.append(f'{catalogue_path}: language is {catalogue.get("language")!r}')
                messages = catalogue.get('messages', {})
                problems += [f'{catalogue_path} lacks {m!r}' for m in sorted(web_ids - set(messages))]
                problems += [f'{catalogue_path} has {m!r}, which is no web client message'
                             for m in sorted(set(messages) - web_ids)]
            except (OSError, ValueError) as e:
                problems.append(f'{catalogue_path}: {e}')
            check(f'the web catalogue {lang}.json holds exactly the web client\'s messages', problems)

        try:
            with open(os.path.join(args.web_catalogues, 'languages.json'), encoding='utf-8') as f:
                listed = json.load(f).get('languages')
            check('languages.json lists the languages of LINGUAS',
                  [] if listed == languages else [f'languages.json lists {listed}, LINGUAS {languages}'])
        except (OSError, ValueError) as e:
            check('languages.json lists the languages of LINGUAS', [str(e)])

    return finish()


def finish():
    print(f'1..{len(results)}')
    failed = 0
    for number, (name, problems) in enumerate(results, 1):
        if problems:
            failed += 1
            print(f'not ok {number} - {name}')
            for problem in problems:
                for line in problem.splitlines():
                    print(f'# {line}')
        else:
            print(f'ok {number} - {name}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
