import * as assert from "node:assert/strict";
import * as path from "node:path";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";
// Type-checks the pack's entry point with `tsc -p .` (a type-only import: nothing runs here; at
// run time it would start the pack's gRPC server).
import type {} from "../../policy/index";

// The pack through the real engine, offline: `pulumi preview --policy-pack` on a program that
// needs no cloud (a real HardenedFleet whose host commands only run on `up`, SubidLedgers the
// engine checks through the dynamic provider, bare components). Nothing is created.
//
// The pack is given as policy/analyzer.sh: this repository's offline language host (sdk v3.68.0)
// cannot start a pack from its directory (see policy/README.md).
describe("policy pack through the real engine (offline preview)", function () {
    this.timeout(300_000);
    const analyzer = path.join(repoRoot, "policy", "analyzer.sh");
    let project: ScratchProject;

    before(function () {
        project = new ScratchProject(path.join(repoRoot, "test", "policy", "fixtures", "policy-stack"), { HH_REPO_ROOT: repoRoot });
        project.ok(["stack", "init", "policy"]);
    });

    after(function () {
        project?.dispose();
    });

    it("passes a real HardenedFleet (userns-remap and Podman hosts, one allocation)", function () {
        project.ok(["config", "set", "scenario", "clean"]);
        const r = project.ok(["preview", "--policy-pack", analyzer]);
        assert.match(r.stdout, /✅ hardened-hosts@v0\.1\.0/);
        assert.match(r.stdout, /hardened-hosts:rootless:RootlessRuntime host-b-podman/);
        assert.doesNotMatch(r.stdout, /\[mandatory\]|\[advisory\]/);
    });

    it("fails the preview on every planted violation, naming the resource and the field", function () {
        project.ok(["config", "set", "scenario", "violations"]);
        const r = project.pulumi(["preview", "--policy-pack", analyzer]);
        assert.notEqual(r.status, 0, r.stdout);
        const out = r.stdout;
        assert.match(out, /❌ hardened-hosts@v0\.1\.0/);
        const expected: [string, RegExp][] = [
            ["hardened-host-runtime", /HardenedHost "bare-host": runtime: none below it/],
            ["hardened-host-runtime", /HardenedHost "rootful-host": runtime: RootlessRuntime "rootful-host-docker" sets up "docker-rootful"/],
            ["subid-ranges-disjoint", /SubidLedger "team-[ab]" allocation\.(alice|bob) 2147483648-2147549183 overlaps SubidLedger "team-[ab]" allocation\.(alice|bob)/],
            ["subid-ranges-disjoint", /HostSubids "host-c-subids" \(HostWork "host-c-subids-write" create\) line "dave:3221229568:65536" .* overlaps .* line "carol:3221225472:65536"/],
            ["subid-ranges-in-bounds", /SubidLedger "low" allocation\.lowuser: range 0-65535 starts below 65536/],
            ["subid-ranges-in-bounds", /HostSubids "host-c-subids" \(HostWork "host-c-subids-write" create\) line "erin:4294901760:65536": range ends past 4294967294/],
        ];
        for (const [policy, message] of expected) assert.match(out, message, `${policy}: ${message} in\n${out}`);
        assert.equal((out.match(/- \[mandatory\]/g) ?? []).length, expected.length, out);
    });
});
