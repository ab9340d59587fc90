/**
 * Hostile package databases for `repro sbom`, generated here (deterministic; images written by node-tar and
 * zlib through tests/support/image-fixtures.ts, not by the reader under test): a huge field, missing fields,
 * binary garbage, a million and more stanzas, a database over its size limit, path-traversal names and
 * control characters. Each run is the built CLI under /usr/bin/time: bounded time and peak RSS, and either
 * exit 0 with an honest warning (the bad part named and skipped) or exit 2 with one line naming the input,
 * the file and the limit, and nothing written.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {readdir, readFile, rm} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT} from '../support/cli.js'
import {buildImage, type FileSpec, tempDir, writeArchive} from '../support/image-fixtures.js'
import {spdxProblems} from '../support/sbom-schemas.js'

/** Bounds for every case: far above what a correct reader needs (measured: see the README), far below a runaway. */
const MAX_SECONDS = 60
const MAX_RSS_MB = 900

let dir: string
before(async () => {
  dir = await tempDir('repro-sbom-hostile-')
})
const measured: string[] = []
after(async () => {
  await rm(dir, {force: true, recursive: true})
  // the numbers README quotes: one line per case
  process.stderr.write(`sbom hostile cases (seconds, peak RSS MB):\n${measured.join('\n')}\n`)
})

/** Deterministic pseudo-random bytes (sha256 in counter mode). */
function garbage(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n)
  for (let i = 0, k = 0; i < n; k++) {
    const h = createHash('sha256').update(`${seed}:${k}`).digest()
    i += h.copy(out, i)
  }
  return out
}

const ok = (name: string, version = '1.0'): string =>
  `Package: ${name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: ${version}\n`

const DIRS: FileSpec[] = ['var/', 'var/lib/', 'var/lib/dpkg/'].map((p) => ({path: p, type: 'dir'}))

async function imageWith(name: string, layers: FileSpec[][]): Promise<string> {
  const img = await buildImage({layers, compression: 'none'})
  return (await writeArchive('docker-exporter', [img], path.join(dir, `${name}.tar`))).path
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
  seconds: number
  rssMb: number
}

/** The built CLI under /usr/bin/time (peak RSS of the node process, wall time). */
function run(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      '/usr/bin/time',
      ['-f', 'TIME %M %e', process.execPath, path.join(ROOT, 'bin', 'run.js'), ...args],
      {
        env: {...process.env, NO_COLOR: '1'},
      },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), MAX_SECONDS * 2000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const m = /TIME (\d+) ([\d.]+)\s*$/.exec(stderr)
      assert.ok(m, `no /usr/bin/time line in ${stderr.slice(-500)}`)
      resolve({code, stdout, stderr: stderr.slice(0, m.index), seconds: Number(m[2]), rssMb: Number(m[1]) / 1024})
    })
  })
}

async function sbom(archive: string, out: string): Promise<Run & {doc?: Record<string, unknown>}> {
  const r = await run(['sbom', archive, '-o', out])
  measured.push(`  ${path.basename(archive)}: exit ${r.code}, ${r.seconds} s, ${r.rssMb.toFixed(0)} MB`)
  assert.ok(r.seconds < MAX_SECONDS, `${archive}: ${r.seconds} s (bound ${MAX_SECONDS} s)`)
  assert.ok(r.rssMb < MAX_RSS_MB, `${archive}: peak RSS ${r.rssMb.toFixed(0)} MB (bound ${MAX_RSS_MB} MB)`)
  if (r.code !== 0) return r
  const doc = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>
  assert.deepEqual(spdxProblems(doc), [], `${out}: not schema-valid`)
  return {...r, doc}
}

const names = (doc: Record<string, unknown> | undefined): string[] =>
  ((doc?.packages ?? []) as Array<{name: string; primaryPackagePurpose?: string}>)
    .filter((p) => !p.primaryPackagePurpose)
    .map((p) => p.name)
    .sort()

async function assertNothingWritten(out: string): Promise<void> {
  const left = (await readdir(path.dirname(out))).filter((f) => f.includes(path.basename(out)))
  assert.deepEqual(left, [], `${out}: nothing may be written on an error`)
}

describe('repro sbom: hostile package databases', () => {
  it('a 16 MiB package name and a 16 MiB version: those packages skipped with a warning, the rest listed', async () => {
    const huge = 'a'.repeat(16 * 1024 * 1024)
    const status = [
      ok(huge),
      ok('good'),
      ok('longver', `1.${huge}`),
      `Package: big-desc\nStatus: install ok installed\nVersion: 2\nDescription: ${huge}\n`,
    ].join('\n')
    const a = await imageWith('huge', [[...DIRS, {path: 'var/lib/dpkg/status', content: status}]])
    const r = await sbom(a, path.join(dir, 'huge.spdx.json'))
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(names(r.doc), ['big-desc', 'good'])
    assert.match(
      r.stderr,
      /var\/lib\/dpkg\/status: paragraph 1 \("a{20,}.*: name is 16777216 characters long \(limit maxFieldLength = 256\); package skipped/,
    )
    assert.match(r.stderr, /paragraph 3 \("longver"\): version is 16777218 characters long/)
    assert.ok(r.stderr.length < 20_000, 'warnings quote names shortened, never whole')
  })

  it('missing fields: paragraphs without Package or Version are counted and skipped', async () => {
    const paras = [ok('kept')]
    for (let i = 0; i < 5000; i++)
      paras.push(
        i % 2 ? `Package: nover${i}\nStatus: install ok installed\n` : `Version: ${i}\nStatus: install ok installed\n`,
      )
    const a = await imageWith('missing', [[...DIRS, {path: 'var/lib/dpkg/status', content: paras.join('\n')}]])
    const r = await sbom(a, path.join(dir, 'missing.spdx.json'))
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(names(r.doc), ['kept'])
    assert.match(r.stderr, /var\/lib\/dpkg\/status: 5000 paragraph\(s\) without Package or Version skipped/)
  })

  it('binary garbage in every database format: no packages, warnings, a valid document', async () => {
    const g = garbage(24 * 1024 * 1024, 'sbom')
    const layer: FileSpec[] = [
      ...DIRS,
      {path: 'var/lib/dpkg/status', content: g},
      {path: 'var/lib/dpkg/status.d/', type: 'dir'},
      {path: 'var/lib/dpkg/status.d/x', content: g.subarray(0, 1 << 20)},
      {path: 'lib/', type: 'dir'},
      {path: 'lib/apk/', type: 'dir'},
      {path: 'lib/apk/db/', type: 'dir'},
      {path: 'lib/apk/db/installed', content: g.subarray(1 << 20, 9 << 20)},
      {path: 'var/lib/pacman/', type: 'dir'},
      {path: 'var/lib/pacman/local/', type: 'dir'},
      {path: 'var/lib/pacman/local/x-1-1/', type: 'dir'},
      {path: 'var/lib/pacman/local/x-1-1/desc', content: g.subarray(9 << 20, 10 << 20)},
      {path: 'etc/', type: 'dir'},
      {path: 'etc/os-release', content: g.subarray(0, 70_000)},
      {path: 'usr/', type: 'dir'},
      {path: 'usr/lib/', type: 'dir'},
      {path: 'usr/lib/sysimage/', type: 'dir'},
      {path: 'usr/lib/sysimage/rpm/', type: 'dir'},
      // a sqlite header, then garbage: handed to the machine's rpm, which must refuse it, not hang
      {
        path: 'usr/lib/sysimage/rpm/rpmdb.sqlite',
        content: Buffer.concat([Buffer.from('SQLite format 3\u0000'), g.subarray(0, 4 << 20)]),
      },
    ]
    const a = await imageWith('garbage', [layer])
    const r = await sbom(a, path.join(dir, 'garbage.spdx.json'))
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(names(r.doc), [])
    assert.match(r.stderr, /var\/lib\/pacman\/local\/x-1-1\/desc: no %NAME% or %VERSION%; skipped/)
    assert.match(r.stderr, /usr\/lib\/sysimage\/rpm\/rpmdb\.sqlite: rpm (cannot read it|is not installed)/)
  })

  it('1,100,000 installed stanzas (47 MiB, within the size limit): exit 2, the input, the file and maxPackages named, nothing written', async () => {
    const parts: string[] = []
    for (let i = 0; i < 1_100_000; i++) parts.push(`Package: p${i}\nStatus: i ok installed\nVersion: 1\n`)
    const a = await imageWith('million', [[...DIRS, {path: 'var/lib/dpkg/status', content: parts.join('\n')}]])
    const out = path.join(dir, 'million.spdx.json')
    const r = await sbom(a, out)
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `${a.replaceAll('.', '\\.')}: var/lib/dpkg/status lists more than 200000 packages \\(limit maxPackages = 200000\\)`,
      ),
    )
    assert.equal(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('Error')).length,
      1,
    )
    await assertNothingWritten(out)
  })

  it('3,000,000 junk stanzas: bounded, one warning', async () => {
    const a = await imageWith('junk', [
      [...DIRS, {path: 'var/lib/dpkg/status', content: `${ok('real')}\n${'X: y\n\n'.repeat(3_000_000)}`}],
    ])
    const r = await sbom(a, path.join(dir, 'junk.spdx.json'))
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(names(r.doc), ['real'])
    assert.match(r.stderr, /3000000 paragraph\(s\) without Package or Version skipped/)
  })

  it('a status file over maxDatabaseFileBytes (64 MiB): exit 2 naming the input, the file and the limit', async () => {
    const a = await imageWith('oversize', [
      [...DIRS, {path: 'var/lib/dpkg/status', content: Buffer.alloc(64 * 1024 * 1024 + 1, 0x41)}],
    ])
    const out = path.join(dir, 'oversize.spdx.json')
    const r = await sbom(a, out)
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /oversize\.tar: var\/lib\/dpkg\/status in layer 1 is 67108865 bytes \(limit maxDatabaseFileBytes = 64 MiB\); the package database is not read/,
    )
    await assertNothingWritten(out)
  })

  it('30,000 pacman packages and 15,000 whiteouts over them: bounded, the 15,000 left listed', async () => {
    const l1: FileSpec[] = [
      ...DIRS,
      {path: 'var/lib/pacman/', type: 'dir'},
      {path: 'var/lib/pacman/local/', type: 'dir'},
    ]
    const l2: FileSpec[] = []
    for (let i = 0; i < 30_000; i++) {
      l1.push({path: `var/lib/pacman/local/p${i}-1-1/`, type: 'dir'})
      l1.push({path: `var/lib/pacman/local/p${i}-1-1/desc`, content: `%NAME%\np${i}\n\n%VERSION%\n1-1\n`})
      if (i % 2 === 0) l2.push({path: `var/lib/pacman/local/.wh.p${i}-1-1`, content: ''})
    }
    const a = await imageWith('whiteouts', [l1, l2])
    const out = path.join(dir, 'whiteouts.spdx.json')
    const r = await sbom(a, out)
    assert.equal(r.code, 0, r.stderr)
    const listed = names(r.doc)
    assert.equal(listed.length, 15_000)
    assert.ok(
      listed.includes('p1') && listed.includes('p29999') && !listed.includes('p0') && !listed.includes('p29998'),
    )
  })

  it('path traversal and control characters in names: never followed, never printed raw', async () => {
    const layer: FileSpec[] = [
      ...DIRS,
      {
        path: 'var/lib/dpkg/status',
        content: [ok('../../../etc/passwd'), ok('esc\u001b[31mred'), ok('fine')].join('\n'),
      },
      // a "status" reached through ".." is not where a container looks
      {path: 'var/lib/dpkg/../dpkg/status.d/evil', content: ok('evil')},
      {path: 'var/lib/pacman/local/../../../../tmp/desc', content: '%NAME%\nevil2\n\n%VERSION%\n1\n'},
    ]
    const a = await imageWith('traversal', [layer])
    const out = path.join(dir, 'traversal.spdx.json')
    const r = await sbom(a, out)
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(names(r.doc), ['../../../etc/passwd', 'fine'])
    const doc = JSON.stringify(r.doc)
    assert.ok(doc.includes('pkg:deb/debian/..%2F..%2F..%2Fetc%2Fpasswd@1.0'), 'the name is percent-encoded in the purl')
    assert.ok(!r.stderr.includes('\u001b'), 'no raw escape on stderr')
    assert.match(
      r.stderr,
      /paragraph 2 \("esc\\x1b\[31mred"\): name "esc\\x1b\[31mred" has the character U\+001B; package skipped/,
    )
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith('traversal')).sort(), [
      'traversal.spdx.json',
      'traversal.tar',
    ])
  })
})
