import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import {
    MANAGED_BEGIN,
    MANAGED_END,
    MANAGED_END_ADDED_NEWLINE,
    SubidEntry,
    SubidError,
    findManagedBlock,
    managedEntries,
    parseSubidFile,
    renderSubidFile,
    shadowEntryOf,
    validateSubidFile,
    withManagedEntries,
    withoutManagedBlock,
} from "../../components/subids";

const ours: SubidEntry[] = [
    { owner: "tenant-b", start: 2147549184, count: 65536 },
    { owner: "tenant-a", start: 2147483648, count: 65536 },
];
const block = [
    MANAGED_BEGIN,
    "tenant-a:2147483648:65536",
    "tenant-b:2147549184:65536",
    MANAGED_END,
].join("\n");

describe("subids/format: parsing", function () {
    it("reads subuid(5)-style lines with their kinds and 1-based line numbers", function () {
        const text = "# subordinate ids\nalice:100000:65536\n\n1000:165536:65536\n";
        const f = parseSubidFile(text);
        assert.equal(f.trailingNewline, true);
        assert.deepEqual(
            f.lines.map((l) => [l.lineNo, l.kind]),
            [
                [1, "comment"],
                [2, "entry"],
                [3, "blank"],
                [4, "entry"],
            ],
        );
        const entries = f.lines.filter((l) => l.kind === "entry");
        assert.deepEqual(
            entries.map((e) => (e.kind === "entry" ? [e.owner, e.start, e.count] : [])),
            [
                ["alice", 100000, 65536],
                ["1000", 165536, 65536],
            ],
        );
        assert.deepEqual(validateSubidFile(f), []);
    });

    it("keeps malformed lines verbatim and reports them with line numbers", function () {
        const text = [
            "alice:100000:65536", // 1 ok
            "bob:x:65536", // 2
            "carol:200000:0", // 3
            "dave:300000", // 4
            "erin:0100000:65536", // 5
            "frank:4294967295:1", // 6: contains (uid_t)-1
            "gina:5000000000:1", // 7
            ":1:2", // 8
            "+nis:1:2", // 9
            "hank:400000:65536\r", // 10
            "ivan:1:2:3", // 11
        ].join("\n");
        const f = parseSubidFile(text);
        assert.equal(renderSubidFile(f), text);
        assert.deepEqual(validateSubidFile(f), [
            'line 2: start must be an integer between 0 and 4294967295 (got "x")',
            "line 3: count must be a positive integer (got 0)",
            "line 4: expected owner:start:count",
            'line 5: start must be an integer between 0 and 4294967295 without leading zeros (shadow reads "0100000" as octal)',
            "line 6: range 4294967295+1 ends at 4294967295, beyond the last valid id 4294967294",
            'line 7: start must be an integer between 0 and 4294967295 (got 5000000000)',
            "line 8: owner must not be empty",
            "line 9: NIS-style +/- line, not an owner:start:count entry",
            "line 10: entry ends with a carriage return (CRLF line ending); shadow ignores such entries",
            "line 11: expected owner:start:count",
        ]);
    });

    it("strict mode throws one SubidError listing every malformed line", function () {
        assert.throws(
            () => parseSubidFile("ok:1:2\nbad\n\nx:1:-1\n", { strict: true }),
            (e: unknown) =>
                e instanceof SubidError &&
                e.field === "file" &&
                e.message ===
                    'line 2: expected owner:start:count\nline 4: count must be a positive integer (got "-1")',
        );
        assert.doesNotThrow(() => parseSubidFile("# fine\nalice:100000:65536\n", { strict: true }));
    });

    it("round-trips byte-for-byte: trailing newline or not, CRLF, blank-only, empty", function () {
        for (const text of [
            "",
            "\n",
            "\n\n",
            "alice:100000:65536",
            "alice:100000:65536\n",
            "alice:100000:65536\r\n# c\r\n",
            "  # indented comment\n\t\nweird line with spaces\n",
        ]) {
            assert.equal(renderSubidFile(parseSubidFile(text)), text, JSON.stringify(text));
        }
    });

    it("round-trips arbitrary text byte-for-byte (property)", function () {
        const piece = fc.constantFrom("a", ":", "1", "0", "#", " ", "\n", "\r", "\t", "x", "é", MANAGED_BEGIN);
        fc.assert(
            fc.property(fc.array(piece, { maxLength: 60 }), (parts) => {
                const text = parts.join("");
                assert.equal(renderSubidFile(parseSubidFile(text)), text);
            }),
            { numRuns: 300 },
        );
    });

    it("reads lines the way shadow does for conflict checks", function () {
        assert.deepEqual(shadowEntryOf("alice:100000:65536"), { owner: "alice", start: 100000, count: 65536 });
        // commented-out entries still parse in shadow: owner "#alice"
        assert.deepEqual(shadowEntryOf("#alice:100000:65536"), { owner: "#alice", start: 100000, count: 65536 });
        assert.deepEqual(shadowEntryOf("x:0x10:010:junk"), { owner: "x", start: 16, count: 8 });
        assert.deepEqual(shadowEntryOf("x:4294967290:100"), { owner: "x", start: 4294967290, count: 5 });
        assert.equal(shadowEntryOf("x:1:2\r"), undefined);
        assert.equal(shadowEntryOf("+x:1:2"), undefined);
        assert.equal(shadowEntryOf("x:1:0"), undefined);
        assert.equal(shadowEntryOf(MANAGED_BEGIN), undefined);
        assert.equal(shadowEntryOf(MANAGED_END_ADDED_NEWLINE), undefined);
    });
});

describe("subids/format: managed block", function () {
    it("appends the block to a file with a trailing newline and removes it again", function () {
        const original = "# host file\nalice:100000:65536\n";
        const written = withManagedEntries(original, ours);
        assert.equal(written, `${original}${block}\n`);
        assert.deepEqual(managedEntries(written), [...ours].reverse());
        assert.equal(withoutManagedBlock(written), original);
    });

    it("adds the missing final newline when appending, marks it, and takes it away on removal", function () {
        const original = "# host file\nalice:100000:65536";
        const written = withManagedEntries(original, ours);
        const expectedBlock = block.replace(MANAGED_END, MANAGED_END_ADDED_NEWLINE);
        assert.equal(written, `${original}\n${expectedBlock}\n`);
        assert.ok(written.endsWith("\n"), "shadow rejects files whose last line has no newline");
        assert.equal(withoutManagedBlock(written), original);
        // updating keeps the marker, so removal still restores the original bytes
        const updated = withManagedEntries(written, [ours[0] as SubidEntry]);
        assert.equal(withoutManagedBlock(updated), original);
    });

    it("creates a new file with a trailing newline and removes it to empty", function () {
        const written = withManagedEntries("", ours);
        assert.equal(written, `${block}\n`);
        assert.equal(withoutManagedBlock(written), "");
    });

    it("replaces the block in place, leaving foreign lines (even malformed ones) untouched", function () {
        const before = "alice:100000:65536\nbad line\n";
        const after = "# trailing comment\nbob:200000:65536";
        const text = `${before}${block}\n${after}`;
        const next: SubidEntry[] = [{ owner: "tenant-c", start: 2147614720, count: 131072 }];
        const updated = withManagedEntries(text, next);
        assert.equal(
            updated,
            `${before}${MANAGED_BEGIN}\ntenant-c:2147614720:131072\n${MANAGED_END}\n${after}`,
        );
        assert.deepEqual(managedEntries(updated), next);
        assert.equal(withoutManagedBlock(updated), `${before}${after}`);
    });

    it("is byte-for-byte identical when nothing changes", function () {
        const text = `alice:100000:65536\n${block}\n# after\n`;
        assert.equal(withManagedEntries(text, ours), text);
        assert.equal(withManagedEntries(parseSubidFile(text), [...ours].reverse()), text);
    });

    it("removes the block entirely when given no entries", function () {
        const original = "alice:100000:65536\n";
        assert.equal(withManagedEntries(withManagedEntries(original, ours), []), original);
        assert.equal(withManagedEntries(original, []), original);
    });

    it("writes entries sorted by start, then owner", function () {
        const shuffled: SubidEntry[] = [
            { owner: "zed", start: 3000000000, count: 65536 },
            { owner: "amy", start: 3000131072, count: 65536 },
            { owner: "bob", start: 2147483648, count: 65536 },
        ];
        assert.deepEqual(
            managedEntries(withManagedEntries("", shuffled)).map((e) => e.owner),
            ["bob", "zed", "amy"],
        );
    });

    it("refuses invalid or overlapping entries", function () {
        assert.throws(
            () => withManagedEntries("", [{ owner: "a:b", start: 2147483648, count: 65536 }]),
            (e: unknown) => e instanceof SubidError && e.field === "entries[0].owner" && /"a:b"/.test(e.message),
        );
        assert.throws(
            () =>
                withManagedEntries("", [
                    { owner: "a", start: 2147483648, count: 131072 },
                    { owner: "b", start: 2147549184, count: 65536 },
                ]),
            /owner "b": range 2147549184-2147614719 overlaps owner "a" 2147483648-2147614719/,
        );
        assert.throws(
            () => withManagedEntries("", [{ owner: "a", start: 4294901760, count: 65536 }]),
            /beyond the last valid id 4294967294/,
        );
    });

    it("refuses to guess when markers are inconsistent", function () {
        const cases: [string, RegExp][] = [
            [`${MANAGED_BEGIN}\nx:1:2\n`, /line 1: BEGIN marker without END marker/],
            [`x:1:2\n${MANAGED_END}\n`, /line 2: END marker without BEGIN marker/],
            [`${MANAGED_END}\n${MANAGED_BEGIN}\n`, /line 1: END marker comes before the BEGIN marker on line 2/],
            [`${block}\n${block}\n`, /more than one managed block marker/],
        ];
        for (const [text, message] of cases) {
            for (const op of [() => managedEntries(text), () => withManagedEntries(text, ours), () => withoutManagedBlock(text)]) {
                assert.throws(op, (e: unknown) => e instanceof SubidError && e.field === "managedBlock" && message.test(e.message));
            }
        }
    });

    it("tolerates trailing whitespace or CR on marker lines and keeps them as they are", function () {
        const text = `a:1:2\r\n${MANAGED_BEGIN}  \r\nold:2147483648:65536\n${MANAGED_END}\r\n`;
        assert.deepEqual(findManagedBlock(parseSubidFile(text)), { beginIndex: 1, endIndex: 3, addedFinalNewline: false });
        const updated = withManagedEntries(text, ours);
        assert.equal(updated, `a:1:2\r\n${MANAGED_BEGIN}  \r\n${ours[1]?.owner}:2147483648:65536\n${ours[0]?.owner}:2147549184:65536\n${MANAGED_END}\r\n`);
        assert.equal(withoutManagedBlock(updated), "a:1:2\r\n");
    });

    it("apply-then-remove restores any block-free file byte-for-byte (property)", function () {
        const lineArb = fc.oneof(
            fc.constantFrom("", "# comment", "  ", "alice:100000:65536", "1000:165536:65536", "bad line", "x:1:2\r"),
            fc.stringMatching(/^[a-z#: 0-9]{0,12}$/),
        );
        const entryArb = fc.record({
            owner: fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/),
            start: fc.integer({ min: 0, max: 1000 }).map((i) => 2147483648 + i * 65536),
            count: fc.constant(65536),
        });
        fc.assert(
            fc.property(
                fc.array(lineArb, { maxLength: 8 }),
                fc.boolean(),
                fc.uniqueArray(entryArb, { maxLength: 5, selector: (e) => e.start }),
                fc.uniqueArray(entryArb, { maxLength: 5, selector: (e) => e.start }),
                (lines, trailing, first, second) => {
                    const original = lines.length === 0 ? "" : lines.join("\n") + (trailing ? "\n" : "");
                    const once = withManagedEntries(original, first);
                    const twice = withManagedEntries(once, second);
                    assert.deepEqual(managedEntries(twice).map((e) => e.start), second.map((e) => e.start).sort((a, b) => a - b));
                    if (once !== original) assert.ok(once.endsWith("\n"));
                    assert.equal(withoutManagedBlock(once), original);
                    assert.equal(withoutManagedBlock(twice), original);
                    // idempotent: applying the same entries again changes nothing
                    assert.equal(withManagedEntries(twice, second), twice);
                },
            ),
            { numRuns: 300 },
        );
    });
});

// Stacks sharing a host keep a block each (issue 28). format.ts reads and writes them as
// subids-host.sh does: checked here against the script itself, on files under HH_ETC.
describe("subids/format: stack-named blocks, byte for byte as subids-host.sh writes them", function () {
    this.timeout(60_000);
    const a: SubidEntry[] = [{ owner: "tenant-a", start: 2147483648, count: 65536 }];
    const b: SubidEntry[] = [{ owner: "tenant-b", start: 2147549184, count: 65536 }];
    const line = (e: SubidEntry[]) => e.map((x) => `${x.owner}:${x.start}:${x.count}`);
    let etc = "";
    const script = path.join(__dirname, "../../components/subids/subids-host.sh");
    const run = (...args: string[]) => {
        const r = spawnSync("bash", [script, ...args], { encoding: "utf8", env: { ...process.env, HH_ETC: etc } });
        assert.equal(r.status, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
        return fs.readFileSync(path.join(etc, "subuid"), "utf8");
    };
    const start = (text: string) => {
        etc = fs.mkdtempSync(path.join(os.tmpdir(), "hh-format-"));
        for (const f of ["subuid", "subgid"]) fs.writeFileSync(path.join(etc, f), text);
        fs.writeFileSync(path.join(etc, "passwd"), "root:x:0:0:root:/root:/bin/bash\n");
        fs.writeFileSync(path.join(etc, "group"), "root:x:0:\n");
    };
    afterEach(function () {
        if (etc) fs.rmSync(etc, { recursive: true, force: true });
    });

    it("two stacks' blocks side by side: each reads and removes only its own", function () {
        const original = "# host file\nalice:100000:65536";
        start(original);
        const withA = run("apply", ...line(a), "--stack", "proj/a");
        assert.equal(withA, withManagedEntries(original, a, "proj/a"));
        const withB = run("apply", ...line(b), "--stack", "proj/b");
        assert.equal(withB, withManagedEntries(withA, b, "proj/b"));
        assert.deepEqual(managedEntries(withB, "proj/a"), a);
        assert.deepEqual(managedEntries(withB, "proj/b"), b);
        assert.deepEqual(managedEntries(withB), [], "no block of before stacks were named");
        const withoutA = run("remove", "--stack", "proj/a");
        assert.equal(withoutA, withoutManagedBlock(withB, "proj/a"));
        // The final newline A's block added stays: B's block came after it (removed in the
        // other order, the file is back to its original bytes).
        assert.equal(run("remove", "--stack", "proj/b"), `${original}\n`);
        assert.equal(withoutManagedBlock(withoutA, "proj/b"), `${original}\n`);
        assert.equal(withoutManagedBlock(withoutManagedBlock(withB, "proj/b"), "proj/a"), original);
    });

    it("a block of before stacks were named is adopted by a stack with none of its own, and gets its markers", function () {
        const legacy = `# host file\n${block}\n`;
        start(legacy);
        assert.deepEqual(managedEntries(legacy, "proj/a"), [...ours].reverse());
        const adopted = run("apply", ...line(a), "--stack", "proj/a");
        assert.equal(adopted, withManagedEntries(legacy, a, "proj/a"));
        assert.match(adopted, /^# BEGIN hardened-hosts managed block of proj\/a \(do not edit\)$/m);
        assert.doesNotMatch(adopted, new RegExp(`^${MANAGED_BEGIN.replace(/[()]/g, "\\$&")}$`, "m"));
    });
});
