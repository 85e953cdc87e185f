import * as assert from "node:assert/strict";
import {
    Allocation,
    MANAGED_BEGIN,
    MANAGED_END,
    SubidError,
    allocate,
    allocationEntries,
    avoidRangesFromHost,
    checkHostAgainstPlan,
    parseGroup,
    parsePasswd,
    withManagedEntries,
} from "../../components/subids";

const B = 2147483648;
const K = 65536;

const passwd = [
    "root:x:0:0:root:/root:/bin/bash",
    "# a comment",
    "",
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
    "+nisuser::::::",
    "broken line",
    "bad:x:12a:1::/:/bin/sh",
    `weird:x:${B + 70000}:${B + 5}:odd high uid:/home/weird:/bin/sh`,
    "alice:x:1000:1000:Alice:/home/alice:/bin/bash\r",
    "",
].join("\n");

describe("subids/conflicts: passwd and group parsing", function () {
    it("parses /etc/passwd, skipping comments, blanks, NIS and malformed lines", function () {
        assert.deepEqual(parsePasswd(passwd), [
            { name: "root", uid: 0, gid: 0, lineNo: 1 },
            { name: "daemon", uid: 1, gid: 1, lineNo: 4 },
            { name: "weird", uid: B + 70000, gid: B + 5, lineNo: 8 },
            { name: "alice", uid: 1000, gid: 1000, lineNo: 9 },
        ]);
        assert.deepEqual(parsePasswd(""), []);
    });

    it("parses /etc/group", function () {
        assert.deepEqual(parseGroup("root:x:0:\ndocker:x:999:alice,bob\nnogid:x::\n"), [
            { name: "root", gid: 0, lineNo: 1 },
            { name: "docker", gid: 999, lineNo: 2 },
        ]);
    });
});

describe("subids/conflicts: host checks", function () {
    const plan: Allocation = {
        "tenant-a": { start: B, count: K },
        "tenant-b": { start: B + K, count: K },
        dockremap: { start: B + 2 * K, count: K },
    };

    it("finds nothing on a clean host", function () {
        const r = checkHostAgainstPlan({ subuid: "", subgid: "", passwd: "root:x:0:0::/:/bin/sh\n" }, plan);
        assert.deepEqual(r, { conflicts: [], alreadyPresent: [] });
    });

    it("reports foreign entries, account uids/gids and identical grants", function () {
        const subuid = [
            "alice:100000:65536",
            `bob:${B + K + 100}:10`, // inside tenant-b
            `dockremap:${B + 2 * K}:${K}`, // identical: already present
            `#carol:${B}:1`, // a comment shadow still reads as owner "#carol"
        ].join("\n");
        const subgid = `dockremap:${B + 2 * K}:${2 * K}\n`; // same owner, different range: a conflict
        const r = checkHostAgainstPlan({ subuid, subgid, passwd, group: `big:x:${B + 3}:\n` }, plan);
        assert.deepEqual(
            r.conflicts.map((c) => c.message),
            [
                'owner "dockremap": planned range 2147614720-2147680255 overlaps existing subgid entry "dockremap" 2147614720-2147745791 (line 1)',
                'owner "tenant-a": planned range 2147483648-2147549183 contains gid 2147483651 of group "big" (/etc/group line 1)',
                'owner "tenant-a": planned range 2147483648-2147549183 contains gid 2147483653, primary group of account "weird" (/etc/passwd line 8)',
                'owner "tenant-a": planned range 2147483648-2147549183 overlaps existing subuid line 4 "#carol:2147483648:1", which shadow reads as owner "#carol" 2147483648-2147483648',
                'owner "tenant-b": planned range 2147549184-2147614719 contains uid 2147553648 of account "weird" (/etc/passwd line 8)',
                'owner "tenant-b": planned range 2147549184-2147614719 overlaps existing subuid entry "bob" 2147549284-2147549293 (line 2)',
            ],
        );
        const bob = r.conflicts.find((c) => c.existingOwner === "bob");
        assert.deepEqual(bob && { ...bob, message: "" }, {
            owner: "tenant-b",
            planned: { start: B + K, count: K },
            source: "/etc/subuid",
            existing: { start: B + K + 100, count: 10 },
            existingOwner: "bob",
            lineNo: 2,
            message: "",
        });
        assert.deepEqual(r.alreadyPresent, [
            {
                owner: "dockremap",
                range: { start: B + 2 * K, count: K },
                source: "/etc/subuid",
                lineNo: 3,
                message:
                    'owner "dockremap": range 2147614720-2147680255 is already present in /etc/subuid outside the managed block (line 3)',
            },
        ]);
    });

    it("ignores our own managed block, wherever it is", function () {
        const subuid = withManagedEntries("alice:100000:65536\n", allocationEntries(plan)) + "# after\n";
        assert.ok(subuid.includes(MANAGED_BEGIN) && subuid.includes(MANAGED_END));
        const r = checkHostAgainstPlan({ subuid, subgid: subuid, passwd: "" }, plan);
        assert.deepEqual(r, { conflicts: [], alreadyPresent: [] });
    });

    it("reports one foreign range that spans several planned ranges once per owner", function () {
        const r = checkHostAgainstPlan({ subuid: `big:${B}:${3 * K}\n`, subgid: "", passwd: "" }, plan);
        assert.deepEqual(
            r.conflicts.map((c) => c.owner),
            ["dockremap", "tenant-a", "tenant-b"],
        );
    });

    it("surfaces damaged markers instead of guessing", function () {
        assert.throws(
            () => checkHostAgainstPlan({ subuid: `${MANAGED_END}\n${MANAGED_BEGIN}\n`, subgid: "", passwd: "" }, plan),
            (e: unknown) => e instanceof SubidError && e.field === "managedBlock",
        );
    });

    it("feeds the allocator: new owners avoid host ranges, identical own grants are fine", function () {
        const host = {
            subuid: `dockremap:${B}:${K}\nalice:${B + K}:${K}\n`,
            subgid: `dockremap:${B}:${K}\n`,
            passwd: `weird:x:${B + 2 * K + 1}:0::/:/bin/sh\n`,
        };
        const avoid = avoidRangesFromHost(host);
        assert.deepEqual(
            avoid.map((a) => a.reason),
            [
                'existing subuid entry "dockremap" 2147483648-2147549183 (line 1)',
                'existing subuid entry "alice" 2147549184-2147614719 (line 2)',
                'existing subgid entry "dockremap" 2147483648-2147549183 (line 1)',
                'gid 0, primary group of account "weird" (/etc/passwd line 1)', // ids sorted
                'uid 2147614721 of account "weird" (/etc/passwd line 1)',
            ],
        );
        const previous = { dockremap: { start: B, count: K } };
        const { allocation } = allocate({ requests: [{ owner: "dockremap" }, { owner: "tenant-a" }], previous, avoid });
        assert.deepEqual(allocation, { dockremap: { start: B, count: K }, "tenant-a": { start: B + 3 * K, count: K } });
        const check = checkHostAgainstPlan(host, allocation);
        assert.deepEqual(check.conflicts, []);
        assert.deepEqual(
            check.alreadyPresent.map((p) => `${p.owner} ${p.source}`),
            ["dockremap /etc/subgid", "dockremap /etc/subuid"],
        );
        // the example error from the design: a kept owner now overlapping a foreign entry
        assert.throws(
            () => allocate({ requests: [{ owner: "tenant-b" }], previous: { "tenant-b": { start: B + K, count: K } }, avoid }),
            /^SubidError: owner "tenant-b": range 2147549184-2147614719 overlaps existing subuid entry "alice" 2147549184-2147614719 \(line 2\);/,
        );
    });
});
