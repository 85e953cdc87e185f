import { inspect } from "node:util";
import * as pulumi from "@pulumi/pulumi";

/**
 * The one way this library raises an error about a component's arguments: a
 * `pulumi.ResourceError` that prints as its message only, on the component (or, with no resource
 * to name, e.g. an existing machine's spec checked outside any component, on the stack). Thrown
 * inside an apply, a plain one is run through util.inspect by the SDK, which walks the whole
 * resource it holds: a failing `pulumi up` then took 19-40 s and printed the resource graph
 * (measured in verification tests). Raise it through {@link Problems}; `errors` lists each
 * problem as the SDK's InputPropertiesError does (`propertyPath`, `reason`).
 */
export function componentError(message: string, resource: pulumi.Resource | undefined, errors: readonly Problem[] = []): ComponentError {
    const e = new pulumi.ResourceError(message, resource, true) as ComponentError;
    Object.defineProperty(e, "errors", { value: errors, enumerable: false });
    Object.defineProperty(e, inspect.custom, { value: () => `${e.name}: ${e.message}`, enumerable: false });
    return e;
}

/** One problem of an argument, shaped as the SDK's InputPropertyErrorDetails. */
export interface Problem {
    /** The argument, e.g. `range` or `hosts.web-1.tenants`. */
    propertyPath: string;
    reason: string;
}

/** A {@link componentError}: a `pulumi.ResourceError` with every problem it reports. */
export type ComponentError = pulumi.ResourceError & { readonly errors: readonly Problem[] };

/**
 * Collects every problem of a component's arguments, then raises them together as one
 * {@link componentError} (as the SDK's InputPropertiesError reports several properties at once):
 * a user fixes all of them after one preview, not one per run. One problem reads
 * `field: reason`, several `N problems:` with one `field: reason` line each; `prefix` goes before
 * each (e.g. `machine "web": `).
 *
 * Plain values (the usual case, from stack config) are checked at once and raised by
 * {@link throwIfAny}, before anything is registered. An Output can only be checked when it
 * resolves, inside an apply: its problem is raised there, alone, as the same cheap componentError
 * (the SDK fails the resources that wait for it); that is the one place this library throws in
 * an apply.
 */
export class Problems {
    private readonly list: Problem[] = [];
    constructor(private readonly resource: pulumi.Resource | undefined, private readonly prefix = "") {}

    /** Records `reason` for `field` (nothing when reason is undefined). */
    add(field: string, reason: string | undefined): void {
        if (reason !== undefined) this.list.push({ propertyPath: field, reason });
    }

    /**
     * Checks one named argument with `problem` (which says what is wrong, or undefined): a plain
     * value now (recorded, raised by {@link throwIfAny}), an Output when it resolves.
     */
    check<T>(field: string, input: pulumi.Input<T>, problem: (value: T) => string | undefined): pulumi.Output<T> {
        if (pulumi.Output.isInstance(input) || input instanceof Promise) {
            return pulumi.output(input).apply((v) => {
                const why = problem(v as T);
                if (why !== undefined) throw this.error([{ propertyPath: field, reason: why }]);
                return v;
            }) as pulumi.Output<T>;
        }
        this.add(field, problem(input as T));
        // Plain values: Unwrap<T> is T.
        return pulumi.output(input) as unknown as pulumi.Output<T>;
    }

    /** Throws the one error naming every problem, if any was recorded. */
    throwIfAny(): void {
        if (this.list.length > 0) throw this.error(this.list);
    }

    private error(list: readonly Problem[]): ComponentError {
        const lines = list.map((p) => `${this.prefix}${p.propertyPath}: ${p.reason}`);
        const message = lines.length === 1 ? lines[0]! : `${lines.length} problems:\n  ${lines.join("\n  ")}`;
        return componentError(message, this.resource, [...list]);
    }
}

/** Login names as useradd accepts them by default. */
export const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** Why `user` cannot be the non-root owner of a runtime, or undefined when it can. */
export function nonRootUserProblem(user: string): string | undefined {
    if (!USER_NAME.test(user) || user === "root") {
        return `${JSON.stringify(user)} is not a valid non-root user name (${USER_NAME.source})`;
    }
    return undefined;
}

/** Why `user` cannot own a runtime or a pool: not a non-root login name, or a system account's. */
export function runtimeUserProblem(user: string): string | undefined {
    return nonRootUserProblem(user) ?? systemAccountProblem(user);
}

/**
 * Names of system accounts Linux distributions ship (Debian's base-passwd and the packages every
 * host has, systemd's, RHEL's): never a tenant, a rootless runtime's user or a remap user. An
 * account on a host with a UID below its login.defs' UID_MIN is refused there too (subids-host.sh).
 */
export const SYSTEM_ACCOUNT_NAMES: ReadonlySet<string> = new Set([
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp", "proxy", "www-data",
    "backup", "list", "irc", "gnats", "nobody", "nogroup", "adm", "operator", "halt", "shutdown", "ftp", "tss",
    "_apt", "messagebus", "dbus", "sshd", "polkitd", "systemd-network", "systemd-resolve", "systemd-timesync",
    "systemd-journal", "systemd-coredump", "systemd-oom", "syslog", "uuidd", "tcpdump", "dnsmasq", "avahi",
    "ntp", "chrony", "postfix", "statd", "rpc", "nfsnobody", "sssd", "docker", "default",
]);

/**
 * Why `name` cannot own subordinate IDs as a tenant or a runtime's user: a well-known system
 * account's name, or a numeric UID below 1000 (useradd's UID_MIN) or 65534 (nobody). Undefined
 * when it can. (The remap user is a system account by design: it is never checked with this.)
 */
export function systemAccountProblem(name: string): string | undefined {
    if (/^[0-9]+$/.test(name)) {
        const uid = Number(name);
        if (uid < 1000 || uid === 65534) return `UID ${name} is a system account's: system accounts get no subordinate IDs`;
        return undefined;
    }
    if (SYSTEM_ACCOUNT_NAMES.has(name)) return `${JSON.stringify(name)} is a system account: system accounts get no subordinate IDs; pick another name`;
    return undefined;
}
