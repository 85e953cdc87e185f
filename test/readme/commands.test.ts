import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../support/pulumi-cli";

// Issue #17: every command the README shows must work as printed from the clone's root. This
// reads the README's ```sh blocks and its inline `pulumi ...` / `npm run ...` / `bash ...` spans
// and checks what can be checked without running them: the files they name exist, the npm
// scripts exist, and every flag is one the engine's own `--help` lists for that subcommand. A
// path given to --policy-pack that names a file must be absolute: the engine does not find a
// relative one (measured with v3.274.1). The commands themselves run in the lab suites.
const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { scripts: Record<string, string> };

/** Shell-like words of one command line (quotes removed, $PWD is the clone's root). */
function words(line: string): string[] {
    const out: string[] = [];
    const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
    for (let m = re.exec(line); m; m = re.exec(line)) out.push((m[1] ?? m[2] ?? m[3]!).replace(/\$PWD/g, repoRoot));
    return out;
}

function commands(): string[] {
    const lines: string[] = [];
    for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
        for (const l of block[1]!.split("\n")) lines.push(l.replace(/\s+#.*$/, "").trim());
    }
    for (const span of readme.matchAll(/`((?:pulumi|npm run|npm test|bash|source) [^`]*|npm test)`/g)) lines.push(span[1]!.trim());
    // Placeholders (`<URN>`, `...`) mark commands a reader completes; their flags still count.
    return [...new Set(lines.filter((l) => l !== "" && !l.startsWith("export ")))];
}

const helpCache = new Map<string, string>();
function pulumiHelp(sub: string[]): string {
    const key = sub.join(" ");
    if (!helpCache.has(key)) {
        const script = `source "${repoRoot}/scripts/pulumi-env.sh" && exec pulumi "$@" --help`;
        const r = spawnSync("bash", ["-c", script, "pulumi", ...sub], { encoding: "utf8" });
        assert.equal(r.status, 0, `pulumi ${key} --help: ${r.stderr}`);
        helpCache.set(key, r.stdout);
    }
    return helpCache.get(key)!;
}

describe("README commands (files, npm scripts, pulumi flags exist; paths work from the clone's root)", function () {
    this.timeout(60_000);
    const all = commands();

    it("finds the two setup commands at the top and the sections' commands", function () {
        assert.deepEqual(all.slice(0, 2), ["bash scripts/up.sh", "npm test"]);
        assert.ok(all.length >= 12, all.join("\n"));
    });

    for (const line of all) {
        it(line, function () {
            const w = words(line).filter((x) => x !== "<" && !x.startsWith("~"));
            const [cmd, ...args] = w;
            switch (cmd) {
                case "bash":
                case "source":
                    assert.ok(fs.existsSync(path.join(repoRoot, args[0]!)), `${args[0]} exists`);
                    break;
                case "cp":
                    assert.ok(fs.existsSync(path.join(repoRoot, args[0]!)), `${args[0]} exists`);
                    assert.ok(fs.existsSync(path.dirname(path.join(repoRoot, args[1]!))), `${path.dirname(args[1]!)} exists`);
                    break;
                case "npm":
                    if (args[0] === "test") assert.ok(pkg.scripts.test, "npm test");
                    // `npm pack` builds through prepack; `npm install` runs in the user's own project.
                    else if (args[0] === "pack") assert.ok(pkg.scripts.prepack, "npm pack builds dist/ first (prepack)");
                    else if (args[0] === "install") assert.ok(true, "run in the user's own project, not here");
                    else assert.ok(pkg.scripts[args[1]!], `npm script ${args[1]}`);
                    break;
                case "cd":
                    // Into the user's own project (Use it in your own program).
                    break;
                case "pulumi": {
                    // Subcommand words come before the first flag or argument a reader supplies.
                    const sub: string[] = [];
                    for (const a of args) {
                        if (a.startsWith("-") || a.startsWith("<") || /[A-Z./:]/.test(a) || sub.length === 2) break;
                        sub.push(a);
                    }
                    // `stack init onboard`, `config set --secret KEY`: the last word may be an argument.
                    let help = "";
                    for (let n = sub.length; n >= 1 && help === ""; n--) {
                        try {
                            help = pulumiHelp(sub.slice(0, n));
                        } catch {
                            help = "";
                        }
                    }
                    assert.notEqual(help, "", `pulumi ${sub.join(" ")} is a command`);
                    for (const f of args.filter((a) => a.startsWith("--"))) {
                        const flag = f.split("=")[0]!;
                        assert.match(help, new RegExp(`\\s${flag.replace(/[-]/g, "\\-")}[\\s=]`), `pulumi ${sub.join(" ")} has ${flag}`);
                    }
                    const pack = args.indexOf("--policy-pack");
                    if (pack >= 0) {
                        // In a user's project the package sits in node_modules/hardened-hosts: here, this checkout.
                        const p = args[pack + 1]!;
                        const inPackage = (x: string) => x.replace(/^(.*\/)?node_modules\/hardened-hosts\//, (_m, pre?: string) => pre ?? "");
                        const abs = path.isAbsolute(p) ? inPackage(p) : path.join(repoRoot, inPackage(p));
                        assert.ok(fs.existsSync(abs), `${p} exists`);
                        if (!fs.statSync(abs).isDirectory()) assert.ok(path.isAbsolute(p), `${p}: a pack file must be given as an absolute path`);
                    }
                    break;
                }
                default:
                    assert.fail(`no rule for ${JSON.stringify(cmd)}: teach this test what to check`);
            }
        });
    }
});
