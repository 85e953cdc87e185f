import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../support/pulumi-cli";

// Each host script travels alone on the SSH session's stdin, so the few helpers two scripts
// need are copies. They must stay identical: the differential test against shadow's getsubids
// (test/subids/shadow-parse.test.ts, shadow-corpus.test.ts) runs through subids-host.sh only, and holds verify.sh's
// reading of /etc/subuid to it through this test.
const script = (rel: string) => fs.readFileSync(path.join(repoRoot, "components", rel), "utf8");

/** The text of a shell or awk function, from its header to the closing brace at its indent. */
function functionText(text: string, header: RegExp): string {
    const lines = text.split("\n");
    const start = lines.findIndex((l) => header.test(l));
    assert.ok(start >= 0, `no ${header}`);
    const indent = /^\s*/.exec(lines[start]!)![0];
    const end = lines.findIndex((l, i) => i > start && l === `${indent}}`);
    assert.ok(end > start, `${header} does not end`);
    return lines.slice(start, end + 1).map((l) => l.trim()).join("\n");
}

describe("helpers copied between host scripts stay identical", function () {
    it("the shadow-awk block (subid and account lines as shadow and glibc read them): subids-host.sh and verify.sh", function () {
        const block = (text: string) => {
            const m = /^# BEGIN shadow-awk\n[\s\S]*?^# END shadow-awk$/m.exec(text);
            assert.ok(m, "no shadow-awk block");
            return m[0];
        };
        assert.equal(block(script("verify/verify.sh")), block(script("subids/subids-host.sh")));
    });

    it("find_static_busybox (verification's test image): docker-remap.sh and rootless.sh", function () {
        const re = /^find_static_busybox\(\) \{/;
        assert.equal(functionText(script("rootless/rootless.sh"), re), functionText(script("docker/docker-remap.sh"), re));
    });

    it("utf8_clean and short (what reaches Pulumi is UTF-8, logged lines short): all four scripts", function () {
        const scripts = ["subids/subids-host.sh", "docker/docker-remap.sh", "rootless/rootless.sh", "verify/verify.sh"];
        for (const name of ["utf8_clean", "short"]) {
            const texts = scripts.map((s) => script(s).split("\n").find((l) => l.startsWith(`${name}() {`)));
            for (const [i, t] of texts.entries()) assert.ok(t, `${scripts[i]} has ${name}()`);
            assert.equal(new Set(texts).size, 1, `${name}() differs between ${scripts.join(", ")}`);
        }
    });
});
