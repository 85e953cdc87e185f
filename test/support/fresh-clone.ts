import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "./pulumi-cli";

/**
 * What a fresh clone of this checkout would hold: every file git tracks, as it is in the work
 * tree now (so an uncommitted README edit is what gets tested), in a temp directory. Nothing
 * untracked comes along (no .lab/, .pulumi-state/, stacks of your own): a command that only
 * works because of a local leftover fails here. node_modules is linked, not copied (npm ci would
 * produce the same tree from package-lock.json); dist/ is built in the copy. `dispose()` removes
 * the directory.
 */
export class FreshClone {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-clone-"));

    constructor(from = repoRoot) {
        try {
            const r = spawnSync("git", ["-C", from, "ls-files", "-z"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
            if (r.status !== 0) throw new Error(`git ls-files in ${from}: ${r.stderr}`);
            for (const rel of r.stdout.split("\0").filter((f) => f !== "")) {
                const src = path.join(from, rel);
                const st = fs.lstatSync(src, { throwIfNoEntry: false });
                if (st === undefined) continue; // deleted in the work tree: a fresh clone of it would not have it either
                const dst = path.join(this.dir, rel);
                fs.mkdirSync(path.dirname(dst), { recursive: true });
                if (st.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst);
                else fs.copyFileSync(src, dst); // keeps the mode bits (scripts stay executable)
            }
            fs.symlinkSync(path.join(from, "node_modules"), path.join(this.dir, "node_modules"));
            // dist/ is built, not tracked: built here from the copy, as `bash scripts/up.sh` does.
            const b = spawnSync(process.execPath, [path.join(this.dir, "scripts", "build.js")], { cwd: this.dir, encoding: "utf8" });
            if (b.status !== 0) throw new Error(`npm run build in ${this.dir}: ${b.stderr}`);
        } catch (e) {
            this.dispose();
            throw e;
        }
    }

    dispose(): void {
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
