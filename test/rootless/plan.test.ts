import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import {
    OCI_RUNTIMES, ROOTLESS_MODES, STORAGE_ORDER, renderOciRuntimes, renderTools, rootlessDecisionArgs, rootlessTools,
} from "../../components/rootless/plan";
import { repoRoot } from "../support/pulumi-cli";

// Issue #15: what rootless.sh is told (components/rootless/plan.ts), unit by unit; and that the
// script reads exactly what the plan renders (its argument check, run with a --bogus-free usage).
describe("rootless plan (pure decisions)", function () {
    it("every mode needs the ID mapping tools, slirp4netns and a static busybox; conditional tools name their fact", function () {
        for (const mode of ROOTLESS_MODES) {
            const tools = rootlessTools(mode);
            const byTool = new Map(tools.map((t) => [t.tool, t]));
            assert.equal(byTool.size, tools.length, `${mode}: each tool once`);
            assert.deepEqual(byTool.get("newuidmap")?.packages, ["uidmap"]);
            assert.deepEqual(byTool.get("newgidmap")?.packages, ["uidmap"]);
            assert.deepEqual(byTool.get("slirp4netns")?.packages, ["slirp4netns"]);
            assert.deepEqual(byTool.get("busybox")?.packages, ["busybox-static"], "a static busybox: verification builds its image from it");
            assert.equal(byTool.get("pam_systemd.so")?.when, "systemd");
            assert.equal(byTool.get("setfacl")?.when, "tun-closed");
            for (const t of tools) assert.ok(t.packages.length > 0, `${mode}: ${t.tool} has a package`);
        }
    });

    it("docker-rootless: docker.io, with docker-cli when docker.io does not bring the CLI (trixie), and iproute2 for rootlesskit", function () {
        const byTool = new Map(rootlessTools("docker-rootless").map((t) => [t.tool, t]));
        assert.deepEqual(byTool.get("docker")?.packages, ["docker.io", "docker-cli"]);
        assert.deepEqual(byTool.get("dockerd")?.packages, ["docker.io"]);
        assert.deepEqual(byTool.get("dockerd-rootless.sh")?.packages, ["docker.io"]);
        assert.deepEqual(byTool.get("rootlesskit")?.packages, ["rootlesskit"]);
        assert.deepEqual(byTool.get("ip")?.packages, ["iproute2"]);
        assert.equal(byTool.has("podman"), false);
    });

    it("podman: podman and fuse-overlayfs always, the OCI runtime only as chosen for the cgroup version", function () {
        const byTool = new Map(rootlessTools("podman").map((t) => [t.tool, t]));
        assert.equal(byTool.get("podman")?.when, undefined);
        assert.equal(byTool.get("fuse-overlayfs")?.when, undefined);
        assert.equal(byTool.get("crun")?.when, "oci-runtime");
        assert.equal(byTool.get("runc")?.when, "oci-runtime");
        assert.equal(byTool.has("dockerd"), false);
    });

    it("OCI runtime per cgroup version: runc where crun refuses (v1, hybrid), crun first on v2", function () {
        assert.deepEqual(OCI_RUNTIMES, { v1: ["runc"], hybrid: ["runc"], v2: ["crun", "runc"] });
        assert.equal(renderOciRuntimes(OCI_RUNTIMES), "v1=runc,hybrid=runc,v2=crun:runc");
    });

    it("storage drivers: native overlay, then fuse-overlayfs, then vfs (which always works) last", function () {
        assert.deepEqual(STORAGE_ORDER, ["overlay", "fuse-overlayfs", "vfs"]);
    });

    it("renders --packages as tool[@fact]=package[:next]", function () {
        assert.equal(renderTools([{ tool: "a", packages: ["p"] }, { tool: "b.so", packages: ["q", "r"], when: "systemd" }]), "a=p,b.so@systemd=q:r");
    });

    it("podman gets --oci-runtime and --storage-order, docker-rootless only --packages", function () {
        assert.deepEqual(rootlessDecisionArgs("docker-rootless").filter((a) => a.startsWith("--")), ["--packages"]);
        assert.deepEqual(rootlessDecisionArgs("podman").filter((a) => a.startsWith("--")), ["--packages", "--oci-runtime", "--storage-order"]);
    });

    // The script's own check of these arguments: what the plan renders passes it (the run stops
    // at the first host check, "must run as root", or later when root: --user below is taken,
    // so it stops at a usage error of ours instead), and malformed values are usage errors.
    const script = path.join(repoRoot, "components", "rootless", "rootless.sh");
    const run = (args: string[]) => spawnSync("bash", [script, ...args], { encoding: "utf8" });
    for (const mode of ROOTLESS_MODES) {
        it(`rootless.sh accepts what the plan renders for ${mode}`, function () {
            // --expect-range given twice: a usage error raised only after the decisions were read.
            const r = run(["apply", "--mode", mode, "--user", "alice", ...rootlessDecisionArgs(mode), "--expect-range", "1:65536", "--expect-range", "1:65536"]);
            assert.equal(r.status, 2, r.stderr);
            assert.match(JSON.parse(r.stdout).error, /option --expect-range given twice/);
        });
    }
    for (const [what, args, message] of [
        ["no --packages", ["apply", "--mode", "docker-rootless", "--user", "alice"], /--packages is required/],
        ["a package with a shell character", ["apply", "--mode", "docker-rootless", "--user", "alice", "--packages", "docker=docker.io;id"], /is not TOOL/],
        ["an unknown fact", ["apply", "--mode", "docker-rootless", "--user", "alice", "--packages", "a@moon=b"], /is not TOOL/],
        ["podman without --oci-runtime", ["apply", "--mode", "podman", "--user", "alice", "--packages", "a=b", "--storage-order", "vfs"], /--oci-runtime .* is required/],
        ["an --oci-runtime missing v2", ["apply", "--mode", "podman", "--user", "alice", "--packages", "a=b", "--oci-runtime", "v1=runc,hybrid=runc", "--storage-order", "vfs"], /--oci-runtime .* is required/],
        ["a version twice", ["apply", "--mode", "podman", "--user", "alice", "--packages", "a=b", "--oci-runtime", "v1=runc,v1=crun"], /each version once/],
        ["an unknown runtime", ["apply", "--mode", "podman", "--user", "alice", "--packages", "a=b", "--oci-runtime", "v2=youki"], /is not v1\|hybrid\|v2/],
        ["an unknown driver", ["apply", "--mode", "podman", "--user", "alice", "--packages", "a=b", "--storage-order", "btrfs"], /is not overlay/],
        ["a driver twice", ["apply", "--mode", "podman", "--user", "alice", "--packages", "a=b", "--storage-order", "vfs,vfs"], /each once/],
        ["a podman argument for docker", ["apply", "--mode", "docker-rootless", "--user", "alice", "--packages", "a=b", "--storage-order", "vfs"], /are for --mode podman/],
        ["a value of two lines", ["apply", "--mode", "docker-rootless", "--user", "alice", "--packages", "a=b\nc=d"], /expected one line/],
    ] as [string, string[], RegExp][]) {
        it(`rootless.sh refuses ${what} (exit 2)`, function () {
            const r = run(args);
            assert.equal(r.status, 2, r.stderr);
            assert.match(JSON.parse(r.stdout).error, message);
        });
    }
});
