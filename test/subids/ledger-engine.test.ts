import * as assert from "node:assert/strict";
import * as path from "node:path";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";

// The ledger in real Pulumi state (file backend, real engine, real dynamic provider): ranges
// survive across `up`s, the preview shows the allocation change as a table, and removing one
// tenant never moves another.
describe("SubidLedger in real Pulumi state", function () {
    this.timeout(180_000);
    let project: ScratchProject;
    const outputs = () => JSON.parse(project.ok(["stack", "output", "--json"]).stdout);

    before(function () {
        project = new ScratchProject(path.join(repoRoot, "test", "fixtures", "subids-ledger"), { HH_REPO_ROOT: repoRoot });
        project.ok(["stack", "init", "ledger"]);
        project.ok(["config", "set", "--path", "tenants.tenant-a", "65536"]);
        project.ok(["config", "set", "--path", "tenants.tenant-b", "131072"]);
    });
    after(function () {
        project?.pulumi(["destroy", "--yes", "--skip-preview"]);
        project?.dispose();
    });

    it("allocates on the first up", function () {
        project.ok(["up", "--yes", "--skip-preview"]);
        assert.deepEqual(outputs().allocation, {
            "tenant-a": { start: 2147483648, count: 65536 },
            "tenant-b": { start: 2147549184, count: 131072 },
        });
    });

    it("previews no change when nothing changed", function () {
        project.ok(["preview", "--expect-no-changes"]);
    });

    it("shows a tenant swap in the preview as a table diff, before anything runs", function () {
        project.ok(["config", "rm", "--path", "tenants.tenant-a"]);
        project.ok(["config", "set", "--path", "tenants.tenant-c", "65536"]);
        const preview = project.ok(["preview", "--diff"]).stdout;
        assert.match(preview, /-\s+tenant-a\s+2147483648\s+2147549183\s+65536/);
        assert.match(preview, /\+\s+tenant-c\s+2147680256\s+2147745791\s+65536/);
    });

    it("keeps tenant-b where it was and retires tenant-a's range", function () {
        project.ok(["up", "--yes", "--skip-preview"]);
        const out = outputs();
        assert.deepEqual(out.allocation["tenant-b"], { start: 2147549184, count: 131072 });
        assert.deepEqual(out.allocation["tenant-c"], { start: 2147680256, count: 65536 });
        assert.deepEqual(out.retired, { "tenant-a": { start: 2147483648, count: 65536 } });
    });

    it("fails the preview with the owner named when a request is invalid", function () {
        project.ok(["config", "set", "--path", "tenants.tenant-d", "100"]);
        const r = project.pulumi(["preview"]);
        assert.notEqual(r.status, 0);
        assert.match(r.stdout + r.stderr, /tenant-d/);
        project.ok(["config", "rm", "--path", "tenants.tenant-d"]);
    });
});
