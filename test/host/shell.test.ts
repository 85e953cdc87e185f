import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { shellJoin, shellQuote } from "../../components/host/shell";
import { scriptCommandLine } from "../../components/host/script";

describe("shellQuote", function () {
    it("leaves plain words alone and quotes the rest", function () {
        assert.equal(shellQuote("tenant-a:2147483648:65536"), "tenant-a:2147483648:65536");
        assert.equal(shellQuote(""), "''");
        assert.equal(shellQuote("a b"), "'a b'");
        assert.equal(shellQuote("it's"), `'it'"'"'s'`);
    });

    it("round-trips any string through a real shell unchanged (property)", function () {
        fc.assert(
            fc.property(fc.array(fc.string({ unit: "binary" }).filter((s) => !s.includes("\0")), { maxLength: 4 }), (words) => {
                const r = spawnSync("bash", ["-c", `printf '%s\\0' ${shellJoin(words)}`], { encoding: "utf8" });
                const got = words.length === 0 ? [] : r.stdout.split("\0").slice(0, -1);
                assert.deepEqual(got, words);
            }),
            { numRuns: 60 },
        );
    });

    it("builds a sudo command line for scripts read from stdin", function () {
        assert.equal(scriptCommandLine(["apply", "a:1:2"], true), "sudo -n bash -s -- apply a:1:2");
        assert.equal(scriptCommandLine(["x y"], false), "bash -s -- 'x y'");
    });
});
