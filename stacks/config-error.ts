import * as pulumi from "@pulumi/pulumi";

/**
 * A config problem, with the full key it is about (`hardened-hosts:hosts[0].address: ...`). It is
 * the `pulumi.RunError` the program ends with (printed as its message, no stack): stack config
 * names no resource. Problems of a component's arguments are `componentError`s instead
 * (components/host/validate.ts), raised through `Problems`.
 */
export class ConfigError extends pulumi.RunError {
    constructor(readonly key: string, why: string) {
        super(`${key}: ${why}`);
        this.name = "ConfigError";
    }
}
