/**
 * bin/dev.js without oclif.manifest.json: oclif reads the manifest (and then imports dist/) whenever the file
 * exists, even in development mode, so after `npm run build` bin/dev.js runs the last build, not src/.
 * This runner loads the root plugin with ignoreManifest, so tests run the sources as they are.
 */
import {Config, flush, handle, Plugin, run} from '@oclif/core'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

process.env.NODE_ENV = 'development'
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const plugin = new Plugin({isRoot: true, root, ignoreManifest: true})
await plugin.load()
const config = await Config.load({root, plugins: new Map([[plugin.name, plugin]])})
await run(process.argv.slice(2), config)
  .then(() => flush())
  .catch(async (error) => handle(error))
