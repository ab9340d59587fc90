/**
 * SARIF 2.1.0 for GitHub code scanning. Deterministic: rules in id order, results in finding order, paths
 * relative to %SRCROOT%, no times, no host paths.
 */
import type {Log, ReportingDescriptor, Result} from 'sarif'

import {ALL_RULES, IMAGE_RULES} from './rules/index.js'
import type {LintResult, Severity} from './types.js'

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json'

const LEVEL: Record<Severity, Result.level> = {error: 'error', warning: 'warning', info: 'note'}

export function toSarif(result: LintResult, version: string): Log {
  const imageRules = new Set(IMAGE_RULES.map((r) => r.id))
  const rules: ReportingDescriptor[] = ALL_RULES.map((r) => ({
    id: r.id,
    name: r.name,
    shortDescription: {text: r.summary},
    fullDescription: {text: r.why},
    help: {
      text: `${r.why} Fix: ${r.fix}`,
      markdown: `${r.why}\n\n**Fix:** ${r.fix}\n\nSee the README section "repro lint" for the exact definition.`,
    },
    defaultConfiguration: {level: LEVEL[r.severity]},
    properties: {tags: ['reproducibility', imageRules.has(r.id) ? 'image' : 'dockerfile'], precision: 'high'},
  }))
  const index = new Map(ALL_RULES.map((r, i) => [r.id, i]))
  const results: Result[] = result.findings.map((f) => ({
    ruleId: f.rule,
    ruleIndex: index.get(f.rule),
    level: LEVEL[f.severity],
    message: {text: `${f.message}. Fix: ${f.fix}`},
    locations: [
      f.image
        ? {
            // a file inside an image: its path in the image's root file system, and the layer that holds it
            physicalLocation: {
              artifactLocation: {uri: encodeURI(f.image.path), uriBaseId: 'IMAGEROOT'},
              region: {startLine: f.line, startColumn: f.column},
            },
            logicalLocations: [{fullyQualifiedName: `${f.file}!/${f.image.path}`, kind: 'resource'}],
          }
        : {
            physicalLocation: {
              artifactLocation: {uri: encodeURI(f.file.replace(/^\.\//, '')), uriBaseId: '%SRCROOT%'},
              region: {startLine: f.line, startColumn: f.column},
            },
          },
    ],
    ...(f.image
      ? {
          properties: {
            image: f.file,
            platform: f.image.platform,
            layer: f.image.layer,
            layerDigest: f.image.layerDigest ?? undefined,
          },
        }
      : {}),
  }))
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'repro-lint',
            semanticVersion: version,
            informationUri: 'https://github.com/reproducible-containers',
            rules,
          },
        },
        columnKind: 'unicodeCodePoints',
        results,
      },
    ],
  }
}
