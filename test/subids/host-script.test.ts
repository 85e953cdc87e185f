import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { withManagedEntries, withoutManagedBlock } from "../../components/subids";
import { repoRoot } from "../support/pulumi-cli";

// components/subids/subids-host.sh is what runs on hosts; format.ts is what the plan and the
// tests reason with. These tests run the real script (bash + the machine's awk) and hold it to
// the same bytes as the TypeScript, on examples and on random files.
const script = path.join(repoRoot, "components", "subids", "subids-host.sh");

interface HostRun {
    status: number;
    json: { ok: boolean; conflicts?: string[]; present?: string[]; changed?: string[]; error?: string };
    stderr: string;
}

function run(etc: string, args: string[]): HostRun {
    const r = spawnSync("bash", [script, ...args], { env: { ...process.env, HH_ETC: etc }, encoding: "utf8" });
    const last = r.stdout.trim().split("\n").pop() ?? "";
    return { status: r.status ?? -1, json: JSON.parse(last), stderr: r.stderr };
}

function entryArgs(entries: { owner: string; start: number; count: number }[]): string[] {
    return entries.map((e) => `${e.owner}:${e.start}:${e.count}`);
}

describe("subids-host.sh (real bash and awk, temp /etc)", function () {
    let etc: string;
    const file = (name: string) => path.join(etc, name);
    const read = (name: string) => fs.readFileSync(file(name), "utf8");

    beforeEach(function () {
        etc = fs.mkdtempSync(path.join(os.tmpdir(), "hh-etc-"));
        fs.writeFileSync(file("passwd"), "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n");
        fs.writeFileSync(file("group"), "root:x:0:\nalice:x:1000:\n");
    });
    afterEach(function () {
        fs.rmSync(etc, { recursive: true, force: true });
    });

    const plan = [
        { owner: "tenant-a", start: 2147483648, count: 65536 },
        { owner: "dockremap", start: 2147549184, count: 131072 },
    ];

    it("writes the same bytes as format.ts, and remove gives the original back", function () {
        const original = "# local ranges\nalice:100000:65536\n\n1001:165536:65536"; // no final newline
        fs.writeFileSync(file("subuid"), original);
        const r = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(read("subuid"), withManagedEntries(original, plan));
        assert.equal(read("subgid"), withManagedEntries("", plan));
        assert.deepEqual(r.json.changed, [file("subuid"), file("subgid")]);

        assert.equal(run(etc, ["remove"]).status, 0);
        assert.equal(read("subuid"), original);
        assert.equal(fs.existsSync(file("subgid")), false, "subgid did not exist before: remove deletes it");
        assert.equal(fs.existsSync(file("subuid.hardened-hosts.bak")), false);
    });

    it("changes nothing on a second apply", function () {
        run(etc, ["apply", ...entryArgs(plan)]);
        const before = read("subuid");
        const r = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(r.status, 0);
        assert.deepEqual(r.json.changed, []);
        assert.equal(read("subuid"), before);
    });

    it("keeps the file's mode and leaves a backup of the previous version", function () {
        fs.writeFileSync(file("subuid"), "alice:100000:65536\n", { mode: 0o600 });
        fs.chmodSync(file("subuid"), 0o600);
        run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(fs.statSync(file("subuid")).mode & 0o777, 0o600);
        assert.equal(fs.readFileSync(file("subuid.hardened-hosts.bak"), "utf8"), "alice:100000:65536\n");
    });

    it("a symlinked /etc/subuid stays a link: its target is written, and remove gives the target's bytes back", function () {
        const managed = path.join(etc, "cm");
        fs.mkdirSync(managed);
        const original = "alice:100000:65536\n";
        fs.writeFileSync(path.join(managed, "subuid"), original);
        fs.symlinkSync("cm/subuid", file("subuid"));
        assert.equal(run(etc, ["apply", ...entryArgs(plan)]).status, 0);
        assert.ok(fs.lstatSync(file("subuid")).isSymbolicLink(), "still a link");
        assert.equal(fs.readlinkSync(file("subuid")), "cm/subuid");
        assert.equal(fs.readFileSync(path.join(managed, "subuid"), "utf8"), withManagedEntries(original, plan));
        assert.deepEqual(fs.readdirSync(managed), ["subuid"], "no temp file or backup left in the link's directory");
        assert.equal(run(etc, ["remove"]).status, 0);
        assert.ok(fs.lstatSync(file("subuid")).isSymbolicLink());
        assert.equal(fs.readFileSync(path.join(managed, "subuid"), "utf8"), original);
    });

    it("a foreign line in hex or octal notation (as shadow reads it) is a conflict", function () {
        fs.writeFileSync(file("subuid"), "other:0x80000000:65536\n");
        fs.writeFileSync(file("subgid"), "other:020000000000:65536\n");
        const r = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.conflicts!.join("\n"), /subuid: planned tenant-a 2147483648-2147549183 overlaps line 1 \(other:0x80000000:65536\)/);
        assert.match(r.json.conflicts!.join("\n"), /subgid: planned tenant-a .* overlaps line 1 \(other:020000000000:65536\)/);
        assert.equal(read("subuid"), "other:0x80000000:65536\n", "nothing written");
    });

    it("stops on a conflict with a foreign entry, naming both, and writes nothing", function () {
        const original = "alice:2147500000:65536\n";
        fs.writeFileSync(file("subuid"), original);
        const r = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(r.status, 3);
        assert.equal(r.json.ok, false);
        assert.deepEqual(r.json.conflicts, [
            "subuid: planned tenant-a 2147483648-2147549183 overlaps line 1 (alice:2147500000:65536)",
            "subuid: planned dockremap 2147549184-2147680255 overlaps line 1 (alice:2147500000:65536)",
        ]);
        assert.equal(read("subuid"), original);
        assert.equal(fs.existsSync(file("subgid")), false);
    });

    it("stops when a range contains a real account's UID or a group's GID", function () {
        fs.appendFileSync(file("passwd"), "svc:x:2147483700:100::/:/usr/sbin/nologin\n");
        fs.appendFileSync(file("group"), "big:x:2147549200:\n");
        const r = run(etc, ["check", ...entryArgs(plan)]);
        assert.equal(r.status, 3);
        assert.deepEqual(r.json.conflicts, [
            "subuid: planned tenant-a 2147483648-2147549183 contains user svc (2147483700)",
            "subgid: planned dockremap 2147549184-2147680255 contains group big (2147549200)",
        ]);
    });

    it("stops when an owner already has another range outside our block", function () {
        fs.writeFileSync(file("subuid"), "tenant-a:100000:65536\n");
        const r = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(r.status, 3);
        assert.match(r.json.conflicts?.[0] ?? "", /tenant-a already has another range on line 1/);
    });

    it("reports an identical foreign entry as present and does not write it twice", function () {
        fs.writeFileSync(file("subuid"), "dockremap:2147549184:131072\n");
        const r = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.json.present, ["subuid:dockremap:2147549184:131072"]);
        assert.equal(read("subuid").match(/dockremap/g)?.length, 1);
    });

    it("recognises its lines from the owned list after useradd moved the markers", function () {
        fs.writeFileSync(file("subuid"), "alice:100000:65536\n");
        run(etc, ["apply", ...entryArgs(plan)]);
        // What useradd does when it allocates: entries sorted by start, comment lines at the end.
        const reordered = [
            "alice:100000:65536",
            "bob:165536:65536",
            "tenant-a:2147483648:65536",
            "dockremap:2147549184:131072",
            "# END hardened-hosts managed block",
            "# BEGIN hardened-hosts managed block (do not edit)",
        ].join("\n") + "\n";
        fs.writeFileSync(file("subuid"), reordered);
        const again = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(again.status, 0, again.stderr);
        assert.match(again.stderr, /markers were moved .* recognised 4 of our lines/);
        assert.equal(read("subuid"), withManagedEntries("alice:100000:65536\nbob:165536:65536\n", plan));
        fs.writeFileSync(file("subuid"), reordered);
        assert.equal(run(etc, ["remove"]).status, 0);
        assert.equal(read("subuid"), "alice:100000:65536\nbob:165536:65536\n");
    });

    it("refuses damaged markers and leaves the file alone", function () {
        const damaged = "# BEGIN hardened-hosts managed block (do not edit)\nx:2147483648:65536\n";
        fs.writeFileSync(file("subuid"), damaged);
        const r = run(etc, ["apply", ...entryArgs(plan)]);
        assert.equal(r.status, 4);
        assert.match(r.json.error ?? "", /damaged hardened-hosts markers .* no owned list/);
        assert.equal(read("subuid"), damaged);
    });

    for (const bad of ["a;rm -rf /:1:65536", "Tenant:1:65536", "x:01:65536", "x:1:0", "x:4294901760:65536", "x:1"]) {
        it(`rejects the argument ${JSON.stringify(bad)} before reading anything`, function () {
            const r = run(etc, ["apply", bad]);
            assert.equal(r.status, 2);
            assert.match(r.json.error ?? "", /entry '|usage/);
            assert.equal(fs.existsSync(file("subuid")), false);
        });
    }

    it("a line owned by the planned user's UID is that user's line (as getsubids, newuidmap and dockerd read it)", function () {
        fs.appendFileSync(file("passwd"), "dockremap:x:1500:1500::/:/usr/sbin/nologin\n");
        fs.appendFileSync(file("group"), "dockremap:x:1600:\n");
        // Another range under the UID: refused, naming it.
        fs.writeFileSync(file("subuid"), "1500:300000:65536\n");
        let r = run(etc, ["apply", "dockremap:2147549184:65536"]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.conflicts!.join("\n"), /subuid: dockremap \(UID 1500\) already has another range on line 1/);
        // In subgid, the GID of the group of that name counts too (getsubids -g).
        fs.writeFileSync(file("subuid"), "");
        fs.writeFileSync(file("subgid"), "1600:300000:65536\n");
        r = run(etc, ["apply", "dockremap:2147549184:65536"]);
        assert.equal(r.status, 3, r.stderr);
        assert.match(r.json.conflicts!.join("\n"), /subgid: dockremap \(UID or GID 1600\) already has another range/);
        // The very range under the UID: present, not written twice.
        fs.writeFileSync(file("subgid"), "");
        fs.writeFileSync(file("subuid"), "1500:2147549184:65536\n");
        r = run(etc, ["apply", "dockremap:2147549184:65536"]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.json.present, ["subuid:dockremap:2147549184:65536"]);
        assert.equal(read("subuid"), "1500:2147549184:65536\n");
    });

    it("reads account IDs as glibc does: blanks and '+' before the number count, comments and NIS lines do not", function () {
        const start = 2147483648;
        const cases: [string, boolean][] = [
            [`svc:x: ${start + 5}:1::/:/bin/sh`, true],
            [`svc:x:+${start + 5}:1::/:/bin/sh`, true],
            [`  svc:x:${start + 5}:1::/:/bin/sh`, true],
            [`svc:x:0${start + 5}:1::/:/bin/sh`, true], // base 10: a leading 0 is no octal
            [`#svc:x:${start + 5}:1::/:/bin/sh`, false],
            [`+svc:x:${start + 5}:1::/:/bin/sh`, false],
            [`svc:x:${start + 5}`, false], // no GID field: glibc skips the line
            [`svc:x:${start + 5} :1::/:/bin/sh`, false],
        ];
        for (const [line, counts] of cases) {
            fs.writeFileSync(file("passwd"), `root:x:0:0::/root:/bin/sh\n${line}\n`);
            fs.writeFileSync(file("subuid"), "");
            const r = run(etc, ["check", `planned:${start}:65536`]);
            assert.equal(r.status, counts ? 3 : 0, `${JSON.stringify(line)}: ${JSON.stringify(r.json)}`);
            if (counts) assert.match(r.json.conflicts!.join("\n"), /contains user svc \(2147483653\)/);
        }
    });

    it("a host with thousands of overlapping lines and a 1 MB line gets a short report (no line near 64 KiB)", function () {
        // The Command provider's log reader stops at a 64 KiB line (and the command never
        // returns); the report and the error message must stay small whatever the files hold.
        const lines = Array.from({ length: 5000 }, (_, i) => `foreign${i}:${2147483648 + i}:1`);
        fs.writeFileSync(file("subuid"), `${lines.join("\n")}\n${"x".repeat(1 << 20)}\n`);
        const r = spawnSync("bash", [script, "check", "planned:2147483648:65536"], { env: { ...process.env, HH_ETC: etc }, encoding: "utf8" });
        assert.equal(r.status, 3, r.stderr.slice(0, 2000));
        const longest = Math.max(...`${r.stdout}\n${r.stderr}`.split("\n").map((l) => Buffer.byteLength(l)));
        assert.ok(longest < 16 * 1024, `longest line ${longest} bytes`);
        const json = JSON.parse(r.stdout.trim());
        assert.equal(json.conflicts.length, 21);
        assert.equal(json.conflicts[20], "(and 4980 more conflicts)");
        assert.ok(Buffer.byteLength(r.stdout) + Buffer.byteLength(r.stderr) < 16 * 1024, `${r.stdout.length} + ${r.stderr.length} bytes`);
    });

    it("bytes that are not UTF-8 in a linked path or a foreign line never reach the output", function () {
        const utf8 = new TextDecoder("utf-8", { fatal: true });
        const dir = Buffer.concat([Buffer.from(`${etc}/cm-`), Buffer.from([0xff]), Buffer.from("-x")]);
        fs.mkdirSync(dir);
        const target = Buffer.concat([dir, Buffer.from("/subuid")]);
        // A foreign owner in Latin-1 ("josé"), overlapping the plan.
        fs.writeFileSync(target, Buffer.concat([Buffer.from("jos"), Buffer.from([0xe9]), Buffer.from(":2147483648:65536\n")]));
        fs.symlinkSync(target, file("subuid"));
        const raw = (args: string[]) => {
            const r = spawnSync("bash", [script, ...args], { env: { ...process.env, HH_ETC: etc } });
            return { status: r.status, out: utf8.decode(r.stdout), err: utf8.decode(r.stderr) }; // throws on non-UTF-8
        };
        const c = raw(["apply", "planned:2147483648:65536"]);
        assert.equal(c.status, 3, c.err);
        assert.match(JSON.parse(c.out).conflicts[0], /overlaps line 1 \(jos:2147483648:65536\)/);
        const a = raw(["apply", "planned:2147549184:65536"]);
        assert.equal(a.status, 0, a.err);
        assert.ok(fs.lstatSync(file("subuid")).isSymbolicLink());
        assert.equal(raw(["remove"]).status, 0);
        assert.deepEqual(fs.readFileSync(target), Buffer.concat([Buffer.from("jos"), Buffer.from([0xe9]), Buffer.from(":2147483648:65536\n")]));
    });

    it("agrees with format.ts byte for byte on random files (property)", function () {
        this.timeout(60_000);
        const foreignLine = fc.oneof(
            fc.tuple(fc.constantFrom("alice", "bob", "1000", "svc_x"), fc.nat(2 ** 30), fc.integer({ min: 1, max: 2 ** 20 }))
                .map(([o, s, c]) => `${o}:${s}:${c}`),
            fc.constantFrom("# comment", "", "   ", "garbage line", "+nis", "x:y:z", "alice:1:2:extra"),
        );
        fc.assert(
            fc.property(
                fc.array(foreignLine, { maxLength: 6 }),
                fc.boolean(),
                fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 4 }),
                (lines, finalNewline, slots) => {
                    const original = lines.join("\n") + (finalNewline && lines.length > 0 ? "\n" : "");
                    const entries = slots.map((s, i) => ({ owner: `t${i}`, start: 2 ** 31 + s * 65536, count: 65536 }));
                    fs.writeFileSync(file("subuid"), original);
                    fs.rmSync(file("subgid"), { force: true });
                    const a = run(etc, ["apply", ...entryArgs(entries)]);
                    assert.equal(a.status, 0, a.stderr);
                    assert.equal(read("subuid"), withManagedEntries(original, entries));
                    const r = run(etc, ["remove"]);
                    assert.equal(r.status, 0, r.stderr);
                    assert.equal(read("subuid"), original);
                    assert.equal(withoutManagedBlock(withManagedEntries(original, entries)), original);
                },
            ),
            { numRuns: 25 },
        );
    });
});
