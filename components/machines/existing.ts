import * as pulumi from "@pulumi/pulumi";
import { BastionConnection, HostConnection } from "../host/connection";
import { Problems } from "../host/validate";
import { addressProblem, hostKeyProblem, loginUserProblem, passwordProblem, portProblem, privateKeyProblem } from "./checks";

/** A bastion (jump host) in front of an existing machine (its key is required unless a password is given). */
export type BastionSpec = BastionConnection;

/**
 * A bring-your-own machine (a provider onboarding a node): reached over SSH as it is, nothing is
 * created in a cloud.
 */
export interface ExistingMachineSpec {
    kind: "existing";
    /** Address or DNS name of the host (no port, no brackets). */
    address: pulumi.Input<string>;
    /** SSH port. Default 22. */
    port?: pulumi.Input<number>;
    /** Login user. Default `root`; any other user needs password-less `sudo`. */
    user?: pulumi.Input<string>;
    /** Private key (OpenSSH or PEM). Stored as a secret. Required unless `password` is given. */
    privateKey?: pulumi.Input<string>;
    /** Password, when there is no key. Stored as a secret. */
    password?: pulumi.Input<string>;
    /**
     * The host's public key as in `/etc/ssh/ssh_host_ed25519_key.pub` (`ssh-ed25519 AAAA...`).
     * Recommended: when set, any other key is refused; when absent, every connection trusts
     * whatever key the host presents (a warning says so).
     */
    hostKey?: pulumi.Input<string>;
    /** Reach the host through this bastion. Default: directly. */
    proxy?: BastionSpec;
    /** Run host scripts through `sudo -n`. Default: when `user` is not `root`. */
    sudo?: pulumi.Input<boolean>;
}

/** A {@link HostConnection} (kept as a name: the bastion is part of every connection now). */
export type ExistingConnection = HostConnection;

/**
 * Checks an existing machine's spec and returns its connection. Plain values are checked right
 * away (a `pulumi.ResourceError` naming the field, before anything is registered); Outputs (e.g.
 * secrets from config) when they resolve. No resource is registered and no cloud API is called.
 *
 * @param name the machine's name, used in messages.
 * @param parent the resource errors and warnings are reported on, if any.
 */
export function existingMachineConnection(name: string, spec: ExistingMachineSpec, parent?: pulumi.Resource): ExistingConnection {
    // Every problem of the spec at once (plain values; Outputs when they resolve), on `parent`
    // or, without one, on the stack.
    const problems = new Problems(parent, `machine ${JSON.stringify(name)}: `);
    const field = <T>(fieldName: string, input: pulumi.Input<T>, problem: (v: T) => string | undefined): pulumi.Output<T> =>
        problems.check(fieldName, input, problem);
    const optional = <T>(input: pulumi.Input<T> | undefined, check: (i: pulumi.Input<T>) => pulumi.Output<T>) =>
        input === undefined ? undefined : check(input);

    if (spec.kind !== "existing") problems.add("kind", `${JSON.stringify(spec.kind)} is not "existing"`);
    if (spec.privateKey === undefined && spec.password === undefined) {
        problems.add("privateKey", "is required (or a password)");
    }
    if (spec.proxy !== undefined) {
        if (spec.proxy.privateKey === undefined && spec.proxy.password === undefined) {
            problems.add("proxy.privateKey", "is required (or proxy.password)");
        }
    }

    const trustWarning = (what: string): undefined => {
        pulumi.log.warn(
            `machine ${JSON.stringify(name)}: no ${what} given: the first connection trusts whatever host key is presented ` +
                `(and so does every later one). Set it from the host's /etc/ssh/ssh_host_ed25519_key.pub.`,
            parent,
        );
        return undefined;
    };
    // An Output (e.g. from config) may resolve to nothing: that is an absent key, not a bad one.
    const hostKeyCheck = (what: string) => (k: string | undefined) => (k === undefined ? trustWarning(what) : hostKeyProblem(k));

    // The host and its bastion are checked alike; only the field names differ (the host's
    // address is `address` in the spec, the bastion's `proxy.host`).
    const endpoint = (prefix: string, hostField: string, e: BastionConnection): BastionConnection => ({
        host: field(`${prefix}${hostField}`, e.host, addressProblem),
        port: field(`${prefix}port`, e.port ?? 22, portProblem),
        user: field(`${prefix}user`, e.user ?? "root", loginUserProblem),
        privateKey: optional(e.privateKey, (k) => pulumi.secret(field(`${prefix}privateKey`, k, privateKeyProblem))),
        password: optional(e.password, (pw) => pulumi.secret(field(`${prefix}password`, pw, passwordProblem))),
        hostKey: optional(e.hostKey, (k) => field(`${prefix}hostKey`, k, hostKeyCheck(`${prefix}hostKey`))),
    });
    const connection: ExistingConnection = {
        ...endpoint("", "address", { ...spec, host: spec.address }),
        sudo: spec.sudo,
    };
    if (spec.proxy !== undefined) connection.proxy = endpoint("proxy.", "host", spec.proxy);
    problems.throwIfAny();

    if (spec.hostKey === undefined) trustWarning("hostKey");
    if (spec.proxy !== undefined && spec.proxy.hostKey === undefined) trustWarning("proxy.hostKey");
    return connection;
}
