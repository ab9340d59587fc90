/**
 * Fixtures: nightly/fixtures/NAME/{fixture.yaml, Dockerfile, ...}. Loading validates fixture.yaml; staging
 * copies the fixture into a work directory and adds the .deb files its debs/SHA256SUMS pins (checked by sha256).
 */
import {createHash} from 'node:crypto'
import {cp, readdir, readFile, stat} from 'node:fs/promises'
import path from 'node:path'

import yaml from 'js-yaml'

import {type FixtureMeta, MatrixError} from './matrix.js'

export function parseFixtureMeta(name: string, text: string): FixtureMeta {
  const doc = (yaml.load(text) ?? {}) as Record<string, unknown>
  const where = `nightly/fixtures/${name}/fixture.yaml`
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new MatrixError(`${where}: expected a mapping`)
  const expect = doc.expect ?? 'reproducible'
  if (expect !== 'reproducible' && expect !== 'not-reproducible')
    throw new MatrixError(`${where}: expect: ${String(expect)}: expected reproducible or not-reproducible`)
  const list = (k: string): string[] | undefined => {
    const v = doc[k]
    if (v === undefined) return undefined
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
      throw new MatrixError(`${where}: ${k}: expected a list of names`)
    return v as string[]
  }
  if (doc.base !== undefined && typeof doc.base !== 'string') throw new MatrixError(`${where}: base: expected a name`)
  return {
    name,
    description: typeof doc.description === 'string' ? doc.description : '',
    base: doc.base as string | undefined,
    debs: doc.debs === true,
    expect,
    expectCauses: list('expectCauses') ?? [],
    runtimes: list('runtimes'),
  }
}

export async function loadFixtures(dir: string): Promise<FixtureMeta[]> {
  const out: FixtureMeta[] = []
  for (const name of (await readdir(dir)).sort()) {
    const file = path.join(dir, name, 'fixture.yaml')
    const text = await readFile(file, 'utf8').catch(() => undefined)
    if (text === undefined) continue
    out.push(parseFixtureMeta(name, text))
  }
  return out
}

/** SHA256SUMS lines → {file: sha256}. */
export function parseSums(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue
    const m = /^([a-f0-9]{64}) [ *]([^/\s]+)$/.exec(line.trim())
    if (!m) throw new MatrixError(`${where}:${i + 1}: expected "<sha256>  <file name>"`)
    out[m[2]] = m[1]
  }
  return out
}

async function findFile(dir: string, name: string): Promise<string | undefined> {
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    const p = path.join(dir, entry.name)
    if (entry.isDirectory()) {
      const found = await findFile(p, name)
      if (found) return found
    } else if (entry.name === name) return p
  }
  return undefined
}

/** Copy the fixture into work/NAME; add pinned .debs found (anywhere) under debsDir, checked by sha256. */
export async function stageFixture(
  fixturesDir: string,
  meta: FixtureMeta,
  work: string,
  debsDir?: string,
): Promise<string> {
  const dest = path.join(work, meta.name)
  await cp(path.join(fixturesDir, meta.name), dest, {recursive: true})
  if (meta.debs) {
    if (!debsDir) throw new MatrixError(`fixture ${meta.name} needs .deb files: pass --debs DIR or --testbed`)
    if (!(await stat(debsDir).catch(() => undefined))?.isDirectory())
      throw new MatrixError(`--debs ${debsDir}: not a directory`)
    const sumsFile = path.join(dest, 'debs', 'SHA256SUMS')
    const sums = parseSums(await readFile(sumsFile, 'utf8'), `nightly/fixtures/${meta.name}/debs/SHA256SUMS`)
    for (const [name, sha] of Object.entries(sums)) {
      const src = await findFile(debsDir, name)
      if (!src) throw new MatrixError(`fixture ${meta.name}: ${name} is not under ${debsDir}`)
      const got = createHash('sha256')
        .update(await readFile(src))
        .digest('hex')
      if (got !== sha) throw new MatrixError(`fixture ${meta.name}: ${src}: sha256 ${got}, SHA256SUMS pins ${sha}`)
      await cp(src, path.join(dest, 'debs', name))
    }
  }
  return dest
}
