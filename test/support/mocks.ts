import * as pulumi from "@pulumi/pulumi";
import { planLedger } from "../../components/subids/ledger";

/** One resource registered against the mocks: what the component sent to the provider. */
export interface Registered {
    type: string;
    name: string;
    inputs: any;
    /** The provider reference (`URN::ID`) the resource was registered with, if any. */
    provider?: string;
}

/**
 * Installs Pulumi mocks that record every registered resource (call first, then `await import()`
 * the module under test, as pulumi-eks' tests do). Invoke results come from `invokes`, keyed by
 * token; clear it in `beforeEach`.
 */
export function installMocks(): { resources: Registered[]; invokes: Map<string, any> } {
    // One Pulumi runtime per mocha process: every test file shares one set of mocks (a second
    // setMocks would silently take the resources of the files loaded before it).
    if (installed) return installed;
    const resources: Registered[] = [];
    const invokes = new Map<string, any>();
    pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs) {
                resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
                // Commands echo a plausible stdout so components can parse it; the subids ledger
                // runs its real (pure) planning, as its provider's check() would.
                let state = args.inputs;
                if (args.type === "command:remote:Command") state = { ...args.inputs, stdout: "{}", stderr: "" };
                if (args.type === "pulumi-nodejs:dynamic/host:HostWork") state = { ...args.inputs, stdout: "{}" };
                if (args.type === "pulumi-nodejs:dynamic/subids:SubidLedger") state = { ...args.inputs, ...planLedger(undefined, args.inputs) };
                return { id: `${args.name}-id`, state };
            },
            call(args: pulumi.runtime.MockCallArgs) {
                if (!invokes.has(args.token)) throw new Error(`unexpected invoke ${args.token}`);
                return invokes.get(args.token);
            },
        },
        "hardened-hosts",
        "test",
        false,
    );
    installed = { resources, invokes };
    return installed;
}

let installed: { resources: Registered[]; invokes: Map<string, any> } | undefined;

/** Resolves an Output in a mock test (its value, or undefined when unknown). */
export function promiseOf<T>(o: pulumi.Output<T>): Promise<T> {
    return new Promise((resolve) => o.apply((v) => { resolve(v); return v; }));
}

/** Whether a value sent to the provider was marked secret. */
export function isSecret(v: any): boolean {
    return v !== null && typeof v === "object" && v[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
}

/** Settles an Output in a mock test: its value, or the error its apply threw. */
export async function settle<T>(o: pulumi.Output<T>): Promise<{ value?: T; error?: unknown }> {
    try {
        // Output.promise() is internal but stable; it is how the SDK's own tests await outputs.
        return { value: await (o as unknown as { promise(): Promise<T> }).promise() };
    } catch (error) {
        return { error };
    }
}
