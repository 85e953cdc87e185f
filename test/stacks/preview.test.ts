import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseStackConfig } from "../../stacks/config";
import { repoRoot } from "../support/pulumi-cli";
import { ProjectStack } from "../support/project-stack";

// The project's own stack program, previewed by the real engine in a temp stack (file backend in
// a temp dir): the default plan previews, and bad config fails at preview naming the key, with
// nothing created.
describe("stack program (real engine, temp stack)", function () {
    this.timeout(180_000);
    // A temp stack of the project (test/support/project-stack.ts): pulumi runs from another
    // directory (-C names the project), so nothing may depend on where pulumi starts.
    let stack: ProjectStack;
    const pulumi = (args: string[]) => stack.pulumi(args);
    const setStackConfig = (yaml: string) => stack.setConfig(yaml);

    before(function () {
        stack = new ProjectStack();
    });
    after(function () {
        stack?.dispose();
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
        assert.doesNotMatch(r.out, /command:remote:Command|dynamic\/host:HostWork/);
    });

    it("fails at preview naming the aws key that opens SSH to the world, before any AWS call", function () {
        setStackConfig([
            "config:",
            "  hardened-hosts:machines: aws",
            "  hardened-hosts:aws:",
            "    sshCidrs: [198.51.100.0/24, 0.0.0.0/0]",
            "    publicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleExampleExampleExampleExampleExample ops",
            "  hardened-hosts:hosts: [{ name: web-1 }]",
        ].join("\n"));
        const r = pulumi(["preview"]);
        assert.notEqual(r.status, 0);
        assert.match(r.out, /hardened-hosts:aws\.sshCidrs\[1\]: "0\.0\.0\.0\/0" would open SSH to the whole Internet/);
        assert.doesNotMatch(r.out, /aws:ec2|getAmi/);
    });

    it("previews existing hosts listed in a hostsFile relative to the project root (#29)", function () {
        const file = path.join(repoRoot, "test", "stacks", "fixtures", "hosts-file.yaml");
        assert.ok(fs.existsSync(file));
        setStackConfig([
            "config:",
            "  hardened-hosts:machines: existing",
            "  hardened-hosts:hostsFile: test/stacks/fixtures/hosts-file.yaml",
            "  hardened-hosts:tenants: { tenant-a: {} }",
        ].join("\n"));
        assert.equal(pulumi(["config", "set", "--secret", "sshPrivateKey", "not-a-real-key"]).status, 0);
        const r = pulumi(["preview", "--diff"]);
        assert.equal(r.status, 0, r.out);
        for (const n of ["edge-1-subids-write", "edge-2-docker-daemon"]) assert.match(r.out, new RegExp(`\\b${n}\\b`));
    });

    it("previews the lab kind from an inventory path relative to the project root (the program's cwd is stacks/)", function () {
        setStackConfig([
            "config:",
            "  hardened-hosts:machines: lab",
            "  hardened-hosts:labInventory: test/stacks/fixtures/lab/inventory.json",
            "  hardened-hosts:tenants: { tenant-a: {} }",
        ].join("\n"));
        const r = pulumi(["preview", "--diff"]);
        assert.equal(r.status, 0, r.out);
        for (const n of ["lab-1-subids-write", "lab-1-docker-daemon", "lab-2-docker-rootless-runtime", "lab-3-podman-runtime", "lab-3-verify-check"]) {
            assert.match(r.out, new RegExp(`\\b${n}\\b`));
        }
        assert.match(r.out, /sudo -n bash -s -- apply --mode podman --user podmanuser/, "lab-3's login user is not root");
        assert.doesNotMatch(r.out, /bGFiLWZpeHR1cmUtbm90LWEtcmVhbC1rZXk/, "the key file's content is never shown");
        assert.match(r.out, /machine "lab-2": no hostKey given/);
    });

    it("fails at preview naming hardened-hosts:labInventory when there is no inventory", function () {
        setStackConfig(["config:", "  hardened-hosts:machines: lab", "  hardened-hosts:labInventory: .lab/no-such-inventory.json"].join("\n"));
        const r = pulumi(["preview"]);
        assert.notEqual(r.status, 0);
        assert.match(r.out, /hardened-hosts:labInventory: .*\/\.lab\/no-such-inventory\.json does not exist .*; run `npm run lab -- up`/);
        assert.ok(r.out.includes(path.join(repoRoot, ".lab", "no-such-inventory.json")), "resolved from the project root");
    });

    // The example stack files, read by the real CLI (its YAML, its config encoding), then parsed.
    for (const [example, kind] of [["Pulumi.aws.example.yaml", "aws"], ["Pulumi.onboard.example.yaml", "existing"]] as const) {
        it(`reads stacks/${example} as a valid ${kind} plan`, function () {
            setStackConfig(fs.readFileSync(path.join(repoRoot, "stacks", example), "utf8"));
            const r = pulumi(["config", "--json"]);
            assert.equal(r.status, 0, r.out);
            const values = JSON.parse(r.out.slice(r.out.indexOf("{"))) as Record<string, { value?: string; objectValue?: unknown }>;
            const get = (key: string) => {
                const v = values[`hardened-hosts:${key}`];
                if (v === undefined) return undefined;
                if (v.objectValue !== undefined) return v.objectValue;
                try {
                    return JSON.parse(v.value!); // as stacks/index.ts reads them: `false` is a boolean
                } catch {
                    return v.value;
                }
            };
            const plan = parseStackConfig(get, "hardened-hosts", { projectRoot: repoRoot });
            assert.equal(plan.kind, kind);
            if (plan.kind === "aws") {
                assert.equal(values["aws:region"]?.value, "eu-west-1");
                assert.deepEqual(plan.hosts.map((h) => h.name), ["build-1", "build-2"]);
            }
        });
    }
});
