import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";

/** One SSH endpoint: a host, or the bastion in front of it. */
export interface SshEndpoint {
    /** Address or DNS name. */
    host: pulumi.Input<string>;
    /** SSH port. Default 22. */
    port?: pulumi.Input<number>;
    /** Login user. Default `root` (on a host, any other user needs password-less `sudo`). */
    user?: pulumi.Input<string>;
    /** Private key in OpenSSH or PEM form. Stored as a secret. */
    privateKey?: pulumi.Input<string>;
    /** Password, when there is no key. Stored as a secret. */
    password?: pulumi.Input<string>;
    /** The endpoint's public host key (`ssh-ed25519 AAAA...`); when set, any other key is refused. */
    hostKey?: pulumi.Input<string>;
}

/** A bastion (jump host) in front of a host. */
export type BastionConnection = SshEndpoint;

/**
 * How to reach a host over SSH. Every kind of machine (EC2, bring-your-own, local test hosts)
 * ends in one of these, so everything after it is one code path.
 */
export interface HostConnection extends SshEndpoint {
    /** Run host scripts through `sudo -n`. Default: when `user` is not `root`. */
    sudo?: pulumi.Input<boolean>;
    /** Reach the host through this bastion. Default: directly. */
    proxy?: pulumi.Input<BastionConnection>;
}

/** One endpoint in `@pulumi/command`'s shape, with defaults and secrets marked secret. */
function endpointArgs(e: SshEndpoint) {
    return {
        host: e.host,
        port: e.port ?? 22,
        user: e.user ?? "root",
        privateKey: e.privateKey === undefined ? undefined : pulumi.secret(e.privateKey),
        password: e.password === undefined ? undefined : pulumi.secret(e.password),
        hostKey: e.hostKey,
        // Bounded wait for hosts that are still booting: 20 dials × up to 15 s.
        dialErrorLimit: 20,
        perDialTimeout: 15,
    };
}

/** The `connection` input of `@pulumi/command`'s remote resources, secrets marked secret. */
export function commandConnection(c: HostConnection): pulumi.Input<command.types.input.remote.ConnectionArgs> {
    return {
        ...endpointArgs(c),
        proxy: c.proxy === undefined ? undefined : pulumi.output(c.proxy).apply(endpointArgs),
    };
}

/** Whether host scripts must go through sudo. */
export function needsSudo(c: HostConnection): pulumi.Output<boolean> {
    return pulumi.all([c.sudo, c.user]).apply(([sudo, user]) => sudo ?? (user ?? "root") !== "root");
}
