// Diff rules of the command provider v1.2.1, as pure functions.
//
// The real provider uses pulumi-go-provider's default Diff (infer v1.3.0):
//   * only input properties are compared: old inputs (taken from the state, which mirrors
//     them) against the new checked inputs, ignoring "__"-prefixed keys;
//   * a changed property is an update, unless the schema flags it `replaceOnChanges`
//     (only `triggers`), then it is a replace;
//   * an unknown new value counts as a change; null and absent are the same.
// The engine then turns `triggers[*]` changes into replaces as well, because the SDK passes
// `replaceOnChanges: ["triggers[*]"]`; reporting them as replaces here gives the same plan.

import { specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { isArchive, isAsset, isSecret, isUnknown, unwrap, type Wire } from "./wire";

export interface DiffSpec {
    /** The resource's input property names. */
    inputs: string[];
    /** Inputs whose change forces a replacement. */
    replaceOnChanges: string[];
}

export interface DiffOutcome {
    changes: boolean;
    /** Top-level properties whose change forces a replacement. */
    replaces: string[];
    /** Top-level properties that changed at all. */
    diffs: string[];
    deleteBeforeReplace: false;
}

function absent(v: Wire): boolean {
    return v === undefined || v === null;
}

/**
 * Assets and archives compare by content hash when both sides carry one (the engine elides
 * contents in Diff). `triggers` may hold them: the SDK types it as a list of anything.
 */
function sameAssetLike(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
    if (typeof a.hash === "string" && typeof b.hash === "string" && a.hash !== "" && b.hash !== "") {
        return a.hash === b.hash;
    }
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (k === specialSigKey || k === "hash") continue;
        if (!sameValue(a[k], b[k])) return false;
    }
    return true;
}

/**
 * Deep equality in the engine's sense. A value that turns secret (or stops being secret) is
 * a change, so the state never keeps a plaintext copy of something the program now marks secret.
 */
export function sameValue(olds: Wire, news: Wire): boolean {
    if (isUnknown(news) || isUnknown(olds)) return false;
    if (absent(olds) || absent(news)) return absent(olds) && absent(news);
    if (isSecret(olds) !== isSecret(news)) return false;
    if (isSecret(olds)) return sameValue(unwrap(olds), unwrap(news));
    if (isAsset(olds) || isArchive(olds) || isAsset(news) || isArchive(news)) {
        if (isAsset(olds) !== isAsset(news) || isArchive(olds) !== isArchive(news)) return false;
        return sameAssetLike(olds as Record<string, unknown>, news as Record<string, unknown>);
    }
    if (Array.isArray(olds) || Array.isArray(news)) {
        if (!Array.isArray(olds) || !Array.isArray(news) || olds.length !== news.length) return false;
        return olds.every((e, i) => sameValue(e, news[i]));
    }
    if (typeof olds === "object" && typeof news === "object") {
        const a = olds as Record<string, unknown>;
        const b = news as Record<string, unknown>;
        for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
            if (!sameValue(a[k], b[k])) return false;
        }
        return true;
    }
    return olds === news;
}

/** Compares the inputs recorded in `olds` (the old state) with the new checked inputs. */
export function diffInputs(olds: Record<string, Wire>, news: Record<string, Wire>, spec: DiffSpec): DiffOutcome {
    const diffs: string[] = [];
    const replaces: string[] = [];
    for (const key of spec.inputs) {
        if (key.startsWith("__")) continue;
        if (sameValue(olds[key], news[key])) continue;
        diffs.push(key);
        if (spec.replaceOnChanges.includes(key)) replaces.push(key);
    }
    return { changes: diffs.length > 0, replaces, diffs, deleteBeforeReplace: false };
}
