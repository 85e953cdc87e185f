import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";

// Issue 28, hosts shared with others, through the real engine on a lab host of the busy profile
// (Docker running two containers, a daemon.json of other keys):
//   - system accounts get no subordinate IDs: names refused at preview (one error, no host
//     touched), an existing system account refused by the host before anything is written;
//   - a failed run leaves the host as found: a daemon.json with a UTF-8 byte order mark, and
//     /etc/docker full, fail before the first write, naming the cause; /etc/subuid, /etc/subgid,
//     daemon.json, the account files: the same bytes; no temp file, no account;
//   - every managed line is verified: a tenant's line removed by hand is drift that
//     `preview --refresh` names, `refresh` records and `up --refresh` repairs;
//   - a second stack on the host (test/fixtures/second-stack: another project, its own tenants):
//     ranges overlapping ours refused naming our stack, our Docker settings refused to it, its own
//     block from a pool of its own written beside ours; destroying it leaves our lines and
//     settings byte for byte and our host passing;
//   - destroy puts the files back byte for byte and removes the remap user the run created.
const LAB = { name: "shrd", portBase: 22870, net: 87, hosts: 1, profile: "busy" } as const;
const H = `${LAB.name}-1`;
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json", "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];

/**
 * The busy host runs the lab's containers (lab-web, lab-worker): the switch stops and hides them,
 * which the stack asks for (`existingContainers: stop`) except where a test proves the default.
 */
function stackConfig(inventory: string, tenants: string, hostTenants: string, containers: "stop" | "default" = "stop"): string {
    return [
        "config:",
        "  hardened-hosts:machines: lab",
        `  hardened-hosts:labInventory: ${inventory}`,
        `  hardened-hosts:tenants: ${tenants}`,
        "  hardened-hosts:hosts:",
        `    - { name: ${H}, runtime: { mode: userns-remap${containers === "stop" ? ", existingContainers: stop" : ""} }, tenants: ${hostTenants} }`,
        "",
    ].join("\n");
}

describe("hosts shared with others: system accounts, failures that leave nothing behind, tenant lines verified (real engine, a busy lab host)", function () {
    this.timeout(1_800_000);
    const skip = labAvailable();
    let lab: TestLab | undefined;
    let stack: ProjectStack | undefined;
    let start: Record<string, string | null> = {};
    let startLeft = "";
    let destroyed = false;
    const L = () => lab!;
    const S = () => stack!;
    const configure = (tenants: string, hostTenants: string, containers: "stop" | "default" = "stop") =>
        S().setConfig(stackConfig(L().inventoryFile, tenants, hostTenants, containers));
    const snapshot = () => L().snapshot(H, FILES);
    /** Files in /etc/docker and /etc that a run may leave behind: temp files, backups, records. */
    const leftovers = () => L().run(H, "ls -A /etc/docker; ls -A /etc | grep -E '^\\.(subuid|subgid)\\.hh\\.|hardened-hosts' || true").trim();
    const failedUp = () => {
        const r = S().pulumi(["up", "--yes", "--skip-preview"]);
        assert.notEqual(r.status, 0, r.out);
        return r.out;
    };
    const timings: Record<string, number> = {};
    const timed = <T>(what: string, f: () => T): T => {
        const t0 = Date.now();
        try {
            return f();
        } finally {
            timings[what] = (Date.now() - t0) / 1000;
        }
    };

    before(function () {
        if (skip) {
            if (process.env.CI) throw new Error(`the lab cannot run here: ${skip}`);
            this.skip();
        }
        lab = new TestLab(LAB);
        lab.up();
        start = snapshot();
        startLeft = leftovers();
        stack = new ProjectStack();
    });

    after(function () {
        try {
            if (stack && lab && !destroyed) stack.pulumi(["destroy", "--yes", "--skip-preview"]);
        } finally {
            stack?.dispose();
            lab?.down();
            console.log(`      timings (s): ${JSON.stringify(timings)}`);
        }
    });

    it("tenants named as system accounts or as the remap user stop the preview in one error, before any host is touched", function () {
        configure("{ root: {}, nobody: {}, daemon: {}, dockremap: {}, tenant-a: {} }", "[root, nobody, daemon, dockremap, tenant-a]");
        const r = timed("refused preview", () => S().pulumi(["preview"]));
        assert.notEqual(r.status, 0);
        assert.match(r.out, /4 problems:/);
        for (const t of ["root", "nobody", "daemon"]) assert.match(r.out, new RegExp(`tenants\\.${t}: "${t}" is a system account`));
        assert.match(r.out, new RegExp(`hosts\\.${H}\\.tenants: "dockremap" is the userns-remap user of host ${H}`));
        assert.deepEqual(snapshot(), start);
    });

    it("an existing system account as a tenant is refused by the host before anything is written", function () {
        L().run(H, "useradd --system --no-create-home --shell /usr/sbin/nologin svc-backup");
        const withAccount = snapshot();
        configure("{ svc-backup: {}, tenant-a: {} }", "[svc-backup, tenant-a]");
        const out = failedUp();
        assert.match(out, /owner svc-backup is a system account \(UID \d+, below UID_MIN 1000 in login\.defs\): system accounts get no subordinate IDs/);
        assert.deepEqual(snapshot(), withAccount, "nothing written, no remap user made");
        assert.equal(leftovers(), startLeft);
        L().run(H, "userdel svc-backup");
        assert.deepEqual(snapshot(), start);
    });

    it("a daemon.json with a UTF-8 byte order mark: refused before the subids step writes; the host as found", function () {
        configure("{ tenant-a: {} }", "[tenant-a]");
        L().run(H, "cp -p /etc/docker/daemon.json /root/daemon.json.orig && { printf '\\357\\273\\277'; cat /root/daemon.json.orig; } > /etc/docker/daemon.json");
        const withBom = snapshot();
        const out = failedUp();
        assert.match(out, /\/etc\/docker\/daemon\.json starts with a UTF-8 byte order mark .*: nothing changed/);
        assert.deepEqual(snapshot(), withBom);
        assert.equal(leftovers(), startLeft);
        L().run(H, "cat /root/daemon.json.orig > /etc/docker/daemon.json && rm /root/daemon.json.orig");
        assert.deepEqual(snapshot(), start);
    });

    it("/etc/docker full: refused before the first write, naming the folder; no temp file, no account", function () {
        L().run(H, [
            "cp -a /etc/docker /root/etc-docker.orig",
            "mount -t tmpfs -o size=64k tmpfs /etc/docker",
            "cp -a /root/etc-docker.orig/. /etc/docker/",
            "head -c 40960 /dev/zero > /etc/docker/fill",
        ].join(" && "));
        try {
            const before = snapshot();
            const out = failedUp();
            assert.match(out, /no space left on \/etc\/docker: \d+ KiB free, \d+ KiB needed to write \/etc\/docker\/daemon\.json and its backup: nothing changed/);
            assert.deepEqual(snapshot(), before);
            assert.equal(L().run(H, "ls -A /etc/docker | grep -c -e '\\.hh\\.' -e hardened-hosts || true").trim(), "0", "no temp file, backup or record");
        } finally {
            L().run(H, "umount /etc/docker && rm -rf /root/etc-docker.orig");
        }
        assert.deepEqual(snapshot(), start);
        assert.equal(leftovers(), startLeft);
    });

    it("running containers: by default the switch that would stop and hide them is refused, naming them, before anything is written", function () {
        configure("{ tenant-a: {} }", "[tenant-a]", "default");
        const out = timed("refused up (containers)", failedUp);
        assert.match(out, /the switch would stop 2 running container\(s\) \((lab-web lab-worker|lab-worker lab-web)\) and hide 2 container\(s\) .*ask for it explicitly \(existingContainers: stop, --containers stop\): nothing changed/);
        assert.match(out, new RegExp(`${H}-subids-write`), "refused by the first step that would write");
        assert.deepEqual(snapshot(), start);
        assert.equal(leftovers(), startLeft);
        assert.match(L().run(H, "docker ps --format '{{.Names}}' | sort | tr '\\n' ' '"), /^lab-web lab-worker $/, "still running");
    });

    it("up hardens the host when asked to stop them (existingContainers: stop), and the outputs record what it stopped and hid; the remap user it creates is recorded as ours", function () {
        configure("{ tenant-a: {} }", "[tenant-a]");
        timed("up", () => S().ok(["up", "--yes", "--skip-preview"]));
        const out = S().outputs();
        const e = out.containers[H];
        assert.deepEqual({ stopped: [...e.stopped].sort(), hidden: [...e.hidden].sort(), remapTakenOverFrom: e.remapTakenOverFrom },
            { stopped: ["lab-web", "lab-worker"], hidden: ["lab-web", "lab-worker"], remapTakenOverFrom: null }, JSON.stringify(out.containers));
        assert.equal(out.hosts[H].passed, true, JSON.stringify(out.hosts[H]));
        assert.match(out.hosts[H].checks["subuid-managed-lines"], /^pass/i);
        assert.match(L().run(H, "cat /etc/docker/daemon.json.hardened-hosts.user"), /^user dockremap$/m);
        timed("no-change preview", () => S().ok(["preview", "--refresh", "--expect-no-changes"]));
    });

    it("a tenant's line removed by hand is drift: named by preview --refresh, recorded by refresh, repaired by up --refresh", function () {
        const lines = L().run(H, "grep '^tenant-a:' /etc/subuid").trim();
        assert.match(lines, /^tenant-a:\d+:65536$/);
        L().run(H, "sed -i '/^tenant-a:/d' /etc/subuid");
        const preview = S().pulumi(["preview", "--refresh", "--diff", "--expect-no-changes"]);
        assert.notEqual(preview.status, 0);
        assert.match(preview.out, new RegExp(`${H}-verify-check`));
        assert.match(preview.out, /"subuid-managed-lines: observed missing or changed: tenant-a:\d+:65536/);
        S().ok(["refresh", "--yes", "--skip-preview"]);
        assert.match(S().outputs().hosts[H].checks["subuid-managed-lines"], /^FAIL: /);
        timed("repair", () => S().ok(["up", "--yes", "--skip-preview", "--refresh"]));
        assert.equal(L().run(H, "grep '^tenant-a:' /etc/subuid").trim(), lines);
        assert.equal(S().outputs().hosts[H].passed, true);
        S().ok(["preview", "--refresh", "--expect-no-changes"]);
    });

    it("a second stack: overlaps and our Docker settings refused naming our stack; its own block beside ours; its destroy leaves ours", function () {
        const ours = `hardened-hosts/${S().name}`;
        const host = L().host(H);
        const b = new ScratchProject(path.join(repoRoot, "test", "fixtures", "second-stack"), { HH_REPO_ROOT: repoRoot });
        try {
            b.ok(["stack", "init", "b"]);
            b.ok(["config", "set", "host", host.address]);
            b.ok(["config", "set", "port", String(host.port)]);
            b.ok(["config", "set", "hostKey", host.hostKey]);
            const k = b.pulumi(["config", "set", "--secret", "privateKey"], { input: fs.readFileSync(host.privateKeyFile, "utf8") });
            assert.equal(k.status, 0, k.stderr);
            b.ok(["config", "set", "--path", "tenants.team-b", "65536"]);
            const withA = snapshot();

            // The default pool: team-b would get what our stack already granted.
            let r = b.pulumi(["up", "--yes", "--skip-preview"]);
            assert.notEqual(r.status, 0);
            assert.match(r.stdout + r.stderr, new RegExp(`overlaps line \\d+ \\(dockremap:\\d+:65536\\) of stack ${ours.replace("/", "\\/")}'s block`));
            assert.deepEqual(snapshot(), withA, "nothing written");

            // A pool of its own (its ledger starts afresh: a recorded range never moves silently),
            // and Docker remapped for it too: our stack owns daemon.json's settings.
            b.ok(["destroy", "--yes", "--skip-preview"]);
            b.ok(["config", "set", "--path", "pool.start", "3221225472"]);
            b.ok(["config", "set", "--path", "pool.end", "4294967295"]);
            b.ok(["config", "set", "remapUser", "bremap"]);
            r = b.pulumi(["up", "--yes", "--skip-preview"]);
            assert.notEqual(r.status, 0);
            assert.match(r.stdout + r.stderr, new RegExp(`daemon\\.json's userns-remap and keys are managed by stack ${ours.replace("/", "\\/")}, not second-stack\\/b`));
            assert.deepEqual(snapshot(), withA, "nothing written");

            // Tenants only: its own block, beside ours.
            b.ok(["config", "rm", "remapUser"]);
            timed("second stack up", () => b.ok(["up", "--yes", "--skip-preview"]));
            const subuid = L().run(H, "cat /etc/subuid");
            // (From its pool; not its first range: the one bremap got in the refused run stays retired.)
            const m = /# BEGIN hardened-hosts managed block of second-stack\/b \(do not edit\)\n(team-b:(\d+):65536)\n# END hardened-hosts managed block of second-stack\/b\n/.exec(subuid);
            assert.ok(m && Number(m[2]) >= 3221225472, subuid);
            const teamB = m[1]!;
            assert.match(subuid, new RegExp(`# BEGIN hardened-hosts managed block of ${ours.replace("/", "\\/")} \\(do not edit\\)`));
            // Both verified on the host, each by its own: ours by its checks, theirs by its lines.
            S().ok(["preview", "--refresh", "--expect-no-changes"]);
            assert.equal(S().outputs().hosts[H].passed, true);
            assert.equal(L().run(H, `grep -c '^${teamB}$' /etc/subuid /etc/subgid`).trim(), "/etc/subuid:1\n/etc/subgid:1");

            timed("second stack destroy", () => b.ok(["destroy", "--yes", "--skip-preview"]));
            assert.deepEqual(snapshot(), withA, "our lines and settings, byte for byte");
            S().ok(["refresh", "--yes", "--skip-preview"]);
            assert.equal(S().outputs().hosts[H].passed, true);
            S().ok(["preview", "--refresh", "--expect-no-changes"]);
        } finally {
            b.pulumi(["destroy", "--yes", "--skip-preview"]);
            b.dispose();
        }
    });

    it("destroy: the files and accounts back byte for byte, the remap user it made deleted", function () {
        timed("destroy", () => S().ok(["destroy", "--yes", "--skip-preview"]));
        destroyed = true;
        assert.deepEqual(snapshot(), start);
        assert.equal(L().sh(H, "getent passwd dockremap").status, 2, "dockremap is gone");
        assert.equal(leftovers(), startLeft);
    });
});
