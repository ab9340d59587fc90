import {BaseCommand} from '../base-command.js'
import {realExec} from '../exec.js'
import {pkgFlags} from '../pkg/cli-flags.js'
import {info, type InfoResult} from '../pkg/operations.js'

export default class Info extends BaseCommand<typeof Info> {
  static description =
    'Show the package settings: version, cache, supported schemes and distros, the detected distro and the providers in effect.'
  static flags = {...pkgFlags}

  async run(): Promise<InfoResult> {
    const r = await info(this.config.version, this.flags, {exec: realExec, logger: this.logger})
    if (!this.jsonEnabled()) {
      this.out(`version: ${r.version}`)
      this.out(`cache: ${r.cache}`)
      this.out(`schemes: ${r.schemes.join(' ')}`)
      this.out(
        `distro: ${r.detected.distro ? `${r.detected.distro} (from ${r.detected.source})` : `none (${r.detected.error})`}`,
      )
      this.out(`epoch: ${r.epoch.value ?? ''}${r.epoch.value === undefined ? '' : ' '}(${r.epoch.source})`)
      this.out('providers:')
      for (const p of r.providers) this.out(`  ${p}`)
      this.out('distros:')
      for (const d of r.distros) this.out(`  ${d.name} (${d.format}): ${d.defaultProviders.join(' ')}`)
    }
    return r
  }
}
