// The `command` provider v1.2.1, re-implemented for `pulumi.provider.main`.
//
// Dispatches on the resource type token in the URN. Implemented: the two resources
// hardened-hosts uses, command:remote:Command (every component) and command:local:Command (the
// stack program's `probe` plan). Anything else (CopyToRemote, CopyFile, the command:local:run
// invoke, any other token) fails loudly with the token in the message.
//
// Lifecycle rules of 1.2.1 (infer-based controllers in provider/pkg/provider/*):
//   * Create runs `create` (if set); outputs = inputs + stdout/stderr. ID = name + 8 hex chars.
//   * Update runs `update`, else `create` (if either is set), with the previous stdout/stderr
//     available to the command; it keeps the old outputs when nothing runs.
//   * Delete runs `delete` (if set) with the last stdout/stderr available.
//   * A failed Create leaves nothing in the state; a failed Update/Delete keeps the old state.
//   * Read returns the state as it is (1.2.1 has no custom Read).
// Previews never reach Create/Update: the Node provider server does not announce preview
// support, so the engine itself answers them with the inputs, and the SDK shows stdout/stderr
// as unknown, as it does with the real provider.

import * as crypto from "node:crypto";
import type * as pulumiProvider from "@pulumi/pulumi/provider";
import { diffInputs } from "./diff";
import { Logger, type LogSink, type OpContext } from "./log";
import { runLocal, type LocalInputs, type Previous } from "./local";
import { runRemote, type RemoteInputs } from "./remote";
import { checkInputs, RESOURCES, type ResourceSpec } from "./schema";
import { clean, isSecret, reveal, type Wire } from "./wire";

export const PROVIDER_VERSION = "1.2.1";

type Props = Record<string, Wire>;

/** Splits `urn:pulumi:<stack>::<project>::<[parent$]type>::<name>`. */
export function parseUrn(urn: string): { type: string; name: string } {
    const parts = urn.split("::");
    if (parts.length < 4) throw new Error(`malformed URN ${JSON.stringify(urn)}`);
    const qualified = parts[2];
    return { type: qualified.slice(qualified.lastIndexOf("$") + 1), name: parts.slice(3).join("::") };
}

function unsupported(what: string, token: string): Error {
    return new Error(
        `${what} ${JSON.stringify(token)} is not implemented by this pulumi-resource-command ` +
            `(hardened-hosts' TypeScript stand-in for pulumi-command v${PROVIDER_VERSION}; ` +
            `it implements command:remote:Command and command:local:Command, the resources hardened-hosts uses)`,
    );
}

function hex8(): string {
    return crypto.randomBytes(4).toString("hex");
}

function str(v: Wire): string | undefined {
    const r = reveal(v);
    return typeof r === "string" ? r : undefined;
}

function previousOf(state: Props): Previous {
    return { stdout: str(state.stdout), stderr: str(state.stderr) };
}

function localInputs(p: Props): LocalInputs {
    return reveal(p) as LocalInputs;
}

function remoteInputs(p: Props): RemoteInputs {
    return reveal(p) as RemoteInputs;
}

export class CommandProvider implements pulumiProvider.Provider {
    readonly version = PROVIDER_VERSION;
    private readonly inflight = new Set<AbortController>();

    constructor(private readonly sink: LogSink) {}

    private spec(urn: string): ResourceSpec {
        const { type } = parseUrn(urn);
        const spec = RESOURCES[type];
        if (!spec) throw unsupported("resource type", type);
        return spec;
    }

    /** Runs one operation with a logger bound to `urn` and a cancellation signal. */
    private async op<T>(urn: string, f: (ctx: OpContext) => Promise<T>): Promise<T> {
        const abort = new AbortController();
        this.inflight.add(abort);
        const ctx: OpContext = { log: new Logger(this.sink, urn), signal: abort.signal };
        try {
            return await f(ctx);
        } finally {
            this.inflight.delete(abort);
            await ctx.log.flush();
        }
    }

    async check(urn: string, _olds: Props, news: Props): Promise<pulumiProvider.CheckResult> {
        const spec = this.spec(urn);
        const { inputs, failures } = checkInputs(spec.inputs, news ?? {}, spec.secretInputs);
        return { inputs: clean(inputs), failures };
    }

    async diff(_id: string, urn: string, olds: Props, news: Props): Promise<pulumiProvider.DiffResult> {
        const spec = this.spec(urn);
        const d = diffInputs(olds ?? {}, news ?? {}, {
            inputs: Object.keys(spec.inputs),
            replaceOnChanges: spec.replaceOnChanges,
        });
        return { changes: d.changes, replaces: d.replaces, deleteBeforeReplace: false };
    }

    async create(urn: string, inputs: Props): Promise<pulumiProvider.CreateResult> {
        const spec = this.spec(urn);
        const { name } = parseUrn(urn);
        return this.op(urn, async (ctx) => {
            let outs: Props = { ...inputs, stdout: "", stderr: "" };
            const cmd = str(inputs.create);
            if (cmd !== undefined) outs = { ...outs, ...(await this.run(spec, cmd, isSecret(inputs.create), inputs, {}, ctx)) };
            return { id: `${name}${hex8()}`, outs: clean(outs) };
        });
    }

    async read(id: string, _urn: string, props: Props): Promise<pulumiProvider.ReadResult> {
        return { id, props };
    }

    async update(_id: string, urn: string, olds: Props, news: Props): Promise<pulumiProvider.UpdateResult> {
        const spec = this.spec(urn);
        return this.op(urn, async (ctx) => {
            let outs: Props = { ...news, stdout: olds.stdout ?? "", stderr: olds.stderr ?? "" };
            const which = news.update !== undefined && news.update !== null ? news.update : news.create;
            const cmd = str(which);
            if (cmd !== undefined) outs = { ...outs, ...(await this.run(spec, cmd, isSecret(which), news, previousOf(olds), ctx)) };
            return { outs: clean(outs) };
        });
    }

    async delete(_id: string, urn: string, props: Props): Promise<void> {
        const spec = this.spec(urn);
        await this.op(urn, async (ctx) => {
            const cmd = str(props.delete);
            if (cmd !== undefined) await this.run(spec, cmd, isSecret(props.delete), props, previousOf(props), ctx);
        });
    }

    /** No function is implemented (1.2.1 has one, command:local:run; the project calls none). */
    async invoke(token: string, _inputs: Props): Promise<pulumiProvider.InvokeResult> {
        throw unsupported("function", token);
    }

    async cancel(): Promise<void> {
        for (const a of this.inflight) a.abort();
    }

    /** Runs one lifecycle command of a local or remote Command (the only two specs in RESOURCES). */
    private run(spec: ResourceSpec, cmd: string, cmdIsSecret: boolean, props: Props, previous: Previous, ctx: OpContext): Promise<Props> {
        if (spec.token === "command:local:Command") {
            return runLocal(cmd, cmdIsSecret, localInputs(props), previous, ctx) as unknown as Promise<Props>;
        }
        return runRemote(cmd, cmdIsSecret, remoteInputs(props), previous, ctx) as unknown as Promise<Props>;
    }
}
