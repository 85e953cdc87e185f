import * as crypto from "node:crypto";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { installMocks, isSecret, promiseOf } from "../support/mocks";
import { repoRoot } from "../support/pulumi-cli";

// The resource graph of HostSubids, against Pulumi mocks: what it sends to the Command provider.
describe("HostSubids (mocks)", function () {
    const mocks = installMocks();
    let mod: typeof import("../../components/subids/host-subids");

    before(async function () {
        mod = await import("../../components/subids/host-subids");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    it("runs subids-host.sh apply with the planned lines, and remove on destroy", async function () {
        const c = new mod.HostSubids("host-a-subids", {
            connection: { host: "10.0.0.5", user: "admin", privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----x" },
            allocation: { "tenant-b": { start: 2147549184, count: 65536 }, "tenant-a": { start: 2147483648, count: 65536 } },
        });
        assert.deepEqual(await promiseOf(c.lines), ["tenant-a:2147483648:65536", "tenant-b:2147549184:65536"]);
        await promiseOf(c.command.urn);
        const cmd = mocks.resources.find((r) => r.type === "pulumi-nodejs:dynamic/host:HostWork");
        assert.ok(cmd, "a HostWork is registered");
        assert.equal(cmd.name, "host-a-subids-write");
        // The block is marked with the program's project/stack (the mocks': hardened-hosts/test).
        assert.equal(cmd.inputs.create, "sudo -n bash -s -- apply tenant-a:2147483648:65536 tenant-b:2147549184:65536 --stack hardened-hosts/test");
        assert.equal(cmd.inputs.delete, "sudo -n bash -s -- remove --stack hardened-hosts/test");
        // The script by path and digest (its text, the prelude, the script's part (what the runtime
        // step refuses: docker-switch.sh), then the script as sent on stdin, stays out of the
        // state: issue #29).
        const text = ["host/prelude.sh", "docker/docker-switch.sh", "subids/subids-host.sh"]
            .map((f) => fs.readFileSync(path.join(repoRoot, "components", f), "utf8")).join("\n");
        assert.equal(cmd.inputs.script, "subids/subids-host.sh");
        assert.equal(cmd.inputs.scriptDigest, `sha256:${crypto.createHash("sha256").update(text).digest("hex").slice(0, 16)}`);
        assert.equal(cmd.inputs.stdin, undefined);
        assert.equal(c.command.scriptText, text);
        assert.ok(isSecret(cmd.inputs.connection), "the whole connection (with its key) is secret");
    });

    it("runs without sudo as root", async function () {
        const c = new mod.HostSubids("host-b-subids", {
            connection: { host: "10.0.0.6", privateKey: "k" },
            allocation: { dockremap: { start: 2147483648, count: 65536 } },
        });
        await promiseOf(c.command.urn);
        const cmd = mocks.resources.find((r) => r.name === "host-b-subids-write");
        assert.equal(cmd?.inputs.create, "bash -s -- apply dockremap:2147483648:65536 --stack hardened-hosts/test");
    });
});
