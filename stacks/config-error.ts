/** A config problem, with the full key it is about (`hardened-hosts:hosts[0].address: ...`). */
export class ConfigError extends Error {
    constructor(readonly key: string, why: string) {
        super(`${key}: ${why}`);
        this.name = "ConfigError";
    }
}
