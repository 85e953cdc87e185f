import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestLab, labAvailable } from "../support/lab";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";

// Issue #27: the same two-host fleet from a Pulumi YAML program, through the component provider
// (components/provider/, run as an executable plugin), on two disposable lab hosts: preview, up,
// per-host pass/fail in the outputs, a no-change preview, destroy putting /etc/subuid, /etc/subgid
// and /etc/docker/daemon.json back byte for byte. The program is the README's block, as printed.
//   <lab>-1 busy   Docker running with containers, a daemon.json of other keys -> userns-remap
//   <lab>-2 fresh  no Docker (installed with apt)                              -> rootless Docker
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json"];
const LAB = { name: "yaml", portBase: 22480, net: 70, hosts: 2 } as const;
const HOSTS = ["edge-1", "edge-2"] as const;

/** The README's ```yaml block after `<!-- tested: NAME ... -->`. */
export function markedYamlBlock(name: string): string {
    const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
    const at = readme.indexOf(`<!-- tested: ${name} `);
    if (at < 0) throw new Error(`README.md has no tested: ${name} marker`);
    const m = /^```yaml\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("\n", at) + 1));
    if (!m) throw new Error(`the line after README.md's tested: ${name} marker must open a \`\`\`yaml block`);
    return m[1]!;
}

/** Whether the toolchain has the YAML language host (scripts/pulumi-toolchain.sh builds it). */
function yamlHostProblem(): string | undefined {
    const r = spawnSync("bash", ["-c", `source "${repoRoot}/scripts/pulumi-env.sh" && command -v pulumi-language-yaml`]);
    return r.status === 0 ? undefined : "pulumi-language-yaml is not built (bash scripts/pulumi-toolchain.sh)";
}

describe("HardenedFleet from Pulumi YAML through the component provider (real engine, two lab hosts)", function () {
    this.timeout(900_000);
    const skip = labAvailable() ?? yamlHostProblem();
    let lab: TestLab | undefined;
    let project: ScratchProject | undefined;
    let fixture: string | undefined;
    let snap: string | undefined;
    let destroyed = false;
    const startBytes: Record<string, Record<string, string | null>> = {};
    const labHost = (i: number) => `${LAB.name}-${i + 1}`;

    before(function () {
        if (skip) {
            if (process.env.CI) throw new Error(`cannot run here: ${skip}`);
            this.skip();
        }
        // The provider as the checkout has it now, run from a private copy with a plugin home of
        // its own: a working tree others edit meanwhile must not change the host scripts between
        // up and the no-change preview. The Command provider is the toolchain's, copied.
        snap = fs.mkdtempSync(path.join(os.tmpdir(), "hh-provider-snap-"));
        fs.cpSync(path.join(repoRoot, "components"), path.join(snap, "components"), { recursive: true });
        for (const f of ["package.json", "tsconfig.json"]) fs.copyFileSync(path.join(repoRoot, f), path.join(snap, f));
        fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(snap, "node_modules"));
        const home = path.join(snap, ".pulumi-home");
        fs.mkdirSync(path.join(home, "plugins"), { recursive: true });
        const inst = spawnSync("bash", ["-c", `set -e
            command_plugin="$(unset PULUMI_HOME; source "${repoRoot}/scripts/pulumi-env.sh" && echo "$PULUMI_HOME")/plugins/resource-command-v1.2.1"
            cp -a "$command_plugin" "$PULUMI_HOME/plugins/"
            bash "${snap}/components/provider/install.sh"`], { encoding: "utf8", env: { ...process.env, PULUMI_HOME: home } });
        assert.equal(inst.status, 0, inst.stderr);
        lab = new TestLab(LAB);
        lab.up();
        // Docker with no workloads: what a switch does to containers is lab-shared's and lab-stack's subject.
        lab.removeContainers();
        for (let i = 0; i < HOSTS.length; i++) startBytes[labHost(i)] = lab.snapshot(labHost(i), FILES);
        fixture = fs.mkdtempSync(path.join(os.tmpdir(), "hh-yaml-fixture-"));
        fs.writeFileSync(path.join(fixture, "Pulumi.yaml"), markedYamlBlock("provider-yaml"));
        project = new ScratchProject(fixture, { PULUMI_HOME: home });
        project.ok(["stack", "init", "dev"]);
        HOSTS.forEach((h, i) => {
            const inv = lab!.host(labHost(i));
            const n = h.slice(-1);
            project!.ok(["config", "set", `edge${n}Address`, inv.address]);
            project!.ok(["config", "set", `edge${n}Port`, String(inv.port)]);
            project!.ok(["config", "set", `edge${n}HostKey`, inv.hostKey]);
        });
        const key = fs.readFileSync(lab.host(labHost(0)).privateKeyFile, "utf8");
        const r = project.pulumi(["config", "set", "--secret", "sshKey"], { input: key });
        assert.equal(r.status, 0, r.stderr);
    });

    after(function () {
        // Cleanup even when a step failed: the stack first (it knows the hosts), then the hosts.
        try {
            if (project && lab && !destroyed) project.pulumi(["destroy", "--yes", "--skip-preview"]);
        } finally {
            project?.dispose();
            for (const d of [fixture, snap]) if (d) fs.rmSync(d, { recursive: true, force: true });
            lab?.down();
        }
    });

    it("preview plans the fleet: the component, its ledger and each host's work", function () {
        const r = project!.ok(["preview", "--diff"]);
        const out = `${r.stdout}${r.stderr}`;
        assert.match(out, /hardened-hosts:index:HardenedFleet/);
        for (const h of HOSTS) assert.match(out, new RegExp(`${h}-subids-write`));
        // Each host's own owners, from the one fleet allocation (command lines as the preview shows them).
        // (The display cuts long values: edge-1's line ends before tenant-b.)
        assert.match(out, /edge-1-subids-write\][\s\S]*?create +: "bash -s -- apply [^"]*dockremap:\d+:65536 tenant-a:\d+:/);
        assert.match(out, /edge-2-subids-write\][\s\S]*?create +: "bash -s -- apply dockeruser:\d+:65536 tenant-a:\d+:65536 /);
        assert.match(out, /--mode docker-rootless --user dockeruser/);
        assert.match(out, /no-new-privileges/);
    });

    it("up hardens both hosts; the outputs say per host and per check that every check passed", function () {
        project!.ok(["up", "--yes", "--skip-preview"]);
        const out = JSON.parse(project!.ok(["stack", "output", "--json", "--show-secrets"]).stdout);
        assert.deepEqual(Object.keys(out.verification).sort(), [...HOSTS]);
        for (const h of HOSTS) {
            const v = out.verification[h];
            assert.equal(v.passed, true, JSON.stringify(v, null, 1));
            const checks = Object.entries(v.checks as Record<string, { passed: boolean; severity: string }>);
            assert.ok(checks.length >= 5, JSON.stringify(v.checks));
            assert.deepEqual(checks.filter(([, c]) => !c.passed && c.severity === "error"), []);
        }
        assert.equal(out.verification["edge-1"].mode, "userns-remap");
        assert.equal(out.verification["edge-2"].mode, "rootless");
        assert.equal(out.summary.hostsPassed, 2);
        assert.equal(out.summary.hostsFailed, 0);
        assert.equal(out.allocation["tenant-b"].count, 131072);
        // On the hosts themselves: the ranges written, the daemon remapped.
        const start = out.allocation["tenant-a"].start;
        for (let i = 0; i < HOSTS.length; i++) assert.match(lab!.run(labHost(i), "cat /etc/subuid"), new RegExp(`^tenant-a:${start}:65536$`, "m"));
        assert.equal(JSON.parse(lab!.run(labHost(0), "cat /etc/docker/daemon.json"))["userns-remap"], "dockremap");
    });

    it("a second preview changes nothing (timed)", function () {
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
            const t0 = Date.now();
            project!.ok(["preview", "--expect-no-changes"]);
            times.push((Date.now() - t0) / 1000);
        }
        console.log(`      no-change preview of the YAML fleet (2 hosts): ${times.map((t) => t.toFixed(1)).join(" s, ")} s`);
    });

    it("destroy puts every host's /etc/subuid, /etc/subgid and daemon.json back byte for byte", function () {
        project!.ok(["destroy", "--yes", "--skip-preview"]);
        destroyed = true;
        for (let i = 0; i < HOSTS.length; i++) assert.deepEqual(lab!.snapshot(labHost(i), FILES), startBytes[labHost(i)], labHost(i));
    });
});
