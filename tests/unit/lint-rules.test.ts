import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {isIgnored, parseDockerignore} from '../../src/verify/context-digest.js'
import {lintSource, summarize, type SourceFacts} from '../../src/lint/index.js'

function facts(over: Partial<SourceFacts> = {}): SourceFacts {
  return {
    file: 'Dockerfile',
    context: '.',
    dockerignore: '.git\n',
    lockedImages: [],
    buildContexts: new Map(),
    disabled: new Set(),
    readContextFile: () => null,
    ...over,
  }
}

/** rule:line of every finding */
function found(text: string, over: Partial<SourceFacts> = {}): string[] {
  return lintSource(text, facts(over)).findings.map((f) => `${f.rule}:${f.line}`)
}

const PINNED = 'FROM debian@sha256:' + 'a'.repeat(64)

describe('RL001 unpinned-base-image', () => {
  it('flags tags, and COPY --from / RUN --mount from= images', () => {
    assert.deepEqual(found('FROM debian:12\nCOPY --from=nginx:1 /a /a\nRUN --mount=from=busybox,target=/b true\n'), [
      'RL001:1',
      'RL001:2',
      'RL001:3',
    ])
  })
  it('accepts digests, scratch, previous stages, stage indexes, ARG defaults with digests, repro- contexts', () => {
    const text = `ARG B=alpine@sha256:${'b'.repeat(64)}\nFROM \${B} AS one\nFROM scratch\nFROM one\nCOPY --from=0 /a /a\nCOPY --from=repro-pkgs / /\n`
    assert.deepEqual(found(text), [])
  })
  it('is satisfied by a named context with a digest or a local directory, not by one without a digest', () => {
    const text = 'FROM base\nRUN true\n'
    assert.deepEqual(found(text, {buildContexts: new Map([['base', `oci-layout:///x@sha256:${'c'.repeat(64)}`]])}), [])
    assert.deepEqual(found(text, {buildContexts: new Map([['base', './base-dir']])}), [])
    assert.deepEqual(found(text, {buildContexts: new Map([['base', 'oci-layout:///x']])}), ['RL001:1'])
    assert.deepEqual(found(text), ['RL001:1'])
  })
  it('is satisfied by repro.lock.yaml entries (docker.io names normalised)', () => {
    assert.deepEqual(found('FROM docker.io/library/debian:12\n', {lockedImages: ['debian:12']}), [])
  })
  it('takes --build-arg values over ARG defaults', () => {
    const text = 'ARG BASE=debian:12\nFROM ${BASE}\n'
    assert.deepEqual(found(text), ['RL001:2'])
    assert.deepEqual(found(text, {buildArgs: new Map([['BASE', `debian@sha256:${'9'.repeat(64)}`]])}), [])
  })
  it('does not judge FROM ${ARG} without a default, nor a stage picked by a platform variable', () => {
    assert.deepEqual(found('ARG BUILD_FROM\nFROM ${BUILD_FROM}\n'), [])
    assert.deepEqual(found('FROM scratch AS bin-linux\nFROM scratch AS bin-windows\nFROM bin-$TARGETOS\n'), [])
    assert.deepEqual(found('FROM debian:$TAG\n'), ['RL001:1'])
  })
})

describe('RL002 unpinned-syntax', () => {
  it('flags # syntax= without a digest only', () => {
    assert.deepEqual(found(`# syntax=docker/dockerfile:1\n${PINNED}\n`), ['RL002:1'])
    assert.deepEqual(found(`# syntax=docker/dockerfile:1@sha256:${'d'.repeat(64)}\n${PINNED}\n`), [])
  })
})

describe('RL003 unpinned-os-packages', () => {
  it('flags installs and upgrades of apt, apk, dnf and pacman', () => {
    const text = `${PINNED}\nRUN apt-get install -y curl && apt-get upgrade -y\nRUN apk add --no-cache git\nRUN dnf -y install gcc && dnf clean all\nRUN pacman -Syu --noconfirm && pacman -Scc\n`
    const got = found(text, {disabled: new Set(['RL013'])})
    assert.deepEqual(got, ['RL003:2', 'RL003:2', 'RL003:3', 'RL003:4', 'RL003:5'])
  })
  it('accepts pinned versions, local package files and snapshot sources', () => {
    const text = `${PINNED}\nRUN apk add --no-cache git=2.45.2-r0\nRUN dnf -y install gcc-13.2.1-3.fc39 && dnf clean all\nRUN apt-get install -y ./x.deb && rm -rf /var/log/*\nRUN echo 'deb http://snapshot.debian.org/archive/debian/20240101T000000Z bookworm main' > /etc/apt/sources.list\nRUN apt-get install -y curl && rm -rf /var/log/*\n`
    assert.deepEqual(found(text), [])
  })
  it('does not judge apk add --no-network (nothing is fetched)', () => {
    assert.deepEqual(found(`${PINNED}\nRUN scanelf -n /x | xargs -rt apk add --no-network --virtual .rundeps\n`), [])
  })
  it('does not take a pin for a range, a release or a $(…) list', () => {
    const text = `${PINNED}\nRUN apk add --no-cache 'git>=2' && apk add --no-cache $(cat list)\n`
    assert.deepEqual(found(text), ['RL003:2', 'RL003:2'])
  })
})

describe('RL004 unpinned-pip', () => {
  it('flags unpinned requirements, -r files it cannot check, -e and local paths', () => {
    const text = `${PINNED}\nRUN pip install --no-cache-dir flask\nRUN pip install --no-cache-dir -r requirements.txt\nRUN python3 -m pip install --no-cache-dir -e .\nRUN uv pip install --no-cache x==1\n`
    assert.deepEqual(found(text), ['RL004:2', 'RL004:3', 'RL004:4'])
  })
  it('accepts == pins, --require-hashes and a pinned requirements file in the context', () => {
    const text = `${PINNED}\nRUN pip install --no-cache-dir flask==3.0.3 "x[extra]==1.2"\nRUN pip install --no-cache-dir --require-hashes -r r.txt\nRUN pip install --no-cache-dir -r /tmp/requirements.txt\n`
    const readContextFile = (p: string): string | null =>
      p === 'requirements.txt' ? 'flask==3.0.3 \\\n  --hash=sha256:abc\n# c\n' : null
    assert.deepEqual(found(text, {readContextFile}), [])
  })
})

describe('RL005 npm-install and RL006 yarn-unfrozen', () => {
  it('flags npm install of the project and of loose packages, yarn without a frozen lockfile', () => {
    const text = `${PINNED}\nRUN --mount=type=cache,target=/root/.npm npm install\nRUN --mount=type=cache,target=/root/.npm npm install -g typescript@5\nRUN --mount=type=cache,target=/root/.cache/yarn yarn\nRUN --mount=type=cache,target=/root/.cache/yarn yarn global add @vue/cli\n`
    assert.deepEqual(found(text), ['RL005:2', 'RL005:3', 'RL006:4', 'RL006:5'])
  })
  it('accepts npm ci, exact versions (also through ENV), frozen yarn installs and non-install commands', () => {
    const text = `${PINNED}\nENV V=5.4.5\nRUN --mount=type=cache,target=/root/.npm npm ci && npm install -g typescript@$V && npm run build\nRUN --mount=type=cache,target=/root/.cache/yarn yarn install --frozen-lockfile && yarn build && yarn --version\n`
    assert.deepEqual(found(text), [])
  })
})

describe('RL007 add-url-no-checksum', () => {
  it('flags ADD <url> without --checksum and without a later check', () => {
    assert.deepEqual(found(`${PINNED}\nADD https://example.org/x.tgz /x.tgz\n`), ['RL007:2'])
    assert.deepEqual(found(`${PINNED}\nADD --checksum=sha256:${'e'.repeat(64)} https://example.org/x.tgz /x.tgz\n`), [])
    assert.deepEqual(
      found(`${PINNED}\nADD https://example.org/x.tgz /x.tgz\nRUN echo "abc  /x.tgz" | sha256sum -c -\n`),
      [],
    )
  })
})

describe('RL008 download-unverified', () => {
  it('flags downloads without a check, and any download piped into a shell', () => {
    const text = `${PINNED}\nRUN curl -fsSLo /x https://example.org/x\nRUN curl -fsSL https://example.org/i.sh | sh && sha256sum -c sums\nRUN wget -O- https://example.org/x | tar xz\n`
    assert.deepEqual(found(text), ['RL008:2', 'RL008:3', 'RL008:4'])
  })
  it('accepts checked downloads and curl --version', () => {
    const text = `${PINNED}\nRUN curl -fsSLO https://example.org/x.tgz && echo "abc  x.tgz" | sha256sum -c -\nRUN wget -q https://example.org/x.tgz https://example.org/x.tgz.asc && gpg --batch --verify x.tgz.asc x.tgz\nRUN curl --version\n`
    assert.deepEqual(found(text), [])
  })
})

describe('RL009 git-clone-unpinned', () => {
  it('flags clones not checked out at a commit, and ADD of git refs', () => {
    const text = `${PINNED}\nRUN git clone --branch v1.2 https://example.org/r.git /r\nRUN git clone https://example.org/r.git /r && git -C /r checkout main\nADD https://example.org/r.git#v1 /r\nARG V=v2\nADD --keep-git-dir=true "https://example.org/r.git#$V" /s\n`
    assert.deepEqual(found(text), ['RL009:2', 'RL009:3', 'RL009:4', 'RL009:6'])
  })
  it('accepts a checkout of a commit id (also through ARG) and ADD at a commit', () => {
    const sha = 'f'.repeat(40)
    const text = `${PINNED}\nARG REF=${sha}\nRUN git clone https://example.org/r.git /r && cd /r && git checkout "$REF"\nADD https://example.org/r.git#${sha} /s\n`
    assert.deepEqual(found(text), [])
  })
})

describe('RL010 build-time-value', () => {
  it('flags date, uuidgen, hostname, $RANDOM and /proc random ids', () => {
    const text = `${PINNED}\nRUN date +%s > /stamp\nRUN echo "$(uuidgen)" > /id && hostname > /h\nRUN echo $RANDOM > /r\nRUN cat /proc/sys/kernel/random/uuid > /u\n`
    assert.deepEqual(found(text), ['RL010:2', 'RL010:3', 'RL010:3', 'RL010:4', 'RL010:5'])
  })
  it('accepts date reading SOURCE_DATE_EPOCH and an ARG named like a shell variable', () => {
    const text = `${PINNED}\nARG SOURCE_DATE_EPOCH\nARG HOSTNAME=h\nRUN date -u -d "@$SOURCE_DATE_EPOCH" +%F > /d && echo $HOSTNAME > /h\n`
    assert.deepEqual(found(text), [])
  })
})

describe('RL011 user-db-date', () => {
  it('flags useradd, adduser, groupadd, addgroup unless /etc/shadow is normalised after', () => {
    assert.deepEqual(found(`${PINNED}\nRUN groupadd g && useradd -g g u\nRUN addgroup -S a && adduser -S b\n`), [
      'RL011:2',
      'RL011:2',
      'RL011:3',
      'RL011:3',
    ])
    assert.deepEqual(found(`${PINNED}\nRUN useradd u && sed -i 's/:[0-9]*:0:/:0:0:/' /etc/shadow\n`), [])
  })
})

describe('RL012 copy-git-dir', () => {
  it('flags COPY . when .dockerignore does not exclude .git, and not with --from', () => {
    const text = `${PINNED}\nCOPY . /src\nCOPY --from=0 . /x\nADD ./ /y\nCOPY src/ /src\n`
    assert.deepEqual(found(text, {dockerignore: null}), ['RL012:2', 'RL012:4'])
    assert.deepEqual(found(text, {dockerignore: 'node_modules\n'}), ['RL012:2', 'RL012:4'])
    assert.deepEqual(found(text, {dockerignore: '**/.git\n'}), [])
  })
  it('reads .dockerignore in order, with ! re-including', () => {
    const match = (text: string): boolean => isIgnored('.git', parseDockerignore(text))
    assert.equal(match('*\n!src\n'), true)
    assert.equal(match('.*\n!.git\n'), false)
    assert.equal(match('/.git/\n'), true)
    assert.equal(match('# .git\n.github\n'), false)
    assert.equal(match('.gi?\n'), true)
  })
})

describe('RL013 cache-left-in-layer', () => {
  it('flags apt lists and logs, apk caches, dnf caches, pip, npm and yarn caches left behind', () => {
    const text = `${PINNED}\nRUN apt-get update && apt-get install -y x=1 && rm -rf /var/lib/apt/lists/*\nRUN apk add x=1\nRUN dnf -y install x-1.0\nRUN pip install x==1\nRUN npm ci\nRUN yarn install --frozen-lockfile\n`
    assert.deepEqual(found(text), ['RL013:2', 'RL013:3', 'RL013:4', 'RL013:5', 'RL013:6', 'RL013:7'])
  })
  it('accepts cleanups in the same RUN and cache mounts', () => {
    const text = `${PINNED}\nRUN apt-get update && apt-get install -y x=1 && rm -rf /var/lib/apt/lists/* /var/log/dpkg.log /var/log/apt\nRUN --mount=type=cache,target=/var/lib/apt --mount=type=tmpfs,target=/var/log apt-get update && apt-get install -y x=1\nRUN apk add --no-cache x=1\nRUN dnf -y install x-1.0 && dnf clean all\nRUN pip install --no-cache-dir x==1\nRUN npm ci && npm cache clean --force\nRUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install --frozen-lockfile\n`
    assert.deepEqual(found(text), [])
  })
  it('reports one finding per RUN and manager, at its first cache-writing command', () => {
    assert.deepEqual(
      found(`${PINNED}\nRUN apt-get update \\\n && apt-get install -y x=1 \\\n && apt-get install -y y=2\n`),
      ['RL013:2'],
    )
  })
})

describe('RL014 pyc-timestamp', () => {
  it('flags compileall without SOURCE_DATE_EPOCH or hash invalidation', () => {
    assert.deepEqual(
      found(`${PINNED}\nRUN python3 -m compileall /app\nRUN UV_COMPILE_BYTECODE=1 uv pip install --no-cache x==1\n`),
      ['RL014:2', 'RL014:3'],
    )
  })
  it('accepts checked-hash invalidation and SOURCE_DATE_EPOCH', () => {
    const text = `${PINNED}\nRUN python3 -m compileall --invalidation-mode checked-hash /app\nARG SOURCE_DATE_EPOCH\nRUN python3 -m compileall /app\n`
    assert.deepEqual(found(text), [])
  })
})

describe('ignores, disables and results', () => {
  it('honours # repro-lint ignore= on the line before, in a comment block before, and inside the instruction', () => {
    const text = `${PINNED}\n# repro-lint ignore=RL010\nRUN date > /a\n# repro-lint ignore=build-time-value\n# another comment\nRUN date > /b\nRUN true \\\n# repro-lint ignore=all\n && date > /c\nRUN date > /d\n`
    const result = lintSource(text, facts())
    assert.deepEqual(
      result.findings.map((f) => `${f.rule}:${f.line}`),
      ['RL010:10'],
    )
    assert.equal(result.suppressed, 3)
  })
  it('skips disabled rules', () => {
    assert.deepEqual(found('FROM debian:12\nRUN date > /a\n', {disabled: new Set(['RL001'])}), ['RL010:2'])
  })
  it('carries file:line:column, severity, message and fix; fails at or above failOn', () => {
    const file = lintSource('FROM debian:12\nRUN date > /a\n', facts({file: 'app/Dockerfile'}))
    assert.deepEqual(file.findings[0], {
      rule: 'RL001',
      name: 'unpinned-base-image',
      severity: 'warning',
      file: 'app/Dockerfile',
      line: 1,
      column: 6,
      message: 'base image "debian:12" is a tag without a digest',
      fix: 'pin it: debian:12@sha256:<digest> (or list it in repro.lock.yaml, or give it with --build-context NAME=oci-layout://…@sha256:…)',
    })
    assert.equal(file.findings[1].severity, 'error')
    assert.equal(summarize([file], 'warning', []).failed, true)
    assert.equal(summarize([file], 'error', []).failed, true)
    const warningOnly = lintSource('FROM debian:12\n', facts())
    assert.equal(summarize([warningOnly], 'error', []).failed, false)
    assert.equal(summarize([warningOnly], 'none', []).failed, false)
    assert.deepEqual(summarize([warningOnly], 'warning', []).counts, {error: 0, warning: 1, info: 0})
  })
})
