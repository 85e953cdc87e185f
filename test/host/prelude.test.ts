import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { EXIT_CODES, describeExit, parseExitCodes } from "../../components/host/exit-codes";
import { SCRIPT_PARTS, readHostScript } from "../../components/host/script";
import { repoRoot } from "../support/pulumi-cli";

// Issue #15: every host script runs on one prelude (components/host/prelude.sh), sent ahead of
// it on stdin. The helpers live there only, the exit codes are one table, and a script behaves
// the same whether it arrives on stdin (as remote.Command sends it) or runs from its file.
const SCRIPTS = ["subids/subids-host.sh", "docker/docker-remap.sh", "rootless/rootless.sh", "podman/podman-auto.sh", "verify/verify.sh"];
const file = (rel: string) => fs.readFileSync(path.join(repoRoot, "components", rel), "utf8");
const prelude = file("host/prelude.sh");
/** Names of the shell functions a text defines (`name() {` at the start of a line). */
const functions = (text: string) => [...text.matchAll(/^([a-z_][a-z0-9_]*)\(\) \{/gm)].map((m) => m[1]!);

describe("host scripts share one prelude", function () {
    it("no script defines a helper the prelude defines, or its own copy of the shared awk readers", function () {
        const shared = new Set(functions(prelude));
        assert.ok(shared.has("fail") && shared.has("json_escape") && shared.has("find_static_busybox"));
        for (const s of SCRIPTS) {
            const text = file(s);
            assert.deepEqual(functions(text).filter((f) => shared.has(f)), [], `${s} redefines prelude functions`);
            assert.doesNotMatch(text, /SHADOW_AWK=/, `${s} has its own shadow-awk`);
        }
    });

    it("every script sources the prelude when run from its file, and uses exit codes by name", function () {
        for (const s of SCRIPTS) {
            const text = file(s);
            assert.match(text, /^\[ "\$\{HH_PRELUDE:-\}" = 1 \] \|\| \. "\$\(dirname -- "\$\{BASH_SOURCE\[0\]\}"\)\/\.\.\/host\/prelude\.sh"$/m, s);
            assert.doesNotMatch(text, /\bfail [0-9]/, `${s}: fail with a number instead of an EXIT_ name`);
            for (const m of text.matchAll(/\$EXIT_([A-Z_]+)/g)) {
                assert.ok(Object.values(EXIT_CODES).some((r) => r.name === m[1]), `${s} uses EXIT_${m[1]}, which the table lacks`);
            }
        }
    });

    it("the exit-code table: unique codes, a meaning each, read by the TypeScript side", function () {
        const rows = parseExitCodes(prelude);
        assert.ok(rows.length >= 10);
        assert.equal(new Set(rows.map((r) => r.code)).size, rows.length, "codes are unique");
        assert.equal(new Set(rows.map((r) => r.name)).size, rows.length, "names are unique");
        assert.equal(describeExit(3), `exit 3, precondition: ${EXIT_CODES[3]!.meaning}`);
        assert.equal(describeExit(99), "exit 99");
        // The shell agrees with the parse: the prelude defines exactly these values.
        const r = spawnSync("bash", ["-c", `. "$1"; for v in ${rows.map((x) => `EXIT_${x.name}`).join(" ")}; do printf '%s ' "\${!v}"; done`, "bash",
            path.join(repoRoot, "components", "host", "prelude.sh")], { encoding: "utf8" });
        assert.equal(r.stdout.trim(), rows.map((x) => x.code).join(" "));
    });

    it("a script's parts define only (functions and their guard), redefine nothing of the prelude, and use exit codes by name", function () {
        const shared = new Set(functions(prelude));
        const seen = new Set<string>();
        const checkedParts = new Set<string>();
        for (const [script, parts] of Object.entries(SCRIPT_PARTS)) {
            const shipped = readHostScript(script);
            let at = shipped.indexOf(file(parts[0]!));
            for (const part of parts) {
                const text = file(part);
                // Sent in order, between the prelude and the script.
                assert.ok(shipped.indexOf(text) >= at, `${part} comes in order in what ${script} ships`);
                at = shipped.indexOf(text);
                // A part shipped with several scripts (docker-switch.sh) is checked once for redefinitions.
                if (!checkedParts.has(part)) {
                    assert.deepEqual(functions(text).filter((f) => shared.has(f) || seen.has(f)), [], `${part} redefines a function`);
                    for (const f of functions(text)) seen.add(f);
                    checkedParts.add(part);
                }
                assert.doesNotMatch(text, /\bfail [0-9]/, `${part}: fail with a number`);
                // Outside functions: comments, blank lines and the one guard assignment only.
                let depth = 0;
                for (const line of text.split("\n")) {
                    if (depth === 0 && !/^(#.*|\s*|HH_[A-Z_]+=1|[a-z_][a-z0-9_]*\(\) \{.*\}|[a-z_][a-z0-9_]*\(\) \{.*)$/.test(line)) {
                        assert.fail(`${part}: top-level line runs something: ${line}`);
                    }
                    if (/^[a-z_][a-z0-9_]*\(\) \{/.test(line) && !/\}\s*(#.*)?$/.test(line)) depth = 1;
                    else if (line === "}") depth = 0;
                }
                const guard = /^HH_([A-Z_]+)=1$/m.exec(text)?.[0].replace("=1", "");
                assert.ok(guard && file(script).includes(`[ "\${${guard}:-}" = 1 ] || . "$(dirname -- "\${BASH_SOURCE[0]}")/${path.relative(path.dirname(script), part)}"`),
                    `${script} sources ${part} from its file unless it came on stdin`);
            }
        }
    });

    for (const s of SCRIPTS) {
        it(`${s}: the same answer on stdin (as shipped) and from its file`, function () {
            const viaStdin = spawnSync("bash", ["-s", "--", "--bogus"], { input: readHostScript(s), encoding: "utf8" });
            const fromFile = spawnSync("bash", [path.join(repoRoot, "components", s), "--bogus"], { encoding: "utf8" });
            assert.equal(viaStdin.status, 2);
            assert.equal(fromFile.status, 2);
            assert.equal(viaStdin.stdout, fromFile.stdout);
            const report = JSON.parse(viaStdin.stdout.trim());
            assert.equal(report.ok, false);
            assert.equal(report.exitCode, 2);
            assert.match(report.error, /usage/);
        });
    }
});
