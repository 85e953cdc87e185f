/**
 * hardened-hosts: Pulumi components that turn plain Linux machines into hardened container hosts.
 *
 * - `subids`: subordinate ID ranges (/etc/subuid, /etc/subgid): file format, allocator, ledger.
 */
export * from "./subids";
export * from "./host/connection";
export { runHostScript, scriptCommandLine } from "./host/script";
export { shellJoin, shellQuote } from "./host/shell";
export * from "./verify";
