/** Reading hash files from disk, with the epoch each one gives to provider templates. */
import {stat} from 'node:fs/promises'

import {HashFileError, InvalidArgumentError} from '../errors.js'
import {type HashEntry, parseHashFiles} from './hash-file.js'
import {formatBytes, readRegularFile, RegularFileError} from './regular-file.js'

/**
 * The largest hash file read (64 MiB): Debian's whole main archive for one architecture is ~65,000 files,
 * about 10 MB as a hash file. A FIFO, a device or a directory is refused before it is read.
 */
export const HASH_FILE_MAX_BYTES = 64 * 2 ** 20

/** The text of one hash file: a regular file of at most HASH_FILE_MAX_BYTES, read once, bounded. */
export async function readHashFileText(file: string, label = file): Promise<string> {
  try {
    return (await readRegularFile(file, HASH_FILE_MAX_BYTES)).toString('utf8')
  } catch (error) {
    if (error instanceof RegularFileError)
      throw new HashFileError(
        `${label}: cannot read: ${error.missing ? 'ENOENT' : error.reason}${error.reason.includes('cap') ? ` (hash files are read up to ${formatBytes(HASH_FILE_MAX_BYTES)})` : ''}`,
      )
    throw error
  }
}

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
    const text = await readHashFileText(file)
    let mtime: number
    try {
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
