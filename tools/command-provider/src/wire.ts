// Helpers for the values the Pulumi engine hands a Node.js provider.
//
// `pulumi.provider.main` passes each gRPC Struct through `toJavaScript()` untouched, and its
// Configure answer says "acceptSecrets", so the engine sends secrets, assets and archives as
// objects tagged with a signature key, and (during preview) unknowns as a sentinel string.
// The provider must look *through* these wrappers to read values, and must hand the
// wrappers back unchanged in its outputs so secrets stay secret in the state.

import {
    specialArchiveSig,
    specialAssetSig,
    specialOutputValueSig,
    specialSecretSig,
    specialSigKey,
    unknownValue,
} from "@pulumi/pulumi/runtime/rpc";

export type Wire = unknown;

export const UNKNOWN = unknownValue;

function sigOf(v: Wire): string | undefined {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return undefined;
    const sig = (v as Record<string, unknown>)[specialSigKey];
    return typeof sig === "string" ? sig : undefined;
}

export function isSecret(v: Wire): boolean {
    return sigOf(v) === specialSecretSig;
}

/** Wraps a value as a secret, unless it already is one. */
export function secret(v: Wire): Wire {
    return isSecret(v) ? v : { [specialSigKey]: specialSecretSig, value: v };
}

export function isUnknown(v: Wire): boolean {
    if (v === unknownValue) return true;
    // Output values are only sent to Construct/Call today, but an output without a value is
    // unknown wherever it turns up.
    return sigOf(v) === specialOutputValueSig && !("value" in (v as object));
}

export function isAsset(v: Wire): boolean {
    return sigOf(v) === specialAssetSig;
}

export function isArchive(v: Wire): boolean {
    return sigOf(v) === specialArchiveSig;
}

/** Strips one secret (or output-value) wrapper; other values come back as they are. */
export function unwrap(v: Wire): Wire {
    const sig = sigOf(v);
    if (sig === specialSecretSig || sig === specialOutputValueSig) {
        return (v as { value?: unknown }).value;
    }
    return v;
}

/** Deeply removes secret wrappers, leaving unknowns, assets and archives recognisable. */
export function reveal(v: Wire): Wire {
    const inner = unwrap(v);
    if (inner !== v) return reveal(inner);
    if (Array.isArray(v)) return v.map(reveal);
    if (v !== null && typeof v === "object") {
        if (isAsset(v) || isArchive(v)) {
            const out: Record<string, unknown> = {};
            for (const [k, e] of Object.entries(v)) out[k] = k === specialSigKey ? e : reveal(e);
            return out;
        }
        const out: Record<string, unknown> = {};
        for (const [k, e] of Object.entries(v)) out[k] = reveal(e);
        return out;
    }
    return v;
}

/** True when the value is, or deeply contains, an unknown. */
export function containsUnknown(v: Wire): boolean {
    if (isUnknown(v)) return true;
    const inner = unwrap(v);
    if (inner !== v) return containsUnknown(inner);
    if (Array.isArray(v)) return v.some(containsUnknown);
    if (v !== null && typeof v === "object") return Object.values(v).some(containsUnknown);
    return false;
}

/** True when the value is, or deeply contains, a secret. */
export function containsSecret(v: Wire): boolean {
    if (isSecret(v)) return true;
    if (Array.isArray(v)) return v.some(containsSecret);
    if (v !== null && typeof v === "object") return Object.values(v).some(containsSecret);
    return false;
}

/**
 * Removes `undefined` members: protobuf's Struct.fromJavaScript rejects them, and an absent
 * property and an undefined one mean the same thing to the engine.
 */
export function clean(v: Wire): Wire {
    if (Array.isArray(v)) return v.map((e) => (e === undefined ? null : clean(e)));
    if (v !== null && typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, e] of Object.entries(v)) if (e !== undefined) out[k] = clean(e);
        return out;
    }
    return v;
}
