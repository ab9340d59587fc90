/**
 * SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/). Written by hand: no maintained JavaScript
 * library writes SPDX 2.3 JSON (the SPDX tools are Java and Python), and the document is a plain JSON
 * object validated in the tests against the official schema (tests/fixtures/spdx-2.3/).
 * Deterministic: SPDX IDs and the namespace derive from the content; packages and relationships sorted.
 */
import type {InstalledPackage} from './packages.js'
import {fingerprint, imagePurl, sha256Hex, type SbomModel, splitDigest} from './model.js'

interface SpdxPackage {
  SPDXID: string
  name: string
  versionInfo?: string
  downloadLocation: string
  filesAnalyzed: false
  licenseConcluded: string
  licenseDeclared: string
  copyrightText: string
  primaryPackagePurpose?: string
  sourceInfo?: string
  comment?: string
  checksums?: Array<{algorithm: string; checksumValue: string}>
  externalRefs?: Array<{referenceCategory: string; referenceType: string; referenceLocator: string}>
}

const NOASSERTION = 'NOASSERTION'

/** SPDX IDs are "SPDXRef-" followed by letters, digits, "." and "-". */
function spdxId(kind: string, label: string, content: string): string {
  const clean = label.replaceAll(/[^A-Za-z0-9.-]+/g, '-').slice(0, 80)
  return `SPDXRef-${kind}-${clean}-${sha256Hex(content).slice(0, 12)}`
}

const ALGORITHMS: Record<string, string> = {sha256: 'SHA256', sha512: 'SHA512'}

function packageEntry(p: InstalledPackage, platform: string): SpdxPackage {
  const checksums: SpdxPackage['checksums'] = []
  if (p.pin) checksums.push({algorithm: 'SHA256', checksumValue: p.pin.sha256})
  if (p.sha1) checksums.push({algorithm: 'SHA1', checksumValue: p.sha1})
  const comment = [`listed in ${p.database}`]
  if (p.pin) comment.push(`pinned by hash file ${p.pin.hashFile}: ${p.pin.archivePath} sha256:${p.pin.sha256}`)
  if (p.architecture) comment.push(`architecture ${p.architecture}`)
  return {
    SPDXID: spdxId('Package', `${p.type}-${p.name}`, `${platform}\u0000${p.purl}`),
    name: p.name,
    versionInfo: p.version,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    ...(p.sourceName
      ? {sourceInfo: `built from source package ${p.sourceName}${p.sourceVersion ? ` ${p.sourceVersion}` : ''}`}
      : {}),
    comment: comment.join('; '),
    ...(checksums.length ? {checksums} : {}),
    externalRefs: [{referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: p.purl}],
  }
}

function imageEntry(
  id: string,
  name: string,
  digest: string,
  platform: string | undefined,
  comment: string,
): SpdxPackage {
  const {algorithm, hex} = splitDigest(digest)
  return {
    SPDXID: id,
    name,
    versionInfo: digest,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    primaryPackagePurpose: 'CONTAINER',
    comment,
    ...(ALGORITHMS[algorithm] ? {checksums: [{algorithm: ALGORITHMS[algorithm], checksumValue: hex}]} : {}),
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: imagePurl(name, digest, platform),
      },
    ],
  }
}

const byKeys = (a: string[], b: string[]): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1
  return 0
}

export function toSpdx(model: SbomModel): Record<string, unknown> {
  const packages: SpdxPackage[] = []
  const relationships: Array<{spdxElementId: string; relationshipType: string; relatedSpdxElement: string}> = []
  const baseIds = model.bases.map((b) => {
    const id = spdxId('Base', b.ref ?? 'image', `${b.ref}\u0000${b.digest}`)
    packages.push(imageEntry(id, b.ref ?? 'base-image', b.digest, undefined, `base image (from ${b.from})`))
    return id
  })
  const seen = new Set<string>()
  for (const img of model.images) {
    const digest = img.manifestDigest ?? img.configDigest
    const id = spdxId('Image', img.platform, `${img.platform}\u0000${digest}`)
    const os = img.os.prettyName ? `, ${img.os.prettyName}` : ''
    packages.push(
      imageEntry(id, model.name, digest, img.platform, `image ${img.platform}${os}, config ${img.configDigest}`),
    )
    relationships.push({spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: id})
    for (const b of baseIds)
      relationships.push({spdxElementId: id, relationshipType: 'DESCENDANT_OF', relatedSpdxElement: b})
    for (const p of img.packages) {
      const entry = packageEntry(p, img.platform)
      if (!seen.has(entry.SPDXID)) packages.push(entry)
      seen.add(entry.SPDXID)
      relationships.push({spdxElementId: id, relationshipType: 'CONTAINS', relatedSpdxElement: entry.SPDXID})
    }
  }
  packages.sort((a, b) => byKeys([a.SPDXID], [b.SPDXID]))
  relationships.sort((a, b) =>
    byKeys(
      [a.spdxElementId, a.relationshipType, a.relatedSpdxElement],
      [b.spdxElementId, b.relationshipType, b.relatedSpdxElement],
    ),
  )
  const notes = [
    `packages from the image's package databases (dpkg, apk, pacman), whiteouts applied; created is the image's own creation time`,
    ...model.unsupported.map((u) => `${u.path}: ${u.why}`),
  ]
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${model.name}@${model.digest}`,
    documentNamespace: `https://repro.dev/spdx/${encodeURIComponent(model.name.replaceAll('/', '-'))}/${sha256Hex(`spdx\u0000${fingerprint(model)}`)}`,
    creationInfo: {
      created: model.created,
      creators: [`Tool: ${model.tool.name}-${model.tool.version}`],
      comment: notes.join('; '),
    },
    packages,
    relationships,
  }
}
