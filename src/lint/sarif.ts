/**
 * SARIF 2.1.0 for GitHub code scanning. Deterministic: rules in id order, results in finding order, paths
 * relative to %SRCROOT%, no times, no host paths.
 */
import type {Log, ReportingDescriptor, Result} from 'sarif'

import {RULES} from './rules/index.js'
import type {LintResult, Severity} from './types.js'

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json'

const LEVEL: Record<Severity, Result.level> = {error: 'error', warning: 'warning', info: 'note'}

export function toSarif(result: LintResult, version: string): Log {
  const rules: ReportingDescriptor[] = RULES.map((r) => ({
    id: r.id,
    name: r.name,
    shortDescription: {text: r.summary},
    fullDescription: {text: r.why},
    help: {
      text: `${r.why} Fix: ${r.fix}`,
      markdown: `${r.why}\n\n**Fix:** ${r.fix}\n\nSee the README section "repro lint" for the exact definition.`,
    },
    defaultConfiguration: {level: LEVEL[r.severity]},
    properties: {tags: ['reproducibility', 'dockerfile'], precision: 'high'},
  }))
  const index = new Map(RULES.map((r, i) => [r.id, i]))
  const results: Result[] = result.findings.map((f) => ({
    ruleId: f.rule,
    ruleIndex: index.get(f.rule),
    level: LEVEL[f.severity],
    message: {text: `${f.message}. Fix: ${f.fix}`},
    locations: [
      {
        physicalLocation: {
          artifactLocation: {uri: encodeURI(f.file.replace(/^\.\//, '')), uriBaseId: '%SRCROOT%'},
          region: {startLine: f.line, startColumn: f.column},
        },
      },
    ],
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
