// Test helpers for the command provider stand-in: a log sink that remembers messages, and
// builders for the engine's wire shapes (secrets, assets, archives).

import { specialArchiveSig, specialAssetSig, specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import type { LogSink, Severity } from "../src/log";

export interface LoggedMessage {
    severity: Severity;
    message: string;
    urn: string;
    ephemeral: boolean;
}

export class MemorySink implements LogSink {
    readonly messages: LoggedMessage[] = [];
    async log(severity: Severity, message: string, urn: string, ephemeral: boolean): Promise<void> {
        this.messages.push({ severity, message, urn, ephemeral });
    }
    /** Ephemeral info lines (command output and dial retries), in order. */
    statusLines(): string[] {
        return this.messages.filter((m) => m.ephemeral).map((m) => m.message);
    }
    all(): string {
        return this.messages.map((m) => m.message).join("\n");
    }
    clear(): void {
        this.messages.length = 0;
    }
}

export function urnOf(type: string, name: string): string {
    return `urn:pulumi:test::hardened-hosts::${type}::${name}`;
}

export function secretOf(value: unknown): Record<string, unknown> {
    return { [specialSigKey]: specialSecretSig, value };
}

export function fileAssetOf(path: string, hash?: string): Record<string, unknown> {
    return hash === undefined ? { [specialSigKey]: specialAssetSig, path } : { [specialSigKey]: specialAssetSig, path, hash };
}

export function fileArchiveOf(path: string, hash?: string): Record<string, unknown> {
    return hash === undefined ? { [specialSigKey]: specialArchiveSig, path } : { [specialSigKey]: specialArchiveSig, path, hash };
}
