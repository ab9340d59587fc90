/** Reading hash files from disk, with the epoch each one gives to provider templates. */
import {readFile, stat} from 'node:fs/promises'

import {HashFileError, InvalidArgumentError} from '../errors.js'
import {type HashEntry, parseHashFiles} from './hash-file.js'

export interface EpochInfo {
  epoch: number
  source: 'SOURCE_DATE_EPOCH' | 'mtime'
}

export interface LoadedHashFiles {
  entries: HashEntry[]
  epochs: Map<string, EpochInfo>
  epochFor: (e: HashEntry) => number
}

export function sourceDateEpoch(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.SOURCE_DATE_EPOCH
  if (v === undefined || v === '') return undefined
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`SOURCE_DATE_EPOCH: "${v}" is not a non-negative integer`)
  return Number(v)
}

export async function loadHashFiles(files: string[], env: NodeJS.ProcessEnv = process.env): Promise<LoadedHashFiles> {
  if (files.length === 0) throw new InvalidArgumentError('no hash file given')
  const sde = sourceDateEpoch(env)
  const inputs: {file: string; text: string}[] = []
  const epochs = new Map<string, EpochInfo>()
  for (const file of files) {
    let text: string
    let mtime: number
    try {
      text = await readFile(file, 'utf8')
      mtime = Math.floor((await stat(file)).mtimeMs / 1000)
    } catch (error) {
      throw new HashFileError(
        `${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      )
    }
    inputs.push({file, text})
    epochs.set(file, sde === undefined ? {epoch: mtime, source: 'mtime'} : {epoch: sde, source: 'SOURCE_DATE_EPOCH'})
  }
  const entries = parseHashFiles(inputs)
  return {entries, epochs, epochFor: (e) => epochs.get(e.source.file)?.epoch ?? sde ?? 0}
}
