import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// scripts/language-host.sh, installed as pulumi-language-nodejs in front of the v3.68.0 host:
// it passes Pulumi.yaml's runtime.options.typescript as the flag that host reads. Run here with a
// stand-in "real" host that prints its arguments.
describe("scripts/language-host.sh (the language host's typescript option)", function () {
    const root = path.resolve(__dirname, "..", "..");
    let dir: string;
    let bin: string;

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-langhost-"));
        bin = path.join(dir, "bin");
        fs.mkdirSync(bin);
        fs.copyFileSync(path.join(root, "scripts", "language-host.sh"), path.join(bin, "pulumi-language-nodejs"));
        fs.chmodSync(path.join(bin, "pulumi-language-nodejs"), 0o755);
        fs.writeFileSync(path.join(bin, "pulumi-language-nodejs-v3.68.0"), "#!/bin/sh\necho \"$@\"\n", { mode: 0o755 });
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** The real host's arguments when started in `cwd` (the program's directory) of a project. */
    function argsIn(project: string | undefined, sub = "."): string {
        const proj = path.join(dir, "proj");
        fs.mkdirSync(path.join(proj, sub), { recursive: true });
        if (project !== undefined) fs.writeFileSync(path.join(proj, "Pulumi.yaml"), project);
        const r = spawnSync(path.join(bin, "pulumi-language-nodejs"), ["-tracing", "x", "127.0.0.1:1"], { cwd: path.join(proj, sub), encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
    }

    it("passes -typescript=false for `typescript: false` under runtime.options, from the program's folder", () => {
        const yaml = "name: p\nruntime:\n  name: nodejs\n  options:\n    # why\n    typescript: false\nmain: stacks/main.js\n";
        assert.equal(argsIn(yaml, "stacks"), "-typescript=false -tracing x 127.0.0.1:1");
    });

    it("passes it for the flow style too", () => {
        assert.equal(argsIn("name: p\nruntime: { name: nodejs, options: { typescript: false } }\n"), "-typescript=false -tracing x 127.0.0.1:1");
    });

    it("keeps the host's default otherwise: true, absent, elsewhere in the file, no project", () => {
        assert.equal(argsIn("name: p\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n"), "-tracing x 127.0.0.1:1");
        assert.equal(argsIn("name: p\nruntime: nodejs\n"), "-tracing x 127.0.0.1:1");
        assert.equal(argsIn("name: p\nruntime: nodejs\nconfig:\n  x:\n    typescript: false\n"), "-tracing x 127.0.0.1:1");
        assert.equal(argsIn(undefined), "-tracing x 127.0.0.1:1");
    });
});
