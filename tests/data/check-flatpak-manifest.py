#!/usr/bin/env python3
# check-flatpak-manifest.py — flatpak/io.github.kaigi.Kaigi.json, offline
#
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Parses the manifest (and any module files it names) and checks what
# flatpak-builder and users rely on: the app id, the command, exactly the
# two sandbox holes (network; the recordings folder), the GNOME runtime and
# SDK of the version flatpak/README.md explains, every downloaded source
# pinned by sha256 (or a git commit), and a last module that builds this
# repository with meson. Prints TAP.

import json
import os
import sys

APP_ID = 'io.github.kaigi.Kaigi'
RUNTIME = ('org.gnome.Platform', 'org.gnome.Sdk', '51')
FINISH_ARGS = ['--share=network', '--filesystem=xdg-videos/Kaigi:create']

results = []


def check(name, ok, detail=''):
    results.append((name, ok, detail))


def load_modules(modules, base_dir, problems):
    """The modules, with those given as file names read in, depth first."""
    out = []
    for module in modules:
        if isinstance(module, str):
            path = os.path.join(base_dir, module)
            try:
                with open(path, encoding='utf-8') as f:
                    module = json.load(f)
            except (OSError, ValueError) as e:
                problems.append(f'module file {module}: {e}')
                continue
            module['_dir'] = os.path.dirname(path)
        else:
            module['_dir'] = base_dir
        out.extend(load_modules(module.get('modules', []), module['_dir'], problems))
        out.append(module)
    return out


def main():
    path = os.path.abspath(sys.argv[1])
    manifest_dir = os.path.dirname(path)
    try:
        with open(path, encoding='utf-8') as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        check('the manifest is JSON', False, str(e))
        return finish()
    check('the manifest is JSON', True)

    app_id = manifest.get('id', manifest.get('app-id'))
    check(f'the app id is {APP_ID}, as the file name says',
          app_id == APP_ID and os.path.basename(path) == APP_ID + '.json', f'id {app_id!r}')
    check('the command is kaigi', manifest.get('command') == 'kaigi', repr(manifest.get('command')))
    check('finish-args are exactly network and the recordings folder',
          manifest.get('finish-args') == FINISH_ARGS, repr(manifest.get('finish-args')))
    got = (manifest.get('runtime'), manifest.get('sdk'), manifest.get('runtime-version'))
    check('the runtime is org.gnome.Platform//%s with org.gnome.Sdk' % RUNTIME[2], got == RUNTIME, repr(got))

    problems = []
    modules = load_modules(manifest.get('modules', []), manifest_dir, problems)
    for module in modules:
        for source in module.get('sources', []):
            if isinstance(source, str):
                continue
            kind = source.get('type')
            if kind in ('archive', 'file') and 'url' in source and not source.get('sha256'):
                problems.append(f'{module.get("name")}: {source["url"]} has no sha256')
            if kind == 'git' and not (source.get('commit') or source.get('tag')):
                problems.append(f'{module.get("name")}: {source.get("url")} has neither commit nor tag')
    check('every module loads and every download is pinned', not problems, '\n'.join(problems))

    last = modules[-1] if modules else {}
    sources = [s for s in last.get('sources', []) if isinstance(s, dict)]
    dirs = [s for s in sources if s.get('type') == 'dir']
    root = os.path.normpath(os.path.join(last.get('_dir', manifest_dir), dirs[0]['path'])) if dirs else None
    project = ''
    if root and os.path.exists(os.path.join(root, 'meson.build')):
        with open(os.path.join(root, 'meson.build'), encoding='utf-8') as f:
            project = f.read(200)
    check('the last module builds this repository with meson',
          last.get('name') == 'kaigi' and last.get('buildsystem') == 'meson' and len(dirs) == 1
          and "project('kaigi'" in project,
          f'last module {last.get("name")!r}, buildsystem {last.get("buildsystem")!r}, dir sources {dirs}, root {root}')
    opts = last.get('config-opts', [])
    check('it builds without the test suites', '-Dtests=false' in opts, repr(opts))
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
