/**
 * Turning validated values into shell words. Everything a user typed reaches a host shell only
 * through {@link shellQuote}: single quotes, with embedded single quotes closed and escaped.
 */

/** Quotes one argument for a POSIX shell. Plain words (`[A-Za-z0-9_.:/@%+=,-]`) stay as they are. */
export function shellQuote(arg: string): string {
    if (arg.length > 0 && /^[A-Za-z0-9_.:/@%+=,-]+$/.test(arg)) return arg;
    return `'${arg.replace(/'/g, `'"'"'`)}'`;
}

/** Quotes and joins a command line. */
export function shellJoin(words: readonly string[]): string {
    return words.map(shellQuote).join(" ");
}
