import * as assert from "node:assert/strict";
import type { HostFacts } from "../../components/platform/facts";
import { SupportProps, decideOnHost, hostSupportProvider, refusalMessage } from "../../components/platform/host-support";
import { RECORDED } from "../../components/platform/recorded";
import { readHostScript, scriptDigest } from "../../components/host/script-files";
import { packScripts } from "../../components/verify/host-check";

// Issue #30: HostSupport's provider over a scripted host session: what it runs on the host for
// each decision (a refusal runs nothing but observe), and what the state keeps.
type Call = { commandLine: string; stdin: string };

function session(facts: HostFacts, fixReport = '{"ok":true,"action":"fix","changed":true,"changes":[],"fixes":{"apparmorProfiles":["/usr/bin/podman"],"maxUserNamespaces":null}}') {
    const calls: Call[] = [];
    const exec = async (commandLine: string, stdin: string) => {
        calls.push({ commandLine, stdin });
        if (commandLine.includes("observe")) return { stdout: `${JSON.stringify({ ok: true, action: "observe", ...facts })}\n`, stderr: "platform: observe: ...\n", code: 0 };
        if (commandLine.includes("fix")) return { stdout: `${fixReport}\n`, stderr: "", code: 0 };
        return { stdout: "", stderr: "unexpected", code: 1 };
    };
    return { calls, exec };
}

// platform.sh is the package's, by its digest (issue #29): the state holds no script.
const PLATFORM = readHostScript("platform/platform.sh");
const props = (mode: SupportProps["mode"], sudo = false): SupportProps => ({
    host: "h1", mode, script: scriptDigest(PLATFORM), __sudo: sudo, __connection: { host: "10.0.0.1" },
});
const edit = (key: string, f: (x: HostFacts) => void): HostFacts => { const x = JSON.parse(JSON.stringify(RECORDED[key]!.facts)); f(x); return x; };

describe("HostSupport (scripted host)", function () {
    it("supported with nothing to fix: observe only, nothing written, no fixes recorded", async function () {
        const { calls, exec } = session(RECORDED["debian-12"]!.facts);
        const out = await decideOnHost(props("userns-remap", true), exec);
        assert.deepEqual(calls.map((c) => c.commandLine), ["sudo -n bash -s -- observe"]);
        assert.equal(calls[0]!.stdin, PLATFORM);
        assert.equal(out.decision!.status, "supported");
        assert.deepEqual(out.fixesApplied, []);
        assert.equal(out.facts!.distro, "Debian GNU/Linux 12 (bookworm)");
        assert.equal(refusalMessage(out), undefined);
    });

    it("supported with a fix: observe, then platform.sh fix with the decided arguments; the state records what is in place", async function () {
        const facts = edit("ubuntu-24.04", (f) => { f.apparmor.profiles["/usr/bin/podman"] = []; });
        const { calls, exec } = session(facts);
        const out = await decideOnHost(props("podman"), exec);
        assert.deepEqual(calls.map((c) => c.commandLine), ["bash -s -- observe", "bash -s -- fix --apparmor-userns /usr/bin/podman"]);
        assert.deepEqual(out.fixesApplied, ["apparmor /usr/bin/podman"]);
    });

    it("refused: observe only (nothing written), and the operation fails naming the reason, keeping the refusal in state", async function () {
        const facts = edit("rhel-9", () => undefined);
        const { calls, exec } = session(facts);
        const out = await decideOnHost(props("podman"), exec);
        assert.deepEqual(calls.map((c) => c.commandLine), ["bash -s -- observe"]);
        assert.equal(out.decision!.status, "refused");
        assert.match(refusalMessage(out)!, /^h1: podman on rhel 9\.4: refused: .*apt only.* What you can do: dnf install -y podman .* Nothing was written to the host\.$/);
    });

    it("a host whose fixes were taken away by the decision gets fix with none (ours removed)", async function () {
        const facts = edit("debian-13", (f) => { f.fixes = { apparmorProfiles: ["/usr/bin/podman"], maxUserNamespaces: null }; });
        const { calls, exec } = session(facts, '{"ok":true,"action":"fix","changed":true,"changes":["apparmor -/usr/bin/podman"],"fixes":{"apparmorProfiles":[],"maxUserNamespaces":null}}');
        const out = await decideOnHost(props("podman"), exec);
        assert.deepEqual(calls.map((c) => c.commandLine), ["bash -s -- observe", "bash -s -- fix"]);
        assert.deepEqual(out.fixesApplied, []);
    });

    it("diff: a refused host is decided again on every up; a supported one when mode, host, script or sudo change", async function () {
        const base = { ...props("podman"), decision: { status: "supported" } } as SupportProps;
        assert.equal((await hostSupportProvider.diff!("id", base, props("podman"))).changes, false);
        assert.equal((await hostSupportProvider.diff!("id", base, props("podman-auto"))).changes, true);
        assert.equal((await hostSupportProvider.diff!("id", base, { ...props("podman"), script: "sha256:y" })).changes, true);
        const refused = { ...props("podman"), decision: { status: "refused" } } as SupportProps;
        assert.equal((await hostSupportProvider.diff!("id", refused, props("podman"))).changes, true);
    });

    it("upgrade: a state from before #29 (the script packed in it) is rewritten without it, with no host contact", async function () {
        const facts = { distro: "Debian GNU/Linux 12 (bookworm)" } as SupportProps["facts"];
        const legacy = { ...props("podman"), __script: packScripts({ platform: PLATFORM }), decision: { status: "supported", fixes: [] }, facts, fixesApplied: [] } as unknown as SupportProps;
        assert.equal((await hostSupportProvider.diff!("id", legacy, props("podman"))).changes, true);
        // The endpoint would not answer: nothing may connect.
        const news = { ...props("podman"), __connection: { host: "192.0.2.1", perDialTimeout: 1, dialErrorLimit: 1 } };
        const r = await hostSupportProvider.update!("id", { ...legacy, __connection: news.__connection }, news);
        assert.equal(r.outs.__script, undefined);
        assert.deepEqual([r.outs.decision, r.outs.facts, r.outs.fixesApplied], [legacy.decision, facts, []]);
    });

    it("delete visits only a host that got fixes", async function () {
        // No fixes: returns without any connection (the endpoint would not answer).
        await hostSupportProvider.delete!("id", { ...props("podman"), __connection: { host: "192.0.2.1", perDialTimeout: 1 }, fixesApplied: [] });
    });
});
