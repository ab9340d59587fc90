/**
 * Fixtures: nightly/fixtures/NAME/{fixture.yaml, Dockerfile, ...}. Loading validates fixture.yaml.
 */
import {cp, readdir, readFile} from 'node:fs/promises'
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
    hashfile: typeof doc.hashfile === 'string' ? doc.hashfile : undefined,
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
  // canaries last: the report reads top-down from the plain cases to the deliberately broken one
  return out.sort((a, b) => Number(a.expect !== 'reproducible') - Number(b.expect !== 'reproducible'))
}

/** Copy the fixture into work/NAME (the build reads it there: the source tree is never written to). */
export async function stageFixture(fixturesDir: string, meta: FixtureMeta, work: string): Promise<string> {
  const dest = path.join(work, meta.name)
  await cp(path.join(fixturesDir, meta.name), dest, {recursive: true})
  return dest
}
