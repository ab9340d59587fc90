/**
 * The conventions a new user expects, through the built CLI: topic help with descriptions of their own,
 * "did you mean" for a mistyped command (in a terminal, through util-linux `script`, which gives the CLI a
 * pseudo-terminal) and for a mistyped flag, and shell completion scripts that bash really completes with.
 */
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {rm} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {ROOT, runCli} from '../support/cli.js'
import {tempDir} from '../support/image-fixtures.js'

const topics = (
  JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    oclif: {topics: Record<string, {description: string}>}
  }
).oclif.topics

let dir: string
before(async () => {
  dir = await tempDir('repro-conventions-')
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

/** Run the CLI in a pseudo-terminal; answer `answer` once `prompt` appears. Output with ANSI codes removed. */
async function inTerminal(args: string[], prompt: RegExp, answer: string): Promise<{code: number | null; out: string}> {
  const command = [process.execPath, path.join(ROOT, 'bin', 'run.js'), ...args].map((a) => `'${a}'`).join(' ')
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    cwd: dir,
    env: {...process.env, NO_COLOR: '1', XDG_CACHE_HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir},
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let answered = false
  const clean = (s: string): string =>
    // eslint-disable-next-line no-control-regex
    s.replaceAll(/\u001B\[[0-9;?]*[A-Za-z]/g, '').replaceAll('\r', '')
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    if (!answered && prompt.test(clean(out))) {
      answered = true
      child.stdin.write(answer)
    }
  })
  child.stderr.on('data', (d: Buffer) => (out += d.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  return {code, out: clean(out)}
}

describe('help', () => {
  it('repro --help describes each topic with its own text', async () => {
    const r = await runCli(['--help'])
    assert.equal(r.code, 0, r.stderr)
    const section = r.stdout.slice(r.stdout.indexOf('TOPICS'), r.stdout.indexOf('COMMANDS')).replaceAll(/\s+/g, ' ')
    assert.ok(Object.keys(topics).length >= 5)
    for (const [topic, {description}] of Object.entries(topics)) {
      assert.ok(section.includes(` ${topic} ${description}`), `topic ${topic} in:\n${section}`)
    }
    // before: the cache topic borrowed `cache clean`'s text
    assert.ok(!section.includes('Remove every cached file'), section)
  })

  it('repro hash --help leads with the topic description', async () => {
    const r = await runCli(['hash', '--help'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.split('\n')[0], topics.hash.description)
  })
})

describe('did you mean', () => {
  it('a mistyped command, in a terminal: suggests the command, and runs nothing when declined', async () => {
    const r = await inTerminal(['biuld', '--sde', '0'], /Did you mean build\?/, 'n\r')
    assert.match(r.out, /biuld is not a repro command/)
    assert.match(r.out, /Did you mean build\?/)
    assert.match(r.out, /Run repro help for a list of available commands/)
    assert.equal(r.code, 127, r.out)
  })

  it('a mistyped command, in a terminal: runs the suggestion when accepted', async () => {
    const r = await inTerminal(
      ['inof', '--cache', path.join(dir, 'cache'), '--root', dir],
      /Did you mean info\?/,
      'y\r',
    )
    assert.match(r.out, /Did you mean info\?/)
    assert.match(r.out, /^version: /m)
    assert.equal(r.code, 0, r.out)
  })

  it('a mistyped command without a terminal (a script, CI): says so and exits 127', async () => {
    const r = await runCli(['biuld'])
    assert.equal(r.code, 127, r.stderr)
    assert.match(r.stderr, /biuld is not a repro command/)
    assert.equal(r.stdout, '')
  })

  it('a mistyped flag: one hint, exit 2; with --json the error document says the same', async () => {
    const r = await runCli(['build', '--sdee', '0', path.join(dir, 'nowhere')])
    assert.equal(r.code, 2, r.stderr)
    assert.match(r.stderr, /Nonexistent flag: --sdee/)
    assert.match(r.stderr, /did you mean --sde \(not --sdee\)\?/)
    const j = await runCli(['analyze', '--verfy', 'x.tar', '--json'])
    assert.equal(j.code, 2, j.stderr)
    const doc = JSON.parse(j.stdout) as {error: {code: string; suggestions: string[]}}
    assert.equal(doc.error.code, 'E_INVALID_ARGUMENT')
    assert.deepEqual(doc.error.suggestions, ['did you mean --verify (not --verfy)?'])
  })
})

describe('shell completion', () => {
  it('repro autocomplete bash|zsh|powershell writes the scripts; bash completes commands, topics and flags', async () => {
    const env = {XDG_CACHE_HOME: dir}
    for (const shell of ['bash', 'zsh', 'powershell']) {
      const r = await runCli(['autocomplete', shell], {env})
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, new RegExp(`repro autocomplete script ${shell}`))
    }
    const ac = path.join(dir, 'repro', 'autocomplete')
    const bash = path.join(ac, 'functions', 'bash', 'repro.bash')
    assert.ok(existsSync(path.join(ac, 'functions', 'zsh', '_repro')), 'zsh completion function')
    assert.match(
      readFileSync(path.join(ac, 'functions', 'powershell', 'repro.ps1'), 'utf8'),
      /Register-ArgumentCompleter/,
    )
    const script = await runCli(['autocomplete', 'script', 'bash'], {env})
    assert.equal(script.code, 0, script.stderr)
    assert.ok(script.stdout.includes(path.join(ac, 'bash_setup')), script.stdout)

    const complete = (...words: string[]): string => {
      const r = spawnSync(
        'bash',
        [
          '-c',
          `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _repro_autocomplete; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'bash',
          bash,
          ...words,
        ],
        {encoding: 'utf8'},
      )
      assert.equal(r.status, 0, r.stderr)
      return r.stdout.trim().split('\n').sort().join(' ')
    }
    assert.equal(complete('repro', 'bu'), 'build')
    assert.equal(complete('repro', 'hash', 'in'), 'inspect')
    assert.equal(complete('repro', 'build', '--sd'), '--sde --sde-from-git')
    assert.equal(complete('repro', 'analyze', '--ver'), '--verbose --verify')
  })
})
