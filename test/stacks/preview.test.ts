import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../support/pulumi-cli";

// The project's own stack program, previewed by the real engine in a temp stack (file backend in
// a temp dir): the default plan previews, and bad config fails at preview naming the key, with
// nothing created.
describe("stack program (real engine, temp stack)", function () {
    this.timeout(180_000);
    const stack = `hh-test-${crypto.randomBytes(3).toString("hex")}`;
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "hh-stack-state-"));
    const stackFile = path.join(repoRoot, "stacks", `Pulumi.${stack}.yaml`);
    const pulumi = (args: string[]) => {
        const script = `source scripts/pulumi-env.sh && exec pulumi --non-interactive --stack ${stack} "$@"`;
        const r = spawnSync("bash", ["-c", script, "pulumi", ...args], {
            cwd: repoRoot,
            encoding: "utf8",
            env: { ...process.env, PULUMI_BACKEND_URL: `file://${state}`, PULUMI_CONFIG_PASSPHRASE: "test" },
        });
        return { status: r.status, out: `${r.stdout}${r.stderr}` };
    };

    before(function () {
        const r = spawnSync("bash", ["-c", `source scripts/pulumi-env.sh && pulumi stack init ${stack} --non-interactive`], {
            cwd: repoRoot, encoding: "utf8", env: { ...process.env, PULUMI_BACKEND_URL: `file://${state}`, PULUMI_CONFIG_PASSPHRASE: "test" },
        });
        assert.equal(r.status, 0, r.stderr);
    });
    after(function () {
        fs.rmSync(stackFile, { force: true });
        fs.rmSync(state, { recursive: true, force: true });
    });

    it("previews the default plan", function () {
        const r = pulumi(["preview"]);
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /toolchain-probe/);
    });

    it("fails at preview naming the config key, creating nothing", function () {
        assert.equal(pulumi(["config", "set", "machines", "existing"]).status, 0);
        assert.equal(pulumi(["config", "set", "--path", "hosts[0].name", "node-1"]).status, 0);
        assert.equal(pulumi(["config", "set", "--path", "hosts[0].address", "10.0.0.1;reboot"]).status, 0);
        const r = pulumi(["preview"]);
        assert.notEqual(r.status, 0);
        assert.match(r.out, /hardened-hosts:hosts\[0\]\.address: "10\.0\.0\.1;reboot" is not a host name or IP address/);
        assert.doesNotMatch(r.out, /command:remote:Command/);
    });
});
