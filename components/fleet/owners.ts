import { Problems, systemAccountProblem } from "../host/validate";
import { RuntimeSpec, runtimeOwner } from "./hardened-host";

/**
 * Records, in `problems`, every owner of a fleet that must not get subordinate IDs (issue 28),
 * before anything is registered or a host contacted:
 * - a tenant, a rootless runtime's user, a remap user or a pool owner named as a well-known system
 *   account (`root`, `daemon`, `nobody`, ...: `SYSTEM_ACCOUNT_NAMES`) or a numeric system UID;
 * - a tenant placed on a host (`hosts.<h>.tenants`) named as a userns-remap host's remap user
 *   (`dockremap` by default): the remap user is a system account of the project's own, and a
 *   tenant of that name would silently share Docker's remap range. A fleet tenant of that name
 *   placed on no host only sizes the remap range, as before.
 * On the host, `subids-host.sh` also refuses an owner that is an existing account with a UID below
 * login.defs' UID_MIN (the remap user and a pool owner excepted).
 */
export function fleetOwnerProblems(args: { tenants?: Record<string, unknown>; hosts: Record<string, { runtime: RuntimeSpec; tenants?: string[] }> }, problems: Problems): void {
    const hostNames = Object.keys(args.hosts).sort();
    const remapUsers = new Map<string, string[]>();
    for (const host of hostNames) {
        const runtime = args.hosts[host]!.runtime;
        switch (runtime.mode) {
            case "docker-rootless":
            case "podman":
                problems.add(`hosts.${host}.runtime.user`, typeof runtime.user === "string" ? systemAccountProblem(runtime.user) : undefined);
                break;
            case "userns-remap": {
                if (runtime.remapUser !== undefined) problems.add(`hosts.${host}.runtime.remapUser`, systemAccountProblem(runtime.remapUser));
                const u = runtimeOwner(runtime);
                remapUsers.set(u, [...(remapUsers.get(u) ?? []), host]);
                break;
            }
            case "podman-auto":
                if (runtime.poolOwner !== undefined) problems.add(`hosts.${host}.runtime.poolOwner`, systemAccountProblem(runtime.poolOwner));
                break;
            case "kubelet-userns":
                // The owner is always `kubelet` (kubelet reads no other name): a system account of
                // the mode's own, like the remap user; a tenant of that name would share its range.
                remapUsers.set(runtimeOwner(runtime), [...(remapUsers.get(runtimeOwner(runtime)) ?? []), host]);
                break;
        }
    }
    for (const owner of Object.keys(args.tenants ?? {}).sort()) problems.add(`tenants.${owner}`, systemAccountProblem(owner));
    // A fleet tenant named as a remap user only sizes the remap range (`tenants: {dockremap: {size}}`);
    // placed on a host, it would be granted there as a tenant sharing Docker's remap range.
    for (const host of hostNames) {
        for (const t of args.hosts[host]!.tenants ?? []) {
            const remapHosts = remapUsers.get(t);
            if (remapHosts) {
                const kube = args.hosts[remapHosts[0]!]!.runtime.mode === "kubelet-userns";
                problems.add(`hosts.${host}.tenants`, kube
                    ? `${JSON.stringify(t)} is the kubelet-userns owner of host${remapHosts.length === 1 ? "" : "s"} ${remapHosts.join(", ")}: a tenant of that name would share the pods' range; pick another name`
                    : `${JSON.stringify(t)} is the userns-remap user of host${remapHosts.length === 1 ? "" : "s"} ${remapHosts.join(", ")}: a tenant of that name would share Docker's remap range; pick another name (a fleet tenant of that name, on no host, only sizes the remap range)`);
            }
        }
    }
}
