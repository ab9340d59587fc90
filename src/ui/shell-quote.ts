/** Quote one argument for a POSIX shell, so a printed command pastes back into a shell unchanged. */
export function shellQuote(arg: string): string {
  if (arg === '') return "''"
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg
  return `'${arg.replaceAll("'", `'"'"'`)}'`
}

export function shellJoin(argv: readonly string[]): string {
  return argv.map((a) => shellQuote(a)).join(' ')
}
