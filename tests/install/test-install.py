#!/usr/bin/env python3
# test-install.py — `meson install` puts everything in place, and the
# installed kaigi runs: --version, --help in Japanese, serves, stops cleanly
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Run by meson (suite install) with the build directory and the configured
# directories. Installs into a temporary DESTDIR (--no-rebuild: meson test
# has just built everything) and runs DESTDIR/PREFIX/BINDIR/kaigi, which
# finds its message catalogues in that copy of the tree (src/kaigi-locale.c).
# Prints TAP.

import argparse
import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.request

results = []


def check(name, ok, detail=''):
    results.append((name, ok, detail))
    return ok


def po_translation(source_root, lang, msgid):
    """The translation of MSGID in po/LANG.po, read with build-aux/po2json.py."""
    spec = importlib.util.spec_from_file_location('po2json', os.path.join(source_root, 'build-aux', 'po2json.py'))
    po2json = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(po2json)
    for entry in po2json.read_po(os.path.join(source_root, 'po', lang + '.po')):
        if entry['msgid'] == msgid and entry['msgstr'].get(0):
            return entry['msgstr'][0]
    raise KeyError(f'{msgid!r} has no translation in po/{lang}.po')


def has_locale(name):
    """Whether `locale -a` lists NAME (spelt as it does: ja_JP.utf8)."""
    r = subprocess.run(['locale', '-a'], stdout=subprocess.PIPE, universal_newlines=True)
    return name.lower() in (line.strip().lower() for line in r.stdout.splitlines())


def run_env(home, **extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('LC_') and k not in ('LANG', 'LANGUAGE')}
    env.update(HOME=home, XDG_CONFIG_HOME=os.path.join(home, '.config'),
               XDG_DATA_HOME=os.path.join(home, '.local', 'share'))
    env.update(extra)
    return env


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as res:
            return res.status, res.headers.get('Content-Type', ''), res.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get('Content-Type', ''), e.read()


def serve_and_stop(kaigi, env):
    """Start kaigi on port 0, fetch a few pages, SIGTERM it."""
    child = subprocess.Popen([kaigi, '--address', '127.0.0.1', '--port', '0'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, env=env)
    lines = queue.Queue()
    log = []

    def reader():
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=reader, daemon=True).start()
    base = None
    try:
        while base is None:
            line = lines.get(timeout=30)
            if line is None:
                break
            log.append(line.rstrip())
            m = re.search(r'Kaigi listening on (http://\S+?)/?$', line.strip())
            if m:
                base = m.group(1)
        if not check('the installed kaigi serves on port 0', base is not None, '\n'.join(log)):
            return

        status, _, _ = get(base + '/healthz')
        check('GET /healthz answers 200', status == 200, f'status {status}')

        status, ctype, body = get(base + '/')
        text = body.decode('utf-8', 'replace')
        check('GET / serves the web client HTML',
              status == 200 and ctype.startswith('text/html') and '<script type="module" src="/app.js">' in text,
              f'status {status}, {ctype}, {text[:200]!r}')

        status, ctype, body = get(base + '/i18n/ja.json')
        ok = status == 200
        if ok:
            catalogue = json.loads(body)
            ok = catalogue.get('language') == 'ja' and catalogue.get('messages', {}).get('Join') == '参加'
        check('GET /i18n/ja.json serves the Japanese web catalogue', ok, f'status {status}, {body[:200]!r}')
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            code = child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        check('SIGTERM stops it with exit status 0', code == 0, f'exit status {code}')


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--meson', required=True)
    parser.add_argument('--build-root', required=True)
    parser.add_argument('--source-root', required=True)
    parser.add_argument('--prefix', required=True)
    parser.add_argument('--bindir', required=True)
    parser.add_argument('--datadir', required=True)
    parser.add_argument('--localedir', required=True)
    parser.add_argument('--mandir', required=True)
    parser.add_argument('--version', required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix='kaigi-install-') as tmp:
        destdir = os.path.join(tmp, 'dest')
        home = os.path.join(tmp, 'home')
        os.makedirs(home)
        r = subprocess.run([args.meson, 'install', '-C', args.build_root, '--no-rebuild', '--quiet',
                            '--destdir', destdir],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if not check('meson install --destdir succeeds', r.returncode == 0, r.stdout):
            return finish()

        def under_prefix(*parts):
            path = os.path.join(args.prefix, *parts)
            return os.path.join(destdir, os.path.relpath(path, '/'))

        app_id = 'io.github.kaigi.Kaigi'
        expected = [
            (args.bindir, 'kaigi'),
            (args.datadir, 'applications', app_id + '.desktop'),
            (args.datadir, 'metainfo', app_id + '.metainfo.xml'),
            (args.datadir, 'icons', 'hicolor', 'scalable', 'apps', app_id + '.svg'),
            (args.localedir, 'ja', 'LC_MESSAGES', 'kaigi.mo'),
            (args.datadir, 'kaigi', 'web', 'index.html'),
            (args.datadir, 'kaigi', 'web', 'app.js'),
            (args.datadir, 'kaigi', 'web', 'style.css'),
            (args.datadir, 'kaigi', 'web', 'i18n', 'ja.json'),
            (args.datadir, 'kaigi', 'web', 'i18n', 'languages.json'),
        ]
        missing = [os.path.join(*e) for e in expected if not os.path.isfile(under_prefix(*e))]

        # --- Installed files from the service and packaging work -------------
        # (source in the tree → where it must land below DESTDIR). Each is
        # checked once its source exists; extend this list as files arrive.
        from_other_work = [
            ('data/kaigi.service', os.path.join('systemd', 'system', 'kaigi.service')),
            ('data/kaigi.conf', os.path.relpath(under_prefix(args.datadir, 'kaigi', 'kaigi.conf'), destdir)),
            ('data/kaigi.1', os.path.relpath(under_prefix(args.mandir, 'man1', 'kaigi.1'), destdir)),
        ]
        # --- end of the list ---------------------------------------------------
        installed = {os.path.relpath(os.path.join(d, f), destdir)
                     for d, _, files in os.walk(destdir) for f in files}
        for source, target in from_other_work:
            if any(os.path.exists(os.path.join(args.source_root, source + suffix)) for suffix in ('', '.in')):
                if not any(path == target or path.endswith(os.sep + target) for path in installed):
                    missing.append(f'{target} (from {source})')
        check('the program, desktop file, metainfo, icon, Japanese catalogue and web client are installed',
              not missing, 'missing: ' + ', '.join(missing) + '\ninstalled: ' + ', '.join(sorted(installed)))

        kaigi = under_prefix(args.bindir, 'kaigi')
        if not os.access(kaigi, os.X_OK):
            return finish()

        r = subprocess.run([kaigi, '--version'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, env=run_env(home, LC_ALL='C.UTF-8'))
        check('kaigi --version prints the version', r.returncode == 0 and r.stdout == f'kaigi {args.version}\n',
              repr(r.stdout))

        english = ['Print the version and exit', 'Kaigi — a self-hosted video-meeting server.']
        japanese = [po_translation(args.source_root, 'ja', m) for m in english]

        r = subprocess.run([kaigi, '--help'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, env=run_env(home, LC_ALL='C.UTF-8'))
        check('kaigi --help is English in the C locale',
              r.returncode == 0 and all(m in r.stdout for m in english), r.stdout)

        r = subprocess.run([kaigi, '--help'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, env=run_env(home, LC_ALL='C.UTF-8', LANGUAGE='ja'))
        check('kaigi --help is Japanese with LANGUAGE=ja',
              r.returncode == 0 and all(m in r.stdout for m in japanese), r.stdout)

        if check('the ja_JP.UTF-8 locale is generated (./scripts/kaigi-dev deps does it)',
                 has_locale('ja_JP.utf8'), 'locale -a does not list ja_JP.utf8'):
            r = subprocess.run([kaigi, '--help'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               universal_newlines=True, env=run_env(home, LANG='ja_JP.UTF-8'))
            check('kaigi --help is Japanese with LANG=ja_JP.UTF-8',
                  r.returncode == 0 and all(m in r.stdout for m in japanese), r.stdout)

        serve_and_stop(kaigi, run_env(home, LC_ALL='C.UTF-8'))
    return finish()


def finish():
    print(f'1..{len(results)}')
    for number, (name, ok, detail) in enumerate(results, 1):
        print(f'{"ok" if ok else "not ok"} {number} - {name}')
        if not ok and detail:
            for line in str(detail).splitlines():
                print(f'# {line}')
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == '__main__':
    sys.exit(main())
