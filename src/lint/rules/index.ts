/** Every rule: stable id, name, severity, what it finds, why, and the check. Ids never change meaning. */
import {HAZARDS} from '../../hazards/detectors.js'
import type {RuleMeta} from '../types.js'
import type {Check} from './common.js'
import {addUrlNoChecksum, downloadUnverified, gitCloneUnpinned} from './downloads.js'
import {buildTimeValue, copyGitDir, pycTimestamp, userDbDate} from './hazards.js'
import {unpinnedBaseImage, unpinnedSyntax} from './images.js'
import {cacheLeftInLayer, npmInstall, unpinnedOsPackages, unpinnedPip, yarnUnfrozen} from './packages.js'

export interface Rule extends RuleMeta {
  check: Check
}

export const RULES: readonly Rule[] = [
  {
    id: 'RL001',
    name: 'unpinned-base-image',
    severity: 'warning',
    summary: 'an image named by FROM, COPY --from or RUN --mount from= without a digest',
    why: 'A tag moves: the same Dockerfile builds on a different base tomorrow.',
    fix: 'pin the image by digest (name:tag@sha256:…), list it in repro.lock.yaml, or pass it as --build-context NAME=oci-layout://…@sha256:…',
    check: unpinnedBaseImage,
  },
  {
    id: 'RL002',
    name: 'unpinned-syntax',
    severity: 'warning',
    summary: 'a # syntax= directive without a digest',
    why: 'The Dockerfile frontend is an image too; a new frontend can build the same file differently.',
    fix: 'pin it: # syntax=docker/dockerfile:1.x@sha256:…',
    check: unpinnedSyntax,
  },
  {
    id: 'RL003',
    name: 'unpinned-os-packages',
    severity: 'warning',
    summary: 'apt/apk/dnf/pacman installs without a snapshot source, pinned versions or a hash file',
    why: 'Distribution archives change daily: the same install gives other package versions tomorrow.',
    fix: 'use a snapshot source (repro snapshot sources), pin name=version, or install by hash (repro build --hashfile)',
    check: unpinnedOsPackages,
  },
  {
    id: 'RL004',
    name: 'unpinned-pip',
    severity: 'warning',
    summary: 'pip install without == pins or --require-hashes',
    why: 'pip resolves unpinned requirements to the newest release on the index at build time.',
    fix: 'pin with == and install with --require-hashes (pip-compile --generate-hashes)',
    check: unpinnedPip,
  },
  {
    id: 'RL005',
    name: 'npm-install',
    severity: 'warning',
    summary: 'npm install instead of npm ci, or packages without exact versions',
    why: 'npm install re-resolves ranges and may rewrite the lockfile; npm ci installs exactly the lockfile.',
    fix: 'use npm ci, or exact versions (name@1.2.3)',
    check: npmInstall,
  },
  {
    id: 'RL006',
    name: 'yarn-unfrozen',
    severity: 'warning',
    summary: 'yarn install without a frozen lockfile, yarn add without exact versions',
    why: 'Without --frozen-lockfile/--immutable yarn may resolve and write new versions.',
    fix: 'yarn install --frozen-lockfile (yarn 1) or --immutable (yarn 2+)',
    check: yarnUnfrozen,
  },
  {
    id: 'RL007',
    name: 'add-url-no-checksum',
    severity: 'warning',
    summary: 'ADD <url> without --checksum and without a checksum check after it',
    why: 'The content behind a URL can change; nothing notices.',
    fix: 'ADD --checksum=sha256:<digest> <url> <dest>',
    check: addUrlNoChecksum,
  },
  {
    id: 'RL008',
    name: 'download-unverified',
    severity: 'warning',
    summary: 'curl/wget downloads without a checksum or signature check; downloads piped into a shell',
    why: 'The content behind a URL can change; an unchecked download makes the build depend on the day.',
    fix: 'check every download against a pinned sha256 (sha256sum -c) or a signature (gpg --verify)',
    check: downloadUnverified,
  },
  {
    id: 'RL009',
    name: 'git-clone-unpinned',
    severity: 'warning',
    summary: 'git clone (or ADD of a git URL) not fixed to a commit',
    why: 'Branches and tags move; only a commit id names fixed content.',
    fix: 'git checkout <commit sha> in the same RUN, or ADD <repo>.git#<commit sha>',
    check: gitCloneUnpinned,
  },
  {
    id: 'RL010',
    name: 'build-time-value',
    severity: 'error',
    summary: 'date, uuidgen, hostname, $RANDOM, $HOSTNAME… in a RUN',
    why: 'A value of the build itself (clock, host, randomness) written into the image differs in every rebuild.',
    fix: 'derive it from SOURCE_DATE_EPOCH, a build argument or the source',
    check: buildTimeValue,
  },
  {
    id: 'RL011',
    name: 'user-db-date',
    severity: 'error',
    summary: 'useradd/adduser/groupadd/addgroup/chpasswd',
    why: '/etc/shadow records the day of the last password change: the day of the build.',
    fix: 'append fixed lines to /etc/passwd and /etc/group, or normalise /etc/shadow in the same RUN',
    check: userDbDate,
  },
  {
    id: 'RL012',
    name: 'copy-git-dir',
    severity: 'warning',
    summary: 'COPY . / ADD . while .dockerignore does not exclude .git',
    why: '.git holds the index (file times), refs and fetch metadata: they change with every checkout, not with the source.',
    fix: 'add .git to .dockerignore',
    check: copyGitDir,
  },
  {
    id: 'RL013',
    name: 'cache-left-in-layer',
    severity: 'error',
    summary: 'package-manager caches, indexes and logs left in the layer',
    why: 'Package indexes, caches and dpkg/apt logs hold the time of the build and whatever the mirror served.',
    fix: 'remove them in the same RUN, or use cache/tmpfs mounts',
    check: cacheLeftInLayer,
  },
  {
    id: 'RL014',
    name: 'pyc-timestamp',
    severity: 'warning',
    summary: 'Python byte-compiling without SOURCE_DATE_EPOCH or hash-based invalidation',
    why: 'Timestamp-based .pyc files record the mtime of their source; any change of file times changes them.',
    fix: '--invalidation-mode checked-hash, or ARG SOURCE_DATE_EPOCH in the stage',
    check: pycTimestamp,
  },
]

/** The rule name of an image hazard: its id, except where a Dockerfile rule has that name already. */
export function imageRuleName(hazard: string): string {
  return RULES.some((r) => r.name === hazard) ? `image-${hazard}` : hazard
}

/** `repro lint IMAGE`: the detectors of src/hazards (the same ones `repro diff` names causes with). */
export const IMAGE_RULES: readonly RuleMeta[] = HAZARDS.map((h) => ({
  id: h.rule,
  name: imageRuleName(h.id),
  severity: h.severity,
  summary: h.summary,
  why: h.why,
  fix: h.fix,
}))

/** Every rule, Dockerfile rules first. */
export const ALL_RULES: readonly RuleMeta[] = [...RULES, ...IMAGE_RULES]

export const RULE_BY_KEY = new Map<string, RuleMeta>(
  ALL_RULES.flatMap((r) => [[r.id.toLowerCase(), r] as const, [r.name, r] as const]),
)

/** Resolve a rule id or name (case-insensitive), or undefined. */
export function findRule(key: string): RuleMeta | undefined {
  return RULE_BY_KEY.get(key.trim().toLowerCase())
}
