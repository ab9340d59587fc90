import {BaseCommand} from '../../base-command.js'
import {hashInspect, type InspectedEntry} from '../../pkg/operations.js'

export default class HashInspect extends BaseCommand<typeof HashInspect> {
  static description =
    'Parse and merge hash files (the same name with two sha256 is an error naming both lines) and show each entry: file, sha256, package, version, CIDs.'
  static examples = ['<%= config.bin %> hash inspect SHA256SUMS-amd64 --json']
  static strict = false

  async run(): Promise<{entries: InspectedEntry[]}> {
    const {argv} = await this.parse(HashInspect)
    const r = await hashInspect(argv as string[])
    if (!this.jsonEnabled()) {
      for (const e of r.entries) {
        const pkg = e.package ? `${e.package} ${e.version}${e.architecture ? ` ${e.architecture}` : ''}` : '-'
        this.out(
          `${e.sha256}  ${e.name}  [${e.format ?? '?'}: ${pkg}]${e.cids.length ? `  ${e.cids.map((c) => `/ipfs/${c}`).join(' ')}` : ''}`,
        )
      }
    }
    return r
  }
}
