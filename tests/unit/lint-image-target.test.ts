/**
 * How `repro lint` tells an image target from a build context or a Dockerfile (src/lint/image.ts): schemes,
 * OCI layout directories, and files sniffed by their first bytes (tar written by python3's tarfile, gzip and
 * zstd magic), never by name.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {after, before, test} from 'node:test'

import {isImageTarget} from '../../src/lint/image.js'

let dir: string
before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'repro-lint-target-'))
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY a /a\n')
  writeFileSync(path.join(dir, 'image.tar.Dockerfile'), 'FROM scratch\n')
  mkdirSync(path.join(dir, 'ctx'))
  writeFileSync(path.join(dir, 'ctx', 'Dockerfile'), 'FROM scratch\n')
  mkdirSync(path.join(dir, 'node-ctx', 'blobs'), {recursive: true})
  writeFileSync(path.join(dir, 'node-ctx', 'index.json'), '{}')
  writeFileSync(path.join(dir, 'node-ctx', 'Dockerfile'), 'FROM scratch\n')
  mkdirSync(path.join(dir, 'layout2', 'blobs'), {recursive: true})
  writeFileSync(path.join(dir, 'layout2', 'index.json'), '{}')
  mkdirSync(path.join(dir, 'layout'))
  writeFileSync(path.join(dir, 'layout', 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  // python3 writes the tars: POSIX (ustar) and v7 (no magic: only the header checksum tells)
  execFileSync('python3', [
    '-c',
    `import io, sys, tarfile
for name, fmt in (('posix.tar', tarfile.PAX_FORMAT), ('v7.tar', tarfile.GNU_FORMAT)):
    with tarfile.open(sys.argv[1] + '/' + name, 'w', format=fmt) as t:
        i = tarfile.TarInfo('manifest.json'); data = b'[]'; i.size = len(data); t.addfile(i, io.BytesIO(data))
raw = bytearray(open(sys.argv[1] + '/v7.tar', 'rb').read())
raw[257:265] = bytes(8)  # no ustar/GNU magic: a v7 header
s = sum(raw[:148]) + 8 * 0x20 + sum(raw[156:512])
raw[148:156] = b'%06o\\0 ' % s
open(sys.argv[1] + '/v7.tar', 'wb').write(raw)`,
    dir,
  ])
  writeFileSync(path.join(dir, 'x.gz'), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]))
  writeFileSync(path.join(dir, 'x.zst'), Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]))
  writeFileSync(path.join(dir, 'Dockerfile.tar'), 'FROM scratch\n'.repeat(100))
})
after(() => rmSync(dir, {recursive: true, force: true}))

test('images: schemes, OCI layouts, tar/gzip/zstd content whatever the name', () => {
  for (const t of [
    'docker://app:1',
    'podman://app:1',
    'registry://localhost:5000/a:1',
    'layout',
    'layout2',
    'posix.tar',
    'v7.tar',
    'x.gz',
    'x.zst',
  ])
    assert.equal(isImageTarget(t, dir), true, t)
})

test('not images: Dockerfiles (whatever their name), contexts, missing paths; --image forces', () => {
  for (const t of [
    'Dockerfile',
    'image.tar.Dockerfile',
    'Dockerfile.tar',
    'ctx',
    'node-ctx',
    '.',
    'missing.tar',
    'localhost:5000/a:1',
  ])
    assert.equal(isImageTarget(t, dir), false, t)
  assert.equal(isImageTarget('localhost:5000/a:1', dir, true), true)
})
