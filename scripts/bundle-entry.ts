/**
 * Entry point of the single-file bundle (action/repro.mjs, written by scripts/bundle.ts). It runs oclif exactly
 * as bin/run.js does, rooted at the bundle's directory: the package.json and oclif.manifest.json files oclif
 * reads there, the plugins it finds in node_modules/ and the command and hook modules it imports all come from
 * the bundle's embedded file table ('repro-bundle:vfs', generated at build time), never from the disk.
 */
import {execute, settings} from '@oclif/core'
import {root} from 'repro-bundle:vfs'

// every module is inside the bundle: oclif must not go looking for TypeScript sources next to it
settings.enableAutoTranspile = false
// a CommonJS program (see wrapperSource in scripts/bundle.ts): no top-level await; execute handles its errors
void execute({loadOptions: {root}})
