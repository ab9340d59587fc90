/**
 * A small program for tests/unit/lifecycle.test.ts: installs the cleanup registry as the base command does,
 * registers a temp dir, a partial file and an order probe (a path cleanup), starts a shell with two grandchildren
 * through realExec, prints "ready <pid>" and waits to be signalled (mode "wait") or fails (mode "throw").
 * The probe records whether the shell's group was already gone when the paths were cleaned (the order).
 */
import {execFileSync} from 'node:child_process'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'

import {realExec} from '../../src/exec.js'
import {lifecycle} from '../../src/lifecycle.js'

const [dir, mode] = process.argv.slice(2)
lifecycle.install()
const temp = path.join(dir, 'temp')
mkdirSync(temp)
writeFileSync(path.join(temp, 'big'), 'x'.repeat(1024))
lifecycle.registerPath(temp)
const partial = path.join(dir, '.out.tar.repro-partial')
writeFileSync(partial, 'partial')
lifecycle.registerPath(partial)
const pgidFile = path.join(dir, 'pgid')
lifecycle.register('path', 'order probe', () => {
  const pgid = readFileSync(pgidFile, 'utf8').trim()
  const live = execFileSync('ps', ['-eo', 'pgid=,stat='], {encoding: 'utf8'})
    .split('\n')
    .filter((l) => l.trim().split(/\s+/)[0] === pgid && !l.trim().split(/\s+/)[1]?.startsWith('Z'))
  writeFileSync(path.join(dir, 'path-phase'), `live=${live.length}\n`)
})
const running = realExec(['sh', '-c', `echo $$ > ${pgidFile}; sleep 300 & sleep 300 & wait`], {killGraceMs: 1000})
while (!readFileSync(pgidFile, {flag: 'a+', encoding: 'utf8'}).trim()) await new Promise((r) => setTimeout(r, 20))
process.stdout.write(`ready ${process.pid}\n`)
if (mode === 'throw') {
  // an error with things still registered: the exit hook removes the paths and kills the group
  await new Promise((r) => setTimeout(r, 50))
  throw new Error('boom')
}
await running.catch(() => {})
