import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TestLab, labAvailable } from "../support/lab";
import { repoRoot } from "../support/pulumi-cli";

// Issue #29: a stack made by the code before small state (each host step a remote.Command holding
// its script as stdin, the check and the support step holding their scripts and serialized
// providers) upgrades to this checkout's code without its hosts' work being removed and applied
// again: the preview shows in-place updates only (no replace, no delete of host work), the update
// opens no SSH session on any host and leaves their files byte for byte, the state afterwards
// holds no script, a no-change preview follows, and destroy (through the new resources) gives the
// hosts back as found. The old code is `git archive` of main's last commit before small state
// (HH_UPGRADE_FROM to choose another), built as a fresh clone builds it.
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json", "/etc/containers/containers.conf"];
const LAB = { name: "stu", portBase: 23100, net: 180, hosts: 4 } as const;
const HOSTS = [1, 2, 3, 4].map((n) => `${LAB.name}-${n}`);

/** The dev stack's four modes, on the lab's profiles in turn (busy, fresh, sudo-user, podman-host). */
function stackConfig(inventory: string): string {
    return `config:
  hardened-hosts:machines: lab
  hardened-hosts:labInventory: ${inventory}
  hardened-hosts:tenants: { tenant-a: {}, tenant-b: { size: 131072 } }
  hardened-hosts:hosts:
    - { name: ${HOSTS[0]}, runtime: { mode: userns-remap, daemonOptions: { no-new-privileges: true }, existingContainers: stop }, tenants: [tenant-a, tenant-b] }
    - { name: ${HOSTS[1]}, runtime: { mode: docker-rootless, user: dockeruser }, tenants: [tenant-a] }
    - { name: ${HOSTS[2]}, runtime: { mode: podman, user: podmanuser }, tenants: [tenant-b] }
    - { name: ${HOSTS[3]}, runtime: { mode: podman-auto, slots: 16, size: 65536 }, tenants: [tenant-a] }
`;
}

/**
 * The tracked files of `commit`, with this checkout's host scripts (every components .sh file) in place
 * of its own, this checkout's node_modules linked and dist/ built. The scripts are today's so that
 * the upgrade is only the state's new shape: a script changed since `commit` runs once on the
 * hosts, as a remote.Command with a new stdin did (not what this test is about).
 */
function archiveOf(commit: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-upgrade-old-"));
    const r = spawnSync("bash", ["-c", `set -o pipefail; git -C "${repoRoot}" archive "${commit}" | tar -x -C "${dir}" &&
        cd "${repoRoot}" && git ls-files -z 'components/*.sh' | xargs -0 -I{} cp {} "${dir}/{}"`], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`git archive ${commit}: ${r.stderr}`);
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"));
    const b = spawnSync(process.execPath, [path.join(dir, "scripts", "build.js")], { cwd: dir, encoding: "utf8" });
    if (b.status !== 0) throw new Error(`build of ${commit}: ${b.stderr}`);
    return dir;
}

describe("upgrade of a stack made before small state (issue #29; real engine, lab hosts)", function () {
    this.timeout(1_800_000);
    const skip = labAvailable();
    const stack = `hh-upgrade-${crypto.randomBytes(3).toString("hex")}`;
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-upgrade-state-"));
    // The last commit of main before small state (a merge-base would be HEAD itself on main).
    const from = process.env.HH_UPGRADE_FROM ?? "b64b086835a2904fffc3d922b86714e120b13064";
    let old: string | undefined;
    let lab: TestLab | undefined;
    let live: string | undefined; // the project whose code last owned the stack (for cleanup)
    const original: Record<string, Record<string, string | null>> = {};
    const afterOldUp: Record<string, Record<string, string | null>> = {};

    /** `pulumi ARGS` on the stack, in project `dir` (the old archive or this checkout). */
    function pulumi(dir: string, args: string[]): { status: number; out: string; stdout: string } {
        const script = `source "${dir}/scripts/pulumi-env.sh" && exec pulumi -C "${dir}" --non-interactive --stack ${stack} "$@"`;
        const r = spawnSync("bash", ["-c", script, "pulumi", ...args], {
            cwd: os.tmpdir(), encoding: "utf8", maxBuffer: 256 * 1024 * 1024,
            // The plugins are this checkout's (the old archive has no plugin home of its own).
            env: { ...process.env, PULUMI_HOME: process.env.PULUMI_HOME ?? path.join(repoRoot, ".pulumi-home"), PULUMI_BACKEND_URL: `file://${stateDir}`, PULUMI_CONFIG_PASSPHRASE: "test" },
        });
        return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
    }
    function ok(dir: string, args: string[]): { out: string; stdout: string } {
        const r = pulumi(dir, args);
        if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} (${dir}) exited ${r.status}\n${r.out}`);
        return r;
    }
    const stackFile = (dir: string) => path.join(dir, "stacks", `Pulumi.${stack}.yaml`);
    /** SSH sessions opened on a host so far (sshd's journal), this query's own included. */
    const sessions = (h: string) => Number(lab!.run(h, "journalctl -u ssh.service -o cat --no-pager | grep -c 'pam_unix(sshd:session): session opened' || true").trim());
    const resources = () => JSON.parse(ok(repoRoot, ["stack", "export"]).stdout).deployment.resources as { urn: string; type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[];

    before(function () {
        if (skip) {
            if (process.env.CI) throw new Error(`cannot run here: ${skip}`);
            this.skip();
        }
        assert.match(from, /^[0-9a-f]{40}$/, "the commit to upgrade from");
        old = archiveOf(from);
        lab = new TestLab(LAB);
        lab.up();
        for (const h of HOSTS) original[h] = lab.snapshot(h, FILES);
        ok(old, ["stack", "init"]);
        const salt = fs.readFileSync(stackFile(old), "utf8").split("\n").filter((l) => l.startsWith("encryptionsalt:"));
        fs.writeFileSync(stackFile(old), [...salt, stackConfig(lab.inventoryFile)].join("\n"));
        // The same stack settings in this checkout (same salt: the same secrets).
        fs.copyFileSync(stackFile(old), stackFile(repoRoot));
    });

    after(function () {
        try {
            if (live && lab) pulumi(live, ["destroy", "--yes", "--skip-preview"]);
        } finally {
            for (const d of [old, repoRoot]) if (d) fs.rmSync(stackFile(d), { force: true });
            if (old) fs.rmSync(old, { recursive: true, force: true });
            fs.rmSync(stateDir, { recursive: true, force: true });
            lab?.down();
        }
    });

    it("the code before #29 hardens the hosts; its state holds the scripts", function () {
        live = old;
        ok(old!, ["up", "--yes", "--skip-preview"]);
        for (const h of HOSTS) afterOldUp[h] = lab!.snapshot(h, FILES);
        const state = JSON.parse(ok(old!, ["stack", "export"]).stdout).deployment.resources as { type: string; inputs?: Record<string, unknown> }[];
        const commands = state.filter((r) => r.type === "command:remote:Command");
        assert.equal(commands.length, 2 * HOSTS.length, "a subids and a runtime command a host");
        assert.ok(commands.every((c) => typeof c.inputs?.stdin === "string" && (c.inputs.stdin as string).length > 10_000));
        live = repoRoot;
    });

    it("this checkout's preview of that stack: in-place updates only, no replace, no host work deleted", function () {
        // What a reviewer reads (the old scripts are not printed: see HostWork's hideDiffs).
        const review = ok(repoRoot, ["preview", "--diff"]).stdout;
        console.log(`      (preview --diff of the upgrade: ${review.split("\n").length} lines, ${review.length} bytes)`);
        assert.ok(review.length < 100_000, `the upgrade's review is ${review.length} bytes:\n${review.slice(0, 3000)}`);
        const r = ok(repoRoot, ["preview", "--json"]);
        const steps = (JSON.parse(r.stdout).steps ?? []) as { op: string; urn: string }[];
        const name = (s: { urn: string }) => s.urn.split("::").pop()!;
        const type = (s: { urn: string }) => s.urn.split("::")[2]!.split("$").pop()!;
        const changed = steps.filter((s) => s.op !== "same");
        // Host work and checks are rewritten in place; the fleet's Command provider goes (nothing uses it).
        for (const s of changed) {
            const allowed = s.op === "update" || (s.op === "delete" && type(s) === "pulumi:providers:command");
            assert.ok(allowed, `${s.op} ${type(s)} ${name(s)}`);
        }
        for (const h of HOSTS) {
            for (const suffix of ["-subids-write", "-verify-check", "-support"]) {
                assert.ok(changed.some((s) => s.op === "update" && name(s) === `${h}${suffix}`), `${h}${suffix} is rewritten`);
            }
        }
    });

    it("the update contacts no host, and leaves every host's files as they were; the state holds no script", function () {
        const before = Object.fromEntries(HOSTS.map((h) => [h, sessions(h)]));
        ok(repoRoot, ["up", "--yes", "--skip-preview"]);
        for (const h of HOSTS) {
            // One session: the query itself.
            assert.equal(sessions(h) - before[h]!, 1, `${h}: SSH sessions during the upgrade`);
            assert.deepEqual(lab!.snapshot(h, FILES), afterOldUp[h], h);
        }
        const state = resources();
        assert.deepEqual(state.filter((r) => r.type === "command:remote:Command").map((r) => r.urn), []);
        for (const r of state) {
            for (const props of [r.inputs ?? {}, r.outputs ?? {}]) {
                for (const k of ["stdin", "__scripts", "__script"]) assert.equal(props[k], undefined, `${r.urn} ${k}`);
                if (typeof props.__provider === "string") assert.ok(props.__provider.length < 200, `${r.urn} __provider ${props.__provider.length} bytes`);
            }
        }
        const outputs = JSON.parse(ok(repoRoot, ["stack", "output", "--json"]).stdout);
        assert.equal(outputs.summary.hostsPassed, HOSTS.length, JSON.stringify(outputs.summary));
    });

    it("then a preview and an up change nothing, and --refresh sees every host as it is", function () {
        ok(repoRoot, ["preview", "--expect-no-changes"]);
        ok(repoRoot, ["up", "--yes", "--skip-preview", "--refresh", "--expect-no-changes"]);
    });

    it("destroy through the upgraded state gives the hosts back as found", function () {
        ok(repoRoot, ["destroy", "--yes", "--skip-preview"]);
        live = undefined;
        for (const h of HOSTS) assert.deepEqual(lab!.snapshot(h, FILES), original[h], h);
    });
});
