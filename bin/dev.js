#!/usr/bin/env -S node --import tsx --no-warnings
// Runs the TypeScript sources. oclif reads oclif.manifest.json whenever it exists, even in development
// mode, and then imports dist/; loading the root plugin with ignoreManifest makes src/ what runs.
import {Config, flush, handle, Plugin, run} from '@oclif/core'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

process.env.NODE_ENV = 'development'
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const plugin = new Plugin({ignoreManifest: true, isRoot: true, root})
await plugin.load()
const config = await Config.load({plugins: new Map([[plugin.name, plugin]]), root})
await run(process.argv.slice(2), config)
  .then(() => flush())
  .catch(async (error) => handle(error))
