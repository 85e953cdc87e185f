import * as pulumi from "@pulumi/pulumi";
import { installMocks } from "../support/mocks";

/** One invoke sent to the (mock) provider. */
export interface RecordedInvoke {
    token: string;
    inputs: any;
}

/** What an EC2 instance reports once created (the mocks echo inputs; these are outputs). */
export interface InstanceState {
    publicIp: string;
    privateIp: string;
}

interface MachineMocks {
    resources: ReturnType<typeof installMocks>["resources"];
    invokes: Map<string, any>;
    /** Every invoke with its arguments, in order (the shared mocks keep only results). */
    calls: RecordedInvoke[];
    /** The addresses the next instances get. */
    instance: InstanceState;
    /** Resource name → the error its provider reports: that resource's create fails. */
    failures: Map<string, string>;
    /** Resource name → the URNs it was registered as depending on (`dependsOn` and inputs). */
    dependencies: Map<string, string[]>;
    /** Resource name → its URN, for every registration. */
    urns: Map<string, string>;
}

let machineMocks: MachineMocks | undefined;

/**
 * The shared mocks (test/support/mocks.ts), plus what machine, fleet and stack tests need on top:
 * invoke arguments recorded, EC2 outputs the provider would compute (key pair name, instance
 * IPs), each registration's dependencies and URN, and resources whose create fails.
 * Wraps the mock monitor's callbacks once per process; other resource types are untouched.
 */
export function installMachineMocks(): MachineMocks {
    if (machineMocks) return machineMocks;
    const base = installMocks();
    const monitor = pulumi.runtime.getMonitor() as unknown as { mocks: pulumi.runtime.Mocks };
    const inner = monitor.mocks;
    const mm: MachineMocks = {
        resources: base.resources,
        invokes: base.invokes,
        calls: [],
        instance: { publicIp: "203.0.113.10", privateIp: "172.31.5.10" },
        failures: new Map(),
        dependencies: new Map(),
        urns: new Map(),
    };
    // What the engine would see of each registration: its dependencies and its URN.
    const rawMonitor = monitor as unknown as { registerResource(req: any, cb: (err: any, res: any) => void): Promise<void> };
    const register = rawMonitor.registerResource.bind(rawMonitor);
    rawMonitor.registerResource = (req, cb) => {
        mm.dependencies.set(req.getName(), [...req.getDependenciesList()]);
        return register(req, (err, res) => {
            if (res) mm.urns.set(req.getName(), res.getUrn());
            cb(err, res);
        });
    };
    monitor.mocks = {
        async newResource(args) {
            const failure = mm.failures.get(args.name);
            if (failure !== undefined) throw new Error(failure);
            const result = await inner.newResource(args);
            if (args.type === "aws:ec2/instance:Instance") return { ...result, state: { ...result.state, ...mm.instance } };
            if (args.type === "aws:ec2/keyPair:KeyPair") return { ...result, state: { ...result.state, keyName: `${args.name}-kp` } };
            return result;
        },
        call(args) {
            mm.calls.push({ token: args.token, inputs: args.inputs });
            return inner.call(args);
        },
    };
    machineMocks = mm;
    return mm;
}

/** Lets pending registrations reach the mocks. */
export function settleRegistrations(ms = 50): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}
