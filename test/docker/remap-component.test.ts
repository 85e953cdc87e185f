import * as assert from "node:assert/strict";
import { installMocks, isSecret, promiseOf, settle } from "../support/mocks";

// DockerUsernsRemap's resource graph and input validation, against Pulumi mocks.
describe("DockerUsernsRemap (mocks)", function () {
    const mocks = installMocks();
    let mod: typeof import("../../components/docker/remap");
    const connection = { host: "10.0.0.7", user: "admin", privateKey: "secret-key" };
    const range = { start: 2147483648, count: 65536 };

    before(async function () {
        mod = await import("../../components/docker/remap");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    const commandOf = (name: string) => mocks.resources.find((r) => r.type === "pulumi-nodejs:dynamic/host:HostWork" && r.name === name);

    it("runs docker-remap.sh with readable, quoted arguments and restores on destroy", async function () {
        const c = new mod.DockerUsernsRemap("host-a-docker", {
            connection,
            range,
            daemonOptions: { "no-new-privileges": true, "log-opts": { "max-size": "10m" }, icc: false },
        });
        await promiseOf(c.command.urn);
        const cmd = commandOf("host-a-docker-daemon");
        assert.ok(cmd);
        assert.equal(
            cmd.inputs.create,
            `sudo -n bash -s -- apply --user dockremap --options '{"icc":false,"log-opts":{"max-size":"10m"},"no-new-privileges":true}' --install yes --require-no-containers no --range 2147483648:65536 --stack hardened-hosts/test`,
        );
        assert.equal(cmd.inputs.delete, "sudo -n bash -s -- remove --user dockremap --stack hardened-hosts/test");
        // A new range is an update (apply restarts dockerd for it), never a replace: a replace
        // would run the old remove after the new apply. Only a mode change replaces.
        assert.deepEqual(cmd.inputs.triggers, ["userns-remap"]);
        assert.ok(isSecret(cmd.inputs.connection));
    });

    it("takes over an operator's remap only when asked (takeOverRemap), and marks the settings with the stack", async function () {
        const c = new mod.DockerUsernsRemap("host-t-docker", { connection, range, takeOverRemap: true, stack: "other/prod" });
        await promiseOf(c.command.urn);
        const cmd = commandOf("host-t-docker-daemon")!;
        assert.match(cmd.inputs.create, / --stack other\/prod --take-over-remap yes$/);
        assert.equal(cmd.inputs.delete, "sudo -n bash -s -- remove --user dockremap --stack other/prod");
        const d = new mod.DockerUsernsRemap("host-u-docker", { connection, range });
        await promiseOf(d.command.urn);
        assert.doesNotMatch(commandOf("host-u-docker-daemon")!.inputs.create, /take-over-remap/, "not asked: not passed (the script refuses)");
        assert.doesNotMatch(commandOf("host-u-docker-daemon")!.inputs.create, /--containers/, "refuse (the default, the script's too): not passed");
        const e = new mod.DockerUsernsRemap("host-v-docker", { connection, range, existingContainers: "refuse" });
        await promiseOf(e.command.urn);
        assert.doesNotMatch(commandOf("host-v-docker-daemon")!.inputs.create, /--containers/, "refuse, said: the same command line as the default");
        const f = new mod.DockerUsernsRemap("host-x-docker", { connection, range, existingContainers: "stop" });
        await promiseOf(f.command.urn);
        assert.match(commandOf("host-x-docker-daemon")!.inputs.create, / --containers stop$/, "the opt-in");
        for (const old of ["kill", "report"]) {
            assert.throws(() => new mod.DockerUsernsRemap(`host-w-${old}-docker`, { connection, range, existingContainers: old as never }),
                new RegExp(`existingContainers: "${old}" is not "refuse" \\(the default\\) or "stop"`));
        }
    });

    const invalid: [string, object, RegExp][] = [
        ["a bad user name", { remapUser: "Bad;rm" }, /remapUser: "Bad;rm" is not a valid non-root user name/],
        ["root as remap user", { remapUser: "root" }, /remapUser/],
        ["a range under 65536", { range: { start: 2147483648, count: 1000 } }, /range: count 1000 is below 65536/],
        ["a range past 2^32-1", { range: { start: 4294967000, count: 65536 } }, /range: range ends past 4294967294/],
        ["userns-remap in daemonOptions", { daemonOptions: { "userns-remap": "x" } }, /daemonOptions: "userns-remap" is set by this component/],
    ];
    for (const [what, override, message] of invalid) {
        it(`fails with a clear error naming the field for ${what}`, async function () {
            // Plain values (as from stack config) fail at once, before any resource is registered.
            assert.throws(() => new mod.DockerUsernsRemap(`bad-${what.replace(/\W+/g, "-")}`, { connection, range, ...override }), (e: Error) => {
                assert.equal(e.constructor.name, "ResourceError");
                assert.match(e.message, message);
                return true;
            });
            assert.equal(mocks.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/host:HostWork").length, 0);
        });
        it(`fails naming the field for ${what} when the value arrives as an Output`, async function () {
            const pulumi = await import("@pulumi/pulumi");
            const lifted = Object.fromEntries(Object.entries(override).map(([k, v]) => [k, pulumi.output(v)]));
            const c = new mod.DockerUsernsRemap(`late-${what.replace(/\W+/g, "-")}`, { connection, range, ...lifted });
            const { error } = await settle(c.report);
            assert.match(String(error), message);
        });
    }
});
