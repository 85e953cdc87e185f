import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";

// The real engine, offline, against a file backend: preview → up → preview (no changes) →
// update → destroy. Needs the toolchain (scripts/pulumi-toolchain.sh); CI installs it first.
describe("Pulumi engine lifecycle (real engine, file backend)", function () {
    this.timeout(180_000);
    let project: ScratchProject;
    let markerDir: string;
    let marker: string;

    before(function () {
        markerDir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-marker-"));
        marker = path.join(markerDir, "probe.txt");
        project = new ScratchProject(path.join(repoRoot, "test", "fixtures", "engine-smoke"));
        project.ok(["stack", "init", "smoke"]);
        project.ok(["config", "set", "marker", marker]);
    });

    after(function () {
        // Leave nothing behind even when a step failed: destroy what may exist, then delete files.
        project?.pulumi(["destroy", "--yes", "--skip-preview"]);
        project?.dispose();
        fs.rmSync(markerDir, { recursive: true, force: true });
    });

    it("reports the engine version it was built at", function () {
        const r = project.ok(["version"]);
        assert.match(r.stdout.trim(), /^v3\.\d+\.\d+$/);
    });

    it("previews one command without running it", function () {
        const r = project.ok(["preview", "--diff"]);
        assert.match(r.stdout, /\+ command:local:Command: \(create\)/);
        assert.equal(fs.existsSync(marker), false, "preview must not run the create command");
    });

    it("creates it with up, and the command really ran", function () {
        const r = project.ok(["up", "--yes", "--skip-preview"]);
        assert.match(r.stdout, /1 created|2 created/);
        assert.equal(fs.readFileSync(marker, "utf8"), "hello");
        const out = JSON.parse(project.ok(["stack", "output", "--json"]).stdout);
        assert.equal(out.written, "hello");
    });

    it("shows no changes on a second preview", function () {
        project.ok(["preview", "--expect-no-changes"]);
    });

    it("updates when an input changes", function () {
        project.ok(["config", "set", "message", "changed"]);
        const preview = project.ok(["preview", "--diff"]);
        assert.match(preview.stdout, /~ command:local:Command: \(update\)/);
        project.ok(["up", "--yes", "--skip-preview"]);
        assert.equal(fs.readFileSync(marker, "utf8"), "changed");
    });

    it("destroys it, running the delete command", function () {
        project.ok(["destroy", "--yes", "--skip-preview"]);
        assert.equal(fs.existsSync(marker), false);
        const state = JSON.parse(project.ok(["stack", "export"]).stdout);
        assert.equal((state.deployment.resources ?? []).length, 0);
    });
});
