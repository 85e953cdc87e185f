// The `command` provider v1.2.1, re-implemented for `pulumi.provider.main`.
//
// Dispatches on the resource type token in the URN. Implemented:
//   command:local:Command, command:remote:Command, command:remote:CopyToRemote,
//   command:remote:CopyFile (deprecated upstream) and the invoke command:local:run.
// Anything else fails loudly with the token in the message.
//
// Lifecycle rules of 1.2.1 (infer-based controllers in provider/pkg/provider/*):
//   * Create runs `create` (if set); outputs = inputs + stdout/stderr. ID = name + 8 hex chars
//     for commands, 8 hex chars for copies.
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
import { copyNeeded, diffInputs } from "./diff";
import { copyFile, copyToRemote, type CopySource } from "./copy";
import { Logger, type LogSink, type OpContext } from "./log";
import { runLocal, type LocalInputs, type Previous } from "./local";
import { runRemote, type RemoteInputs } from "./remote";
import { checkInputs, LOCAL_RUN_INPUTS, RESOURCES, type CheckFailure, type ResourceSpec } from "./schema";
import { clean, isArchive, isAsset, isSecret, reveal, unwrap, type Wire } from "./wire";

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
            `it implements command:local:Command, command:remote:Command, command:remote:CopyToRemote, ` +
            `command:remote:CopyFile and the invoke command:local:run)`,
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

/** CopyToRemote's extra Check rules (copyController.go Check). */
function checkCopySource(source: Wire): CheckFailure[] {
    const s = unwrap(source) as Record<string, unknown> | undefined;
    if (!s || typeof s !== "object") return [];
    if (isAsset(s)) {
        const isPath = typeof s.path === "string" && s.path !== "";
        const isText = typeof s.text === "string";
        if (!isPath && !isText) return [{ property: "asset", reason: "asset must be a path-based file asset or a text asset" }];
    } else if (isArchive(s)) {
        if (!(typeof s.path === "string" && s.path !== "")) {
            return [{ property: "archive", reason: "archive must be a path to a file or directory" }];
        }
    }
    return [];
}

function copySourceOf(source: Wire): CopySource {
    const s = reveal(source) as Record<string, unknown>;
    if (isAsset(s) && typeof s.text === "string" && !(typeof s.path === "string" && s.path !== "")) {
        return { kind: "text", text: s.text };
    }
    if (typeof s.path === "string" && s.path !== "") return { kind: "path", path: s.path };
    throw new Error("source must be a FileAsset, a StringAsset or a FileArchive with a path");
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
        if (spec.token === "command:remote:CopyToRemote" && inputs.source !== undefined) {
            failures.push(...checkCopySource(inputs.source));
        }
        return { inputs: clean(inputs), failures };
    }

    async diff(_id: string, urn: string, olds: Props, news: Props): Promise<pulumiProvider.DiffResult> {
        const spec = this.spec(urn);
        const d = diffInputs(olds ?? {}, news ?? {}, {
            inputs: Object.keys(spec.inputs),
            replaceOnChanges: spec.replaceOnChanges,
            replaceOnAnyChange: spec.replaceOnAnyChange,
        });
        return { changes: d.changes, replaces: d.replaces, deleteBeforeReplace: false };
    }

    async create(urn: string, inputs: Props): Promise<pulumiProvider.CreateResult> {
        const spec = this.spec(urn);
        const { name } = parseUrn(urn);
        return this.op(urn, async (ctx) => {
            switch (spec.token) {
                case "command:local:Command":
                case "command:remote:Command": {
                    let outs: Props = { ...inputs, stdout: "", stderr: "" };
                    const cmd = str(inputs.create);
                    if (cmd !== undefined) outs = { ...outs, ...(await this.run(spec, cmd, isSecret(inputs.create), inputs, {}, ctx)) };
                    return { id: `${name}${hex8()}`, outs: clean(outs) };
                }
                case "command:remote:CopyToRemote":
                    await copyToRemote(reveal(inputs.connection), copySourceOf(inputs.source), str(inputs.remotePath)!, ctx);
                    return { id: hex8(), outs: clean(inputs) };
                case "command:remote:CopyFile":
                    await copyFile(reveal(inputs.connection), str(inputs.localPath)!, str(inputs.remotePath)!, ctx);
                    return { id: hex8(), outs: clean(inputs) };
                default:
                    throw unsupported("resource type", spec.token);
            }
        });
    }

    async read(id: string, _urn: string, props: Props): Promise<pulumiProvider.ReadResult> {
        return { id, props };
    }

    async update(_id: string, urn: string, olds: Props, news: Props): Promise<pulumiProvider.UpdateResult> {
        const spec = this.spec(urn);
        return this.op(urn, async (ctx) => {
            switch (spec.token) {
                case "command:local:Command":
                case "command:remote:Command": {
                    let outs: Props = { ...news, stdout: olds.stdout ?? "", stderr: olds.stderr ?? "" };
                    if (spec.token === "command:local:Command") {
                        if (olds.assets !== undefined) outs.assets = olds.assets;
                        if (olds.archive !== undefined) outs.archive = olds.archive;
                    }
                    const which = news.update !== undefined && news.update !== null ? news.update : news.create;
                    const cmd = str(which);
                    if (cmd !== undefined) outs = { ...outs, ...(await this.run(spec, cmd, isSecret(which), news, previousOf(olds), ctx)) };
                    return { outs: clean(outs) };
                }
                case "command:remote:CopyToRemote":
                    if (copyNeeded(olds, news)) {
                        await copyToRemote(reveal(news.connection), copySourceOf(news.source), str(news.remotePath)!, ctx);
                    }
                    return { outs: clean(news) };
                default:
                    // CopyFile has no Update in 1.2.1: every change is a replacement (see diff).
                    throw new Error(`Update is not implemented for resource ${urn}`);
            }
        });
    }

    async delete(_id: string, urn: string, props: Props): Promise<void> {
        const spec = this.spec(urn);
        await this.op(urn, async (ctx) => {
            if (spec.token !== "command:local:Command" && spec.token !== "command:remote:Command") return;
            const cmd = str(props.delete);
            if (cmd !== undefined) await this.run(spec, cmd, isSecret(props.delete), props, previousOf(props), ctx);
        });
    }

    async invoke(token: string, args: Props): Promise<pulumiProvider.InvokeResult> {
        if (token !== "command:local:run") throw unsupported("function", token);
        const { inputs, failures } = checkInputs(LOCAL_RUN_INPUTS, args ?? {});
        if (failures.length > 0) return { failures };
        return this.op("", async (ctx) => {
            const r = await runLocal(str(inputs.command)!, isSecret(inputs.command), localInputs(inputs), {}, ctx);
            return { outputs: clean({ ...inputs, ...r }) };
        });
    }

    async cancel(): Promise<void> {
        for (const a of this.inflight) a.abort();
    }

    private run(spec: ResourceSpec, cmd: string, cmdIsSecret: boolean, props: Props, previous: Previous, ctx: OpContext): Promise<Props> {
        if (spec.token === "command:local:Command") {
            return runLocal(cmd, cmdIsSecret, localInputs(props), previous, ctx) as unknown as Promise<Props>;
        }
        return runRemote(cmd, cmdIsSecret, remoteInputs(props), previous, ctx) as unknown as Promise<Props>;
    }
}
