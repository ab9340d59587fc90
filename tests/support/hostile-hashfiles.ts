/**
 * A deterministic generator of hostile hash files (and a few legitimate ones), written as raw bytes without
 * any of repro's code: the corpus for tests/unit/pkg-hashfile-corpus.test.ts and
 * tests/integration/hashfile-hostile.test.ts. Same seed, same corpus, every run.
 */
import {createHash} from 'node:crypto'

export interface HostileFile {
  /** the file's name inside the case's directory */
  name: string
  bytes: Buffer
}

export interface HostileCase {
  id: string
  category: string
  files: HostileFile[]
  /** refused: exit 2 naming errorAt; valid: exit 0 */
  expect: 'refused' | 'valid'
  /** for refused: the file (one of files[].name) and line the error must name */
  errorAt?: {file: string; line: number}
  /** for valid: every entry's name and the bytes a provider serves for it */
  entries?: {name: string; content: Buffer}[]
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex')

/** mulberry32: a tiny seeded PRNG, so the "random" cases are the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Names `repro hash generate` writes for the five distros (and the forms their metadata allows). */
export const DISTRO_NAMES = [
  'pool/main/h/hello/hello_2.10-3_amd64.deb',
  'pool/main/g/gcc-13/g++-13_13.2.0-23_amd64.deb',
  'pool/main/libs/libstdc++/libstdc++6_14.2.0-4~bpo12+1_amd64.deb',
  'pool/main/s/systemd/systemd_252.30-1~deb12u2_amd64.deb',
  'pool/universe/n/nginx/nginx_1.24.0-2ubuntu7.1_all.deb',
  'pool/main/o/openssl/openssl_3.0.13-0ubuntu3.4_amd64.deb',
  'hello/2.12.1/2.fc40/x86_64/hello-2.12.1-2.fc40.x86_64.rpm',
  'vim/9.1.825^20241121git/1.fc41/x86_64/vim-enhanced-9.1.825^20241121git-1.fc41.x86_64.rpm',
  'python3.12/3.12.2~rc1/1.fc40/x86_64/python3-libs-3.12.2~rc1-1.fc40.x86_64.rpm',
  'z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst',
  'z/zstd/zstd-1:1.5.6-1-x86_64.pkg.tar.zst.sig',
  'l/lib32-gcc-libs/lib32-gcc-libs-14.2.1+r134+gab884fffe3fc-1-x86_64.pkg.tar.zst',
  '@/@babel-cli/@babel-cli-7.0-1-any.pkg.tar.zst',
  'v3.19/main/x86_64/musl-1.2.4-r2.apk',
  'edge/testing/aarch64/py3-foo_bar-0.1_git20240101-r0.apk',
  'x_1_all.deb',
]

/** Put `bad` lines after `before` good lines (and maybe a comment); the error must name the bad line. */
function layout(rand: () => number, id: string, bad: Buffer[]): {bytes: Buffer; line: number} {
  const lines: Buffer[] = []
  const before = Math.floor(rand() * 4)
  for (let i = 0; i < before; i++) {
    if (rand() < 0.3) lines.push(Buffer.from(`# comment ${i}\n`))
    else lines.push(Buffer.from(`${sha(`${id}-${i}`)}  pool/main/o/ok${i}/ok${i}_1.0-1_all.deb\n`))
  }
  const line = lines.length + 1
  for (const b of bad) lines.push(Buffer.concat([b, Buffer.from('\n')]))
  if (rand() < 0.5) lines.push(Buffer.from(`${sha(`${id}-after`)}  pool/main/a/after/after_1_all.deb\n`))
  return {bytes: Buffer.concat(lines), line}
}

/** Every case: categories of refused names and lines, plus the legitimate ones. */
export function hostileCorpus(seed = 14): HostileCase[] {
  const rand = prng(seed)
  const cases: HostileCase[] = []
  const nameCase = (category: string, id: string, name: string | Buffer): void => {
    const raw = typeof name === 'string' ? Buffer.from(name, 'utf8') : name
    const {bytes, line} = layout(rand, id, [Buffer.concat([Buffer.from(`${sha(id)}  `), raw])])
    // a newline inside the name splits it: the second half is the malformed line
    const extra = raw.includes(0x0a) ? 1 : 0
    cases.push({
      id,
      category,
      files: [{name: 'SHA256SUMS', bytes}],
      expect: 'refused',
      errorAt: {file: 'SHA256SUMS', line: line + extra},
    })
  }
  const lineCase = (category: string, id: string, line: Buffer | string): void => {
    const raw = typeof line === 'string' ? Buffer.from(line, 'utf8') : line
    const {bytes, line: n} = layout(rand, id, [raw])
    // a newline inside splits the line; in these cases the first half is fine and the second is not
    const extra = raw.includes(0x0a) ? 1 : 0
    cases.push({
      id,
      category,
      files: [{name: 'SHA256SUMS', bytes}],
      expect: 'refused',
      errorAt: {file: 'SHA256SUMS', line: n + extra},
    })
  }

  // C0 controls (NUL, ESC, TAB, CR, ...), DEL and the C1 controls inside an otherwise valid name
  for (let c = 0; c <= 0x9f; c++) {
    if (c > 0x1f && c < 0x7f) continue
    if (c === 0x0a) continue // a newline ends the line: covered as a malformed line below
    nameCase(
      'control',
      `control-U+${c.toString(16).padStart(4, '0')}`,
      `pool/main/h/hello/hel${String.fromCodePoint(c)}lo_1_all.deb`,
    )
  }
  // raw bytes that are not UTF-8 (a C1 byte alone, an overlong encoding of "/", a lone continuation byte)
  for (const bytes of [[0x9b], [0xc0, 0xaf], [0x80], [0xff, 0xfe]])
    nameCase(
      'invalid-utf8',
      `utf8-${bytes.map((b) => b.toString(16)).join('')}`,
      Buffer.from([0x61, ...bytes, 0x2e, 0x64, 0x65, 0x62]),
    )
  // Unicode bidi, format and invisible characters
  for (const cp of [
    0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f,
    0x061c, 0xfeff, 0x2028, 0x2029, 0x00ad, 0x180e, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xe0001,
  ])
    nameCase('bidi-format', `format-U+${cp.toString(16)}`, `pool/main/e/evil/evil${String.fromCodePoint(cp)}gpj.deb`)
  // look-alikes of "." "/" and letters
  for (const [id, name] of [
    ['cyrillic-e', 'pool/main/h/h\u0435llo/h\u0435llo_1_all.deb'],
    ['fullwidth-dots', '\uff0e\uff0e/\uff0e\uff0e/etc/passwd'],
    ['division-slash', '..\u2215..\u2215etc\u2215passwd'],
    ['one-dot-leader', '\u2024\u2024/etc/passwd'],
    ['fullwidth-solidus', 'a\uff0f..\uff0fb.deb'],
    ['nbsp-inside', 'pool/a\u00a0b.deb'],
  ])
    nameCase('lookalike', `lookalike-${id}`, name)
  // percent-encoding (the issue's first report), in every disguise
  for (const [id, name] of [
    ['dotdot-lower', '%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd'],
    ['dotdot-upper', '%2E%2E%2F%2E%2E%2Fetc%2Fpasswd'],
    ['double-encoded', '%252e%252e/%252e%252e/etc/passwd'],
    ['nul', 'pool/x%00.deb'],
    ['slash', 'pool%2f..%2f..%2fetc/passwd'],
    ['space', 'pool/a%20b.deb'],
    ['query', 'x.deb%3fq=1'],
  ])
    nameCase('percent', `percent-${id}`, name)
  // traversal, absolute and unclean paths, backslashes
  for (const [id, name] of [
    ['dotdot-etc', '../../etc/passwd'],
    ['dotdot', '..'],
    ['dotdot-mid', 'pool/../../etc/shadow'],
    ['dotdot-end', 'pool/main/..'],
    ['dot', '.'],
    ['dot-start', './x_1_all.deb'],
    ['dot-mid', 'pool/./x_1_all.deb'],
    ['absolute', '/etc/passwd'],
    ['double-slash-start', '//etc/passwd'],
    ['double-slash', 'pool//x_1_all.deb'],
    ['trailing-slash', 'pool/x/'],
    ['backslash-dotdot', '..\\..\\windows\\win.ini'],
    ['backslash', 'pool\\x_1_all.deb'],
    ['unc', '\\\\server\\share\\x.deb'],
    ['url', 'http://evil.invalid/x_1_all.deb'],
    ['dotdot-deep', `${'../'.repeat(40)}etc/passwd`],
  ])
    nameCase('traversal', `traversal-${id}`, name)
  // URL structure: fragments and queries
  for (const [id, name] of [
    ['frag', 'x_1_all.deb#frag'],
    ['query', 'x_1_all.deb?q=1'],
    ['hash-only', '#'],
    ['query-dir', 'pool/a?b/c.deb'],
    ['frag-dotdot', 'x#/../../etc/passwd'],
  ])
    nameCase('url-parts', `url-${id}`, name)
  // blanks at either end (and inside: not in the grammar)
  for (const [id, name] of [
    ['trailing-space', 'x_1_all.deb '],
    ['leading-space', ' x_1_all.deb'],
    ['trailing-tab', 'x_1_all.deb\t'],
    ['trailing-nbsp', 'x_1_all.deb\u00a0'],
    ['ideographic-space', '\u3000x_1_all.deb'],
    ['inner-space', 'pool/with space_1_all.deb'],
    ['only-spaces', '   '],
  ])
    nameCase('blanks', `blanks-${id}`, name)
  // home directories, hidden and option-like segments
  for (const [id, name] of [
    ['tilde-slash', '~/x_1_all.deb'],
    ['tilde-user', '~root/.ssh/authorized_keys'],
    ['tilde', '~'],
    ['tilde-segment', 'pool/~/x.deb'],
    ['hidden', '.hidden_1_all.deb'],
    ['hidden-dir', 'pool/.git/config'],
    ['dash', '-rf_1_all.deb'],
    ['double-dash', 'pool/--help'],
    ['colon-start', ':x_1_all.deb'],
    ['shell', 'pool/$(reboot)_1_all.deb'],
    ['quote', 'pool/a"b.deb'],
    ['braces', 'pool/{{.SHA256}}.deb'],
  ])
    nameCase('segments', `segments-${id}`, name)
  // overlong names
  nameCase('overlong', 'overlong-segment-256', `pool/${'a'.repeat(256)}.deb`)
  nameCase(
    'overlong',
    'overlong-total-1025',
    `${Array.from({length: 4}, () => 'b'.repeat(250)).join('/')}/${'c'.repeat(21)}`,
  )
  nameCase('overlong', 'overlong-1mb', `pool/${'x'.repeat(1 << 20)}.deb`)
  nameCase('overlong', 'overlong-1mb-escapes', '\u001b[2J'.repeat(1 << 18))
  // malformed lines
  for (const [id, line] of [
    ['short-hash', `${'a'.repeat(63)}  x_1_all.deb`],
    ['long-hash', `${'a'.repeat(65)}  x_1_all.deb`],
    ['non-hex', `${'g'.repeat(64)}  x_1_all.deb`],
    ['tab', `${'a'.repeat(64)}\tx_1_all.deb`],
    ['hash-only', 'a'.repeat(64)],
    ['hash-space', `${'a'.repeat(64)} `],
    ['hash-two-spaces', `${'a'.repeat(64)}  `],
    ['bom', `\ufeff${'a'.repeat(64)}  x_1_all.deb`],
    ['prefixed', `sha256:${'a'.repeat(64)}  x_1_all.deb`],
    ['name-only', 'x_1_all.deb'],
    ['bsd-style', `SHA256 (x_1_all.deb) = ${'a'.repeat(64)}`],
    ['ipfs-dotdot', `${'a'.repeat(64)}  /ipfs/../../etc/passwd`],
    ['ipfs-empty', `${'a'.repeat(64)}  /ipfs/`],
    ['ipfs-percent', `${'a'.repeat(64)}  /ipfs/Qm%2e%2e`],
    ['ipfs-long', `${'a'.repeat(64)}  /ipfs/${'Q'.repeat(200)}`],
    ['newline-in-name', `${'a'.repeat(64)}  x_1\n_all.deb`],
    ['one-mb-garbage', 'z'.repeat(1 << 20)],
  ])
    lineCase('malformed', `malformed-${id}`, line)
  // binary garbage lines from the seeded PRNG (no newline inside, so the first line is the bad one)
  for (let i = 0; i < 6; i++) {
    const b = Buffer.alloc(40 + Math.floor(rand() * 400))
    for (let j = 0; j < b.length; j++) {
      let v = Math.floor(rand() * 256)
      if (v === 0x0a) v = 0
      b[j] = v
    }
    b[0] = 0x5a // "Z": not hex, not a blank, not "#", so the line can be nothing but malformed
    lineCase('binary', `binary-${i}`, b)
  }
  // seeded mixtures: a valid distro name with one hostile character spliced in
  const spice = [
    '\u0000',
    '\u001b',
    '\u007f',
    '\u0085',
    '\u202e',
    '\u2066',
    '%',
    '#',
    '?',
    '\\',
    ' ',
    '\u200b',
    '"',
    '`',
  ]
  for (let i = 0; i < 24; i++) {
    const base = DISTRO_NAMES[Math.floor(rand() * DISTRO_NAMES.length)]
    const at = 1 + Math.floor(rand() * (base.length - 2))
    const ch = spice[Math.floor(rand() * spice.length)]
    nameCase('mixture', `mixture-${i}`, base.slice(0, at) + ch + base.slice(at))
  }
  // duplicates: conflicting in one file, conflicting across two files (errors); exact ones are fine
  const dupName = 'pool/main/h/hello/hello_2.10-3_amd64.deb'
  cases.push({
    id: 'duplicate-conflict-same-file',
    category: 'duplicates',
    files: [
      {
        name: 'SHA256SUMS',
        bytes: Buffer.from(`${sha('one')}  ${dupName}\n# c\n${sha('two')} *${dupName}\n`),
      },
    ],
    expect: 'refused',
    errorAt: {file: 'SHA256SUMS', line: 3},
  })
  cases.push({
    id: 'duplicate-conflict-two-files',
    category: 'duplicates',
    files: [
      {name: 'SHA256SUMS-a', bytes: Buffer.from(`${sha('one')}  ${dupName}\n`)},
      {name: 'SHA256SUMS-b', bytes: Buffer.from(`${sha('x')}  x_1_all.deb\n${sha('two')}  ${dupName}\n`)},
    ],
    expect: 'refused',
    errorAt: {file: 'SHA256SUMS-b', line: 2},
  })
  const dupContent = Buffer.from('the same bytes twice')
  cases.push({
    id: 'duplicate-exact',
    category: 'duplicates',
    files: [
      {name: 'SHA256SUMS', bytes: Buffer.from(`${sha(dupContent)}  ${dupName}\n${sha(dupContent)} *${dupName}\n`)},
    ],
    expect: 'valid',
    entries: [{name: dupName, content: dupContent}],
  })
  // legitimate: every distro name, CRLF, upper-case hex, a CID line, the longest allowed name and segment
  const valid = (id: string, names: string[], render: (s: string, n: string) => string = (s, n) => `${s}  ${n}\n`) => {
    const entries = names.map((name) => ({name, content: Buffer.from(`package bytes of ${name}`)}))
    const text = entries.map((e) => render(sha(e.content), e.name)).join('')
    cases.push({
      id,
      category: 'valid',
      files: [{name: 'SHA256SUMS', bytes: Buffer.from(text)}],
      expect: 'valid',
      entries,
    })
  }
  for (const [i, n] of DISTRO_NAMES.entries()) valid(`valid-distro-${i}`, [n])
  valid('valid-all-distros', DISTRO_NAMES)
  valid('valid-crlf-binary-upper', DISTRO_NAMES.slice(0, 3), (s, n) => `${s.toUpperCase()} *${n}\r\n`)
  valid(
    'valid-comment-cid',
    ['x_1_all.deb'],
    (s, n) => `# pinned\n\n${s}  ${n}\n${s}  /ipfs/QmRY19HEWeTJtRC6vAdz7rDfX3PjSMgXmd1KYi9guAACUj\n`,
  )
  valid('valid-segment-255', [`pool/${'a'.repeat(251)}.deb`])
  valid('valid-total-1024', [`${Array.from({length: 4}, () => 'b'.repeat(250)).join('/')}/${'c'.repeat(20)}`])
  return cases
}
