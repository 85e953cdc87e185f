import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";

// Bad input from Pulumi YAML, through the real engine and the component provider: one error that
// names every wrong argument (`hosts.edge-1.runtime.mode: ...`), and no resource but the stack.
// No host is needed: the addresses are never contacted.
const PROGRAM = `name: yaml-errors
runtime: yaml
resources:
  fleet:
    type: hardened-hosts:index:HardenedFleet
    properties:
      tenants:
        tenant-a: {}
        Bad_T: { size: 12 }
      hosts:
        edge-1:
          address: "bad host"
          privateKey: "ssh-ed25519 AAAA"
          runtime: { mode: userns-rmap }
          tenants: [tenant-z]
        edge-2:
          address: 192.0.2.10
          port: 70000
          privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----"
          runtime: { mode: podman }
outputs:
  summary: \${fleet.summary}
`;

describe("HardenedFleet from Pulumi YAML: bad input (real engine, component provider)", function () {
    this.timeout(120_000);
    let project: ScratchProject | undefined;
    let fixture: string | undefined;

    before(function () {
        const r = spawnSync("bash", ["-c", `source "${repoRoot}/scripts/pulumi-env.sh" && command -v pulumi-language-yaml && bash "${repoRoot}/components/provider/install.sh"`]);
        if (r.status !== 0) {
            if (process.env.CI) throw new Error("pulumi-language-yaml is not built (bash scripts/pulumi-toolchain.sh)");
            this.skip();
        }
        fixture = fs.mkdtempSync(path.join(os.tmpdir(), "hh-yaml-errors-"));
        fs.writeFileSync(path.join(fixture, "Pulumi.yaml"), PROGRAM);
        project = new ScratchProject(fixture);
        project.ok(["stack", "init", "dev"]);
    });
    after(function () {
        project?.dispose();
        if (fixture) fs.rmSync(fixture, { recursive: true, force: true });
    });

    it("preview fails with one error naming every wrong argument, and registers nothing", function () {
        const r = project!.pulumi(["preview"]);
        const out = `${r.stdout}${r.stderr}`;
        assert.notEqual(r.status, 0, out);
        const errors = out.split("\n").filter((l) => /^\s*error: /.test(l));
        assert.equal(errors.length, 1, out);
        assert.match(errors[0]!, /HardenedFleet resource 'fleet' has a problem: 8 problems in the arguments \(nothing was registered, no host was contacted\)/);
        for (const [field, reason] of [
            ["tenants.Bad_T", /is not a valid login name/],
            ["tenants.Bad_T.size", /must be from 65536 to 2\^31 IDs, not 12/],
            ["hosts.edge-1.address", /"bad host" is not a host name or IP address/],
            ["hosts.edge-1.privateKey", /is a public key/],
            ["hosts.edge-1.runtime.mode", /"userns-rmap" is not one of "userns-remap", "docker-rootless", "podman", "podman-auto"/],
            ["hosts.edge-1.tenants", /"tenant-z" is not one of the fleet's tenants/],
            ["hosts.edge-2.port", /70000 is not an integer from 1 to 65535/],
            ["hosts.edge-2.runtime.user", /is required for podman/],
        ] as const) {
            const line = out.split("\n").find((l) => l.includes(`property ${field} `));
            assert.ok(line, `${field} is not named:\n${out}`);
            assert.match(line, reason);
        }
        // Nothing was created: the stack has no resources.
        const state = JSON.parse(project!.ok(["stack", "export"]).stdout);
        assert.deepEqual(state.deployment.resources ?? [], []);
    });
});
