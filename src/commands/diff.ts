import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {ignoreOptions} from '../diff/ignore.js'
import type {DiffResult} from '../diff/types.js'
import {diffWithHtml} from '../report/html/index.js'
import {renderDiff} from '../ui/diff-text.js'

export default class Diff extends BaseCommand<typeof Diff> {
  static override summary = 'Compare two images down to files and fields, and say why they differ.'
  static override description = `Inputs need no daemon and no import step: image archives and OCI layout directories (every format
analyze reads), docker://REF and podman://REF (saved to a temp file), and registry references
(registry://HOST/REPO:TAG, or HOST/REPO:TAG when no such path exists). Manifests are matched by platform,
configs compared as whole JSON trees, layers with equal diff IDs skipped without decompressing, other layers
compared file by file while streaming (flattened with whiteouts when the layer counts differ). Every
difference carries a likely cause and a hint. Exit 0: no difference, 1: differences, 2: error.`

  static override examples = [
    '<%= config.bin %> diff a.tar b.tar',
    '<%= config.bin %> diff a.tar docker://app:rebuilt --semantic',
    '<%= config.bin %> diff registry://127.0.0.1:5000/app:1 oci-dir/ --ignore-path "var/log/**" --json',
    '<%= config.bin %> diff a.tar b.tar --report-dir report/ && diffoscope report/a report/b',
  ]

  static override args = {
    a: Args.string({
      description: 'first image: archive, OCI layout dir, docker://REF, podman://REF or registry ref',
      required: true,
    }),
    b: Args.string({description: 'second image, same forms', required: true}),
  }

  static override flags = {
    platform: Flags.string({description: 'compare only this platform (os/arch[/variant])'}),
    semantic: Flags.boolean({
      description:
        'ignore everything diffoci --semantic ignores, and count packaging-only differences (compression, media types, index.json annotations, archive format) as notes',
    }),
    'ignore-timestamps': Flags.boolean({description: 'ignore file and image timestamps'}),
    'ignore-file-timestamps': Flags.boolean({description: 'ignore file mtime, atime, ctime (and their PAX records)'}),
    'ignore-image-timestamps': Flags.boolean({
      description: 'ignore config created, history created and created annotations',
    }),
    'ignore-history': Flags.boolean({description: 'ignore the config history'}),
    'ignore-file-order': Flags.boolean({description: 'ignore the order of entries in layer tars'}),
    'ignore-file-mode-redundant-bits': Flags.boolean({
      description: 'compare file modes with the permission bits only (0o7777)',
    }),
    'ignore-image-name': Flags.boolean({description: 'ignore image name annotations and RepoTags'}),
    'ignore-tar-format': Flags.boolean({
      description: 'ignore tar header format, extra PAX records and raw name spelling',
    }),
    'treat-canonical-paths-equal': Flags.boolean({description: "treat './a', '/a' and 'a' as the same name"}),
    'ignore-path': Flags.string({
      description: 'ignore files matching this glob (*, **, ?; a directory covers what is below it); repeatable',
      multiple: true,
    }),
    'ignore-annotation': Flags.string({
      description: 'ignore this annotation key everywhere; repeatable',
      multiple: true,
    }),
    'ignore-label': Flags.string({description: 'ignore this config label; repeatable', multiple: true}),
    'report-dir': Flags.string({
      description:
        'write report.json and the differing files of both sides (DIR/a/<path>, DIR/b/<path>) for diffoscope',
    }),
    html: Flags.string({
      description:
        'also write a self-contained HTML report (verdict, causes, every difference, side-by-side diffs) to this file; --report-dir gets DIR/report.html',
    }),
    'plain-http': Flags.boolean({
      description: 'use http (no TLS) for registry references (default: only for localhost)',
    }),
  }

  async run(): Promise<DiffResult> {
    const {args, flags} = this
    const result = await diffWithHtml(args.a, args.b, flags.html, {
      ignore: ignoreOptions({
        semantic: flags.semantic,
        ignoreTimestamps: flags['ignore-timestamps'],
        ignoreFileTimestamps: flags['ignore-file-timestamps'],
        ignoreImageTimestamps: flags['ignore-image-timestamps'],
        ignoreHistory: flags['ignore-history'],
        ignoreFileOrder: flags['ignore-file-order'],
        ignoreFileModeRedundantBits: flags['ignore-file-mode-redundant-bits'],
        ignoreImageName: flags['ignore-image-name'],
        ignoreTarFormat: flags['ignore-tar-format'],
        treatCanonicalPathsEqual: flags['treat-canonical-paths-equal'],
        paths: flags['ignore-path'],
        annotations: flags['ignore-annotation'],
        labels: flags['ignore-label'],
      }),
      logger: this.logger,
      plainHttp: flags['plain-http'],
      platform: flags.platform,
      reportDir: flags['report-dir'],
    })
    if (!this.jsonEnabled()) {
      this.out(renderDiff(result, {color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR}))
    }
    if (!result.same) process.exitCode = 1
    return result
  }
}
