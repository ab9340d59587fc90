/**
 * CycloneDX 1.6 JSON through @cyclonedx/cyclonedx-library's models and serializer (lists sorted by the
 * library). Deterministic: the serial number is a UUID derived from the content (model.contentUuid), the
 * timestamp the image's own creation time; bom-refs are purls (with the platform for multi-platform images).
 */
import {Enums, Models, Serialize, Spec} from '@cyclonedx/cyclonedx-library'

import {contentUuid, fingerprint, imagePurl, type SbomModel} from './model.js'

const prop = (name: string, value: string): Models.Property => new Models.Property(`repro:${name}`, value)

export function toCycloneDx(model: SbomModel): string {
  const multi = model.images.length > 1
  const bom = new Models.Bom({serialNumber: `urn:uuid:${contentUuid(`cyclonedx\u0000${fingerprint(model)}`)}`})
  bom.metadata.timestamp = new Date(model.created)
  bom.metadata.tools.components.add(
    new Models.Component(Enums.ComponentType.Application, model.tool.name, {version: model.tool.version}),
  )
  for (const u of model.unsupported) bom.metadata.properties.add(prop('unsupported-database', `${u.path}: ${u.why}`))

  const top = new Models.Component(Enums.ComponentType.Container, model.name, {
    bomRef: imagePurl(model.name, model.digest),
    version: model.digest,
    purl: imagePurl(model.name, model.digest),
  })
  bom.metadata.component = top
  const bases = model.bases.map((b) => {
    const c = new Models.Component(Enums.ComponentType.Container, b.ref ?? 'base-image', {
      bomRef: `base:${imagePurl(b.ref ?? 'base-image', b.digest)}`,
      version: b.digest,
      purl: imagePurl(b.ref ?? 'base-image', b.digest),
    })
    c.properties.add(prop('role', 'base-image'))
    c.properties.add(prop('base-image:from', b.from))
    bom.components.add(c)
    top.dependencies.add(c.bomRef)
    return c
  })
  const added = new Map<string, Models.Component>()
  for (const img of model.images) {
    const digest = img.manifestDigest ?? img.configDigest
    let holder = top
    if (multi) {
      holder = new Models.Component(Enums.ComponentType.Container, model.name, {
        bomRef: imagePurl(model.name, digest, img.platform),
        version: digest,
        purl: imagePurl(model.name, digest, img.platform),
      })
      holder.properties.add(prop('platform', img.platform))
      bom.components.add(holder)
      top.dependencies.add(holder.bomRef)
      for (const b of bases) holder.dependencies.add(b.bomRef)
    } else top.properties.add(prop('platform', img.platform))
    holder.properties.add(prop('config-digest', img.configDigest))
    if (img.os.prettyName) holder.properties.add(prop('os', img.os.prettyName))
    for (const p of img.packages) {
      const ref = multi ? `${p.purl}#${img.platform}` : p.purl
      let c = added.get(ref)
      if (!c) {
        c = new Models.Component(Enums.ComponentType.Library, p.name, {bomRef: ref, version: p.version, purl: p.purl})
        if (p.pin) c.hashes.set(Enums.HashAlgorithm['SHA-256'], p.pin.sha256)
        if (p.sha1) c.hashes.set(Enums.HashAlgorithm['SHA-1'], p.sha1)
        c.properties.add(prop('package:type', p.type))
        c.properties.add(prop('package:database', p.database))
        if (p.architecture) c.properties.add(prop('package:architecture', p.architecture))
        if (p.sourceName) c.properties.add(prop('package:source', p.sourceName))
        if (p.sourceVersion) c.properties.add(prop('package:source-version', p.sourceVersion))
        c.properties.add(prop('pinned', p.pin ? 'true' : 'false'))
        if (p.pin) {
          c.properties.add(prop('pinned:hash-file', p.pin.hashFile))
          c.properties.add(prop('pinned:archive-path', p.pin.archivePath))
        }
        added.set(ref, c)
        bom.components.add(c)
      }
      holder.dependencies.add(c.bomRef)
    }
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6))
  return `${serializer.serialize(bom, {sortLists: true, space: 2})}\n`
}
