/** bin/dev.js with the root plugin loaded without oclif.manifest.json (see diff-cli.ts). */
import {Config, flush, handle, Plugin, run} from '@oclif/core'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

process.env.NODE_ENV = 'development'
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const plugin = new Plugin({ignoreManifest: true, isRoot: true, root})
await plugin.load()
const config = await Config.load({plugins: new Map([[plugin.name, plugin]]), root})
await run(process.argv.slice(2), config)
  .then(() => flush())
  .catch(async (error) => handle(error))
