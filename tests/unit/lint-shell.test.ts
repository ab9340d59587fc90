import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {positioned} from '../../src/dockerfile/parse.js'
import {parseShell} from '../../src/lint/shell.js'

const names = (script: string): string[] => parseShell(positioned(script, 1, 1)).map((c) => c.name)

describe('parseShell', () => {
  it('splits on && || ; | & and newlines', () => {
    assert.deepEqual(names('a && b || c; d | e & f\ng'), ['a', 'b', 'c', 'd', 'e', 'f', 'g'])
  })

  it('keeps quoted operators inside words and unquotes values', () => {
    const [cmd] = parseShell(positioned(`echo "a && b" 'c | d' e\\ f`, 1, 1))
    assert.deepEqual(
      cmd.args.map((a) => a.value),
      ['a && b', 'c | d', 'e f'],
    )
  })

  it('finds commands inside $(…), backticks, subshells, braces and sh -c', () => {
    assert.deepEqual(names('echo "$(date +%s)" `uuidgen` ; (cd x && make) ; { hostname; }'), [
      'echo',
      'cd',
      'make',
      'hostname',
      'date',
      'uuidgen',
    ])
    assert.deepEqual(names(`sh -c 'pip install x && useradd u'`), ['sh', 'pip', 'useradd'])
  })

  it('looks through assignments, wrappers and control keywords', () => {
    const cmds = parseShell(
      positioned(
        'if true; then DEBIAN_FRONTEND=noninteractive sudo -E apt-get install -y x; fi\nfind . | xargs -r -n 1 pacman -S y',
        1,
        1,
      ),
    )
    assert.deepEqual(
      cmds.map((c) => c.name),
      ['true', 'apt-get', 'find', 'pacman'],
    )
    assert.deepEqual(cmds[1].assignments, [{name: 'DEBIAN_FRONTEND', value: 'noninteractive'}])
    assert.equal(cmds[3].pipeline, cmds[2].pipeline)
    assert.equal(cmds[3].pipeIndex, 1)
  })

  it('skips comments, for/case headers and here-document bodies', () => {
    assert.deepEqual(names('# apt-get install x\nfor k in a b; do gpg --recv $k; done'), ['gpg'])
    assert.deepEqual(names('cat <<EOF > /x\nuseradd nobody\nEOF\necho ok'), ['cat', 'echo'])
    assert.deepEqual(names('case "$a" in x) b=1 ;; esac'), [''])
  })

  it('separates redirections from arguments', () => {
    const [cmd] = parseShell(positioned('date 2>&1 > /stamp', 1, 1))
    assert.deepEqual(cmd.args, [])
    assert.deepEqual(cmd.redirects, [
      {op: '2>&', target: '1'},
      {op: '>', target: '/stamp'},
    ])
  })

  it('survives hostile text in bounded time: unbalanced quotes, deep nesting', () => {
    assert.equal(names('echo "unterminated').length, 1)
    assert.ok(names(`echo ${'$('.repeat(2000)}date${')'.repeat(2000)}`).length >= 1)
  })
})
