import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../support/pulumi-cli";

// Once on this machine's real /etc, as the issue asks: users made by useradd, our block written
// next to what useradd wrote, read back by shadow's own tools (getsubids, newuidmap), then removed.
// Needs root plus the uidmap and passwd packages (scripts/bootstrap.sh installs them).
const script = path.join(repoRoot, "components", "subids", "subids-host.sh");
const host = (args: string[]) => spawnSync("bash", [script, ...args], { encoding: "utf8" });
const readOrNull = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8") : null);

describe("subids-host.sh on this machine's real /etc/subuid", function () {
    this.timeout(60_000);
    const id = crypto.randomBytes(3).toString("hex");
    const withRange = `hh-a-${id}`; // useradd gives this one its own subuid range
    const planned = `hh-b-${id}`; // created without one: we plan its range
    let original: { subuid: string | null; subgid: string | null };
    let start = 0;
    // useradd hands out ranges only when the files exist; if they don't, we create them empty
    // (and delete them again at the end: then they are ours).
    const existedAtStart = { subuid: fs.existsSync("/etc/subuid"), subgid: fs.existsSync("/etc/subgid") };

    before(function () {
        if (process.getuid?.() !== 0 || !fs.existsSync("/usr/bin/newuidmap")) {
            throw new Error("needs root and the uidmap package: run scripts/bootstrap.sh as root");
        }
        // A host has one managed block. If this machine already has one (a real deployment, or
        // another test still running), this test must not touch it.
        const existing = `${readOrNull("/etc/subuid") ?? ""}${readOrNull("/etc/subgid") ?? ""}`;
        if (existing.includes("hardened-hosts managed block") || fs.existsSync("/var/lib/hardened-hosts/subids")) {
            // On a developer's machine another suite may be running; in CI nothing else runs,
            // so a block there is a leak from an earlier suite and must fail loudly.
            if (process.env.CI) throw new Error("this machine already has a hardened-hosts block in /etc/subuid");
            this.skip();
        }
        for (const name of ["subuid", "subgid"] as const) {
            if (!existedAtStart[name]) fs.writeFileSync(`/etc/${name}`, "", { mode: 0o644 });
        }
        execFileSync("useradd", ["-M", "-s", "/usr/sbin/nologin", withRange]);
        execFileSync("useradd", ["-M", "-s", "/bin/sh", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", planned]);
        original = { subuid: readOrNull("/etc/subuid"), subgid: readOrNull("/etc/subgid") };
        // Far above what useradd hands out, and away from ranges other tests may hold.
        start = 2 ** 31 + (parseInt(id, 16) % 1000) * 65536 * 4;
    });

    after(function () {
        // Ours first (exactly our block), then the users we made; nothing else is touched.
        host(["remove"]);
        for (const u of [withRange, planned]) spawnSync("userdel", [u]);
        for (const name of ["subuid", "subgid"] as const) {
            const f = `/etc/${name}`;
            if (!existedAtStart[name] && fs.existsSync(f) && fs.statSync(f).size === 0) fs.rmSync(f);
        }
    });

    it("useradd gave the first user a range of its own (so an allocator must read the file)", function () {
        assert.match(original.subuid ?? "", new RegExp(`^${withRange}:\\d+:65536$`, "m"));
    });

    it("refuses a plan that gives that user a second range, touching nothing", function () {
        const r = host(["apply", `${withRange}:${start}:65536`]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.stdout, new RegExp(`${withRange} already has another range`));
        assert.equal(readOrNull("/etc/subuid"), original.subuid);
    });

    it("writes our block; getsubids and newuidmap honour it", function () {
        const r = host(["apply", `${planned}:${start}:65536`]);
        assert.equal(r.status, 0, r.stderr);
        const subids = execFileSync("getsubids", [planned], { encoding: "utf8" });
        assert.match(subids, new RegExp(`${planned} ${start} 65536`));
        // As the user: a new user namespace, mapped by the setuid newuidmap from /etc/subuid.
        const map = execFileSync(
            "runuser",
            ["-u", planned, "--", "sh", "-c",
                'unshare -U sleep 5 & pid=$!; sleep 0.3; newuidmap "$pid" 0 "$1" 65536 && cat "/proc/$pid/uid_map"; kill "$pid"',
                "sh", String(start)],
            { encoding: "utf8" },
        );
        assert.deepEqual(map.trim().split(/\s+/), ["0", String(start), "65536"]);
    });

    it("survives a later useradd re-sorting the file around our block", function () {
        const third = `hh-c-${id}`;
        try {
            execFileSync("useradd", ["-M", "-s", "/usr/sbin/nologin", third]);
            const again = host(["apply", `${planned}:${start}:65536`]);
            assert.equal(again.status, 0, again.stderr);
            assert.match(execFileSync("getsubids", [planned], { encoding: "utf8" }), new RegExp(`${planned} ${start} 65536`));
            assert.match(readOrNull("/etc/subuid") ?? "", new RegExp(`^${third}:\\d+:65536$`, "m"));
        } finally {
            spawnSync("userdel", [third]);
        }
    });

    it("remove puts both files back to the bytes they had before apply", function () {
        assert.equal(host(["remove"]).status, 0);
        assert.equal(readOrNull("/etc/subuid"), original.subuid);
        assert.equal(readOrNull("/etc/subgid"), original.subgid);
    });
});
