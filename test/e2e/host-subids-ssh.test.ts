import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ThrowawaySshd, sshdMissing } from "../support/sshd";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";

// The whole path for real: engine → SubidLedger (state) → HostSubids → Command provider → SSH
// (a throw-away sshd on 127.0.0.1, logging in as root) → subids-host.sh on stdin → this
// machine's real /etc/subuid and /etc/subgid → JSON report → destroy restores the bytes.
describe("HostSubids over SSH with the real engine (this machine's /etc)", function () {
    this.timeout(300_000);
    let sshd: ThrowawaySshd | undefined;
    let project: ScratchProject | undefined;
    const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : null);
    let original: { subuid: string | null; subgid: string | null };

    before(async function () {
        const missing = sshdMissing();
        if (missing || process.getuid?.() !== 0) throw new Error(`needs root and sshd: ${missing ?? "not root"}`);
        original = { subuid: read("/etc/subuid"), subgid: read("/etc/subgid") };
        // A host has one managed block: never touch one this test did not create.
        if (`${original.subuid}${original.subgid}`.includes("hardened-hosts managed block") || fs.existsSync("/var/lib/hardened-hosts/subids")) {
            // On a developer's machine another suite may be running; in CI nothing else runs,
            // so a block there is a leak from an earlier suite and must fail loudly.
            if (process.env.CI) throw new Error("this machine already has a hardened-hosts block in /etc/subuid");
            this.skip();
        }
        sshd = await ThrowawaySshd.start();
        project = new ScratchProject(path.join(repoRoot, "test", "fixtures", "host-subids"), { HH_REPO_ROOT: repoRoot });
        project.ok(["stack", "init", "e2e"]);
        project.ok(["config", "set", "host", "127.0.0.1"]);
        project.ok(["config", "set", "port", String(sshd.port)]);
        project.ok(["config", "set", "hostKey", sshd.hostKey]);
        const r = project.pulumi(["config", "set", "--secret", "privateKey"], { input: sshd.clientKey });
        assert.equal(r.status, 0, r.stderr);
        project.ok(["config", "set", "--path", "tenants.hh-e2e-a", "65536"]);
        project.ok(["config", "set", "--path", "tenants.hh-e2e-b", "131072"]);
    });

    after(async function () {
        project?.pulumi(["destroy", "--yes", "--skip-preview"]);
        project?.dispose();
        await sshd?.stop();
    });

    it("previews the exact lines it will write, and nothing secret", function () {
        const r = project!.ok(["preview", "--diff"]);
        assert.match(r.stdout, /bash -s -- apply hh-e2e-a:2147483648:65536 hh-e2e-b:2147549184:131072 --stack host-subids\/e2e/);
        assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY/);
        assert.equal(read("/etc/subuid"), original.subuid, "preview must not touch the host");
    });

    it("writes the block on up and reports it", function () {
        project!.ok(["up", "--yes", "--skip-preview"]);
        assert.match(read("/etc/subuid") ?? "", /# BEGIN hardened-hosts managed block of host-subids\/e2e \(do not edit\)\nhh-e2e-a:2147483648:65536\nhh-e2e-b:2147549184:131072\n# END hardened-hosts managed block of host-subids\/e2e/);
        assert.match(read("/etc/subgid") ?? "", /hh-e2e-b:2147549184:131072/);
        const out = JSON.parse(project!.ok(["stack", "output", "--json"]).stdout);
        assert.equal(out.report.ok, true);
        assert.deepEqual(out.lines, ["hh-e2e-a:2147483648:65536", "hh-e2e-b:2147549184:131072"]);
    });

    it("keeps the private key out of the state's plaintext", function () {
        const state = project!.ok(["stack", "export"]).stdout;
        assert.doesNotMatch(state, /PRIVATE KEY/);
    });

    it("shows no changes on the next preview", function () {
        project!.ok(["preview", "--expect-no-changes"]);
    });

    it("resizing one tenant moves only that tenant, on the host too", function () {
        project!.ok(["config", "set", "--path", "tenants.hh-e2e-a", "131072"]);
        project!.ok(["up", "--yes", "--skip-preview"]);
        const out = JSON.parse(project!.ok(["stack", "output", "--json"]).stdout);
        assert.equal(out.lines.find((l: string) => l.startsWith("hh-e2e-b:")), "hh-e2e-b:2147549184:131072");
        assert.match(read("/etc/subuid") ?? "", /^hh-e2e-a:\d+:131072$/m);
    });

    it("a host with 5000 overlapping foreign lines fails the next up clearly, in short lines, writing nothing", function () {
        // The real provider's log reader hangs on a logged line of 64 KiB; the stand-in fails on
        // one. The script names 20 conflicts and counts the rest, so neither is ever near.
        const foreign = Array.from({ length: 5000 }, (_, i) => `hhbig${i}:${2147483648 + i * 1000}:1000`);
        const before = { subuid: read("/etc/subuid"), subgid: read("/etc/subgid") };
        try {
            for (const f of ["/etc/subuid", "/etc/subgid"]) fs.appendFileSync(f, `${foreign.join("\n")}\n`);
            const withForeign = read("/etc/subuid");
            project!.ok(["config", "set", "--path", "tenants.hh-e2e-c", "65536"]);
            const r = project!.pulumi(["up", "--yes", "--skip-preview"]);
            assert.notEqual(r.status, 0, "the up must fail");
            const longest = Math.max(...`${r.stdout}\n${r.stderr}`.split("\n").map((l) => Buffer.byteLength(l)));
            console.log(`      failed up: ${Buffer.byteLength(r.stdout + r.stderr)} bytes of output, longest line ${longest}`);
            assert.ok(longest < 16 * 1024, `longest line ${longest} bytes`);
            assert.match(r.stdout + r.stderr, /overlaps line \d+ \(hhbig\d+:/);
            // Its count and the first, in the error itself (host work logs no progress lines).
            assert.match(r.stdout + r.stderr, /\d{3,} conflicts with the host, nothing changed; the first: .*\(the report lists \d+; \d+ more not listed\)/);
            assert.equal(read("/etc/subuid"), withForeign, "nothing written on a conflict");
        } finally {
            for (const f of ["/etc/subuid", "/etc/subgid"] as const) {
                const text = read(f) ?? "";
                fs.writeFileSync(f, text.split("\n").filter((l) => !/^hhbig\d+:/.test(l)).join("\n"));
            }
            project!.ok(["config", "rm", "--path", "tenants.hh-e2e-c"]);
        }
        assert.equal(read("/etc/subuid"), before.subuid);
        assert.equal(read("/etc/subgid"), before.subgid);
    });

    it("destroy puts /etc/subuid and /etc/subgid back to their starting bytes", function () {
        project!.ok(["destroy", "--yes", "--skip-preview"]);
        assert.equal(read("/etc/subuid"), original.subuid);
        assert.equal(read("/etc/subgid"), original.subgid);
    });
});
