/** The oclif flags shared by the package commands (hash, get, cache, info). */
import {Flags} from '@oclif/core'

import {DISTROS} from './distro.js'

export const rootFlag = {
  root: Flags.string({
    description: 'Root filesystem (chroot or sysroot) to read and install into; every path is taken relative to it.',
    default: '/',
    helpGroup: 'PACKAGES',
  }),
}

export const distroFlag = {
  distro: Flags.string({
    description: `Distro (${DISTROS.join(', ')}); default: os-release of --root (ID, then ID_LIKE).`,
    env: 'REPRO_DISTRO',
    helpGroup: 'PACKAGES',
  }),
}

export const cacheFlag = {
  cache: Flags.string({
    description: 'Package cache directory (default /var/cache/repro).',
    env: 'REPRO_CACHE',
    helpGroup: 'PACKAGES',
  }),
}

export const providerFlags = {
  provider: Flags.string({
    description:
      "Where to fetch files, tried in order (repeatable): a template like http://mirror/debian/{{.Name}}, file:///dir/{{.Basename}}, http://gateway/ipfs/{{.CID}}, or oci://REGISTRY/REPO. Default: REPRO_PROVIDERS (comma list), else the distro's defaults.",
    multiple: true,
    // one value per --provider, so `--provider X FILE` leaves FILE to the arguments
    multipleNonGreedy: true,
    helpGroup: 'PACKAGES',
  }),
  jobs: Flags.integer({description: 'Parallel downloads.', default: 8, min: 1, max: 64, helpGroup: 'PACKAGES'}),
}

export const pkgFlags = {...rootFlag, ...distroFlag, ...cacheFlag, ...providerFlags}

/** Debian/Ubuntu signature chains: where the saved indexes are, which keyring, expired snapshots. */
export const chainFlags = {
  indexes: Flags.string({
    description:
      "Directory of saved indexes (InRelease, Packages[.lz4|.gz|.xz|.zst]) named as in apt's lists; default ROOT/var/lib/apt/lists.",
    helpGroup: 'CHAIN',
  }),
  keyring: Flags.string({
    description:
      'OpenPGP keyring (binary, as gpgv reads it) to check InRelease signatures against (repeatable); default /usr/share/keyrings/debian-archive-keyring.gpg (ubuntu-archive-keyring.gpg for ubuntu).',
    multiple: true,
    multipleNonGreedy: true,
    helpGroup: 'CHAIN',
  }),
  'allow-expired': Flags.boolean({
    description: 'Accept an InRelease past its Valid-Until (a saved snapshot); recorded in the result.',
    helpGroup: 'CHAIN',
  }),
}

export const verifyChainFlags = {
  'verify-chain': Flags.boolean({
    description:
      "Before downloading, check each hash file's FILE.chain.json against the distribution's signatures (keyring → InRelease → Packages → sha256).",
    helpGroup: 'CHAIN',
  }),
  ...chainFlags,
}
