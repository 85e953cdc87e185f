import * as pulumi from "@pulumi/pulumi";
import { HostConnection, commandConnection } from "../host/connection";
import { validated } from "../host/validate";
import { addressProblem, hostKeyProblem, loginUserProblem, passwordProblem, portProblem, privateKeyProblem } from "./checks";

/** A bastion (jump host) in front of an existing machine. */
export interface BastionSpec {
    /** Address or DNS name of the bastion. */
    host: pulumi.Input<string>;
    /** SSH port of the bastion. Default 22. */
    port?: pulumi.Input<number>;
    /** Login user on the bastion. Default `root`. */
    user?: pulumi.Input<string>;
    /** Private key for the bastion (OpenSSH or PEM). Stored as a secret. Required unless `password`. */
    privateKey?: pulumi.Input<string>;
    /** Password for the bastion, when there is no key. Stored as a secret. */
    password?: pulumi.Input<string>;
    /** The bastion's host public key (`ssh-ed25519 AAAA...`). Recommended; without it any key is trusted. */
    hostKey?: pulumi.Input<string>;
}

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

/** The bastion part of a connection, in `@pulumi/command`'s `ProxyConnection` shape. */
export interface BastionConnection {
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    user: pulumi.Input<string>;
    privateKey?: pulumi.Input<string>;
    password?: pulumi.Input<string>;
    hostKey?: pulumi.Input<string>;
}

/** A {@link HostConnection}, plus the bastion when there is one. */
export type ExistingConnection = HostConnection & { proxy?: BastionConnection };

/**
 * Whether `commandConnection` (components/host/connection.ts) passes a `proxy` on to the Command
 * provider. Until it does, a bastion would be dropped silently and the scripts would dial the
 * address directly, so a spec with `proxy` is refused instead.
 */
export function commandConnectionCarriesProxy(): boolean {
    const probe = { host: "h", proxy: { host: "p", port: 22, user: "u" } } as HostConnection;
    const out = commandConnection(probe) as { proxy?: unknown };
    return out !== null && typeof out === "object" && out.proxy !== undefined;
}

/**
 * Checks an existing machine's spec and returns its connection. Plain values are checked right
 * away (a `pulumi.ResourceError` naming the field, before anything is registered); Outputs (e.g.
 * secrets from config) when they resolve. No resource is registered and no cloud API is called.
 *
 * @param name the machine's name, used in messages.
 * @param parent the resource errors and warnings are reported on, if any.
 */
export function existingMachineConnection(name: string, spec: ExistingMachineSpec, parent?: pulumi.Resource): ExistingConnection {
    const fail = (field: string, why: string): never => {
        throw new pulumi.ResourceError(`machine ${JSON.stringify(name)}: ${field}: ${why}`, parent);
    };
    function field<T>(fieldName: string, input: pulumi.Input<T>, problem: (v: T) => string | undefined): pulumi.Output<T> {
        return validated(input, (v) => {
            const why = problem(v);
            return why === undefined ? v : fail(fieldName, why);
        });
    }
    const optional = <T>(input: pulumi.Input<T> | undefined, check: (i: pulumi.Input<T>) => pulumi.Output<T>) =>
        input === undefined ? undefined : check(input);

    if (spec.kind !== "existing") fail("kind", `${JSON.stringify(spec.kind)} is not "existing"`);
    if (spec.privateKey === undefined && spec.password === undefined) {
        fail("privateKey", "is required (or a password)");
    }
    if (spec.proxy !== undefined) {
        if (spec.proxy.privateKey === undefined && spec.proxy.password === undefined) {
            fail("proxy.privateKey", "is required (or proxy.password)");
        }
        if (!commandConnectionCarriesProxy()) {
            fail("proxy", "bastions are not supported yet: commandConnection() does not pass a proxy to the Command provider");
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

    const connection: ExistingConnection = {
        host: field("address", spec.address, addressProblem),
        port: field("port", spec.port ?? 22, portProblem),
        user: field("user", spec.user ?? "root", loginUserProblem),
        privateKey: optional(spec.privateKey, (k) => pulumi.secret(field("privateKey", k, privateKeyProblem))),
        password: optional(spec.password, (p) => pulumi.secret(field("password", p, passwordProblem))),
        hostKey: optional(spec.hostKey, (k) => field("hostKey", k, hostKeyCheck("hostKey"))),
        sudo: spec.sudo,
    };
    if (spec.proxy !== undefined) {
        const p = spec.proxy;
        connection.proxy = {
            host: field("proxy.host", p.host, addressProblem),
            port: field("proxy.port", p.port ?? 22, portProblem),
            user: field("proxy.user", p.user ?? "root", loginUserProblem),
            privateKey: optional(p.privateKey, (k) => pulumi.secret(field("proxy.privateKey", k, privateKeyProblem))),
            password: optional(p.password, (pw) => pulumi.secret(field("proxy.password", pw, passwordProblem))),
            hostKey: optional(p.hostKey, (k) => field("proxy.hostKey", k, hostKeyCheck("proxy.hostKey"))),
        };
    }

    if (spec.hostKey === undefined) trustWarning("hostKey");
    if (spec.proxy !== undefined && spec.proxy.hostKey === undefined) trustWarning("proxy.hostKey");
    return connection;
}
