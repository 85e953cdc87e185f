import * as assert from "node:assert/strict";
import { installMocks, isSecret, promiseOf } from "../support/mocks";

// RootlessRuntime's resource graph and input validation, against Pulumi mocks.
describe("RootlessRuntime (mocks)", function () {
    const mocks = installMocks();
    let mod: typeof import("../../components/rootless/runtime");
    const connection = { host: "10.0.0.8", privateKey: "secret-key" };
    const range = { start: 2147614720, count: 65536 };

    before(async function () {
        mod = await import("../../components/rootless/runtime");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    for (const mode of ["docker-rootless", "podman"] as const) {
        it(`runs rootless.sh for ${mode} with the user's range, and removes it on destroy`, async function () {
            const c = new mod.RootlessRuntime(`host-c-${mode}`, { connection, mode, user: "alice", range });
            await promiseOf(c.command.urn);
            const cmd = mocks.resources.find((r) => r.name === `host-c-${mode}-runtime`);
            assert.ok(cmd);
            // The user's arguments, then the decisions of plan.ts (test/rootless/plan.test.ts).
            const decisions = mode === "docker-rootless"
                ? "--packages newuidmap=uidmap,newgidmap=uidmap,slirp4netns=slirp4netns,rootlesskit=rootlesskit,dockerd=docker.io," +
                  "docker=docker.io:docker-cli,dockerd-rootless.sh=docker.io,ip=iproute2,pam_systemd.so@systemd=libpam-systemd," +
                  "setfacl@tun-closed=acl,busybox=busybox-static"
                : "--packages newuidmap=uidmap,newgidmap=uidmap,slirp4netns=slirp4netns,podman=podman,fuse-overlayfs=fuse-overlayfs," +
                  "crun@oci-runtime=crun,runc@oci-runtime=runc,pam_systemd.so@systemd=libpam-systemd,setfacl@tun-closed=acl,busybox=busybox-static " +
                  "--oci-runtime v1=runc,hybrid=runc,v2=crun:runc --storage-order overlay,fuse-overlayfs,vfs";
            assert.equal(
                cmd.inputs.create,
                `bash -s -- apply --mode ${mode} --user alice --create-user yes --install yes --restrict-shell no --expect-range 2147614720:65536 ${decisions}`,
            );
            assert.equal(cmd.inputs.delete, `bash -s -- remove --mode ${mode} --user alice --delete-user no`);
            assert.deepEqual(cmd.inputs.triggers, [mode, "alice"]);
            assert.ok(isSecret(cmd.inputs.connection));
        });
    }

    const invalid: [string, object, RegExp][] = [
        ["an unknown mode", { mode: "lxc" }, /mode: "lxc" is not one of "docker-rootless", "podman"/],
        ["root as the user", { user: "root" }, /user: "root" is not a valid non-root user name/],
        ["a user name with shell characters", { user: "a$(id)" }, /user: "a\$\(id\)" is not a valid/],
        ["a range under 65536", { range: { start: 2147483648, count: 4096 } }, /range: count 4096 is below 65536/],
    ];
    for (const [what, override, message] of invalid) {
        it(`stops before registering anything for ${what}`, function () {
            assert.throws(
                () => new mod.RootlessRuntime(`bad-${what.replace(/\W+/g, "-")}`, { connection, mode: "podman", user: "alice", range, ...override } as any),
                (e: Error) => e.constructor.name === "ResourceError" && message.test(e.message),
            );
            assert.equal(mocks.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/host:HostWork").length, 0);
        });
    }
});
