import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { HostWorkProps, hostWorkProvider, isLegacyCommand, legacyUnchanged } from "../../components/host/host-work";
import { readHostScript, scriptByDigest, scriptDigest } from "../../components/host/script-files";
import { BY_REFERENCE, referenceText } from "../../components/host/dynamic-resource";
import { repoRoot } from "../support/pulumi-cli";

// Issue #29: a host step's script is not in the state. HostWork keeps the script's path and
// digest; its provider reads the script from the installed package. And a stack made before it
// (the same step as a remote.Command, its script as stdin) upgrades without the host being touched.
describe("HostWork (its provider, no host)", function () {
    const text = readHostScript("subids/subids-host.sh");
    // An endpoint that never answers: a test passes only if nothing connects.
    const nowhere = { host: "192.0.2.1", port: 22, user: "root", privateKey: "k", dialErrorLimit: 1, perDialTimeout: 1 };
    const news: HostWorkProps = {
        connection: nowhere,
        create: "bash -s -- apply tenant-a:2147483648:65536 --stack p/s",
        delete: "bash -s -- remove --stack p/s",
        script: "subids/subids-host.sh",
        scriptDigest: scriptDigest(text),
    };
    /** The same step as a remote.Command kept it (inputs and outputs: the command's provider adds stdout/stderr). */
    const legacy = {
        connection: { ...nowhere, proxy: undefined },
        create: news.create,
        delete: news.delete,
        stdin: text,
        logging: "stderr",
        addPreviousOutputInEnv: false,
        stdout: '{"ok":true,"action":"apply"}\n',
        stderr: "subids-host: ...\n",
    };

    it("reads a script by its digest from the package, and refuses another (except on delete)", function () {
        assert.equal(scriptByDigest("subids/subids-host.sh", scriptDigest(text)), text);
        assert.throws(() => scriptByDigest("subids/subids-host.sh", "sha256:0000000000000000"),
            /subids\/subids-host\.sh: the installed hardened-hosts has sha256:[0-9a-f]{16}, not the sha256:0000000000000000 the plan was made with/);
        assert.equal(scriptByDigest("subids/subids-host.sh", "sha256:0000000000000000", true), text);
    });

    it("diff: any input re-runs create (an update); triggers replace; the same inputs change nothing", async function () {
        const outs = { ...news, stdout: "{}" };
        assert.deepEqual(await hostWorkProvider.diff!("id", outs, news), { changes: false, replaces: [] });
        for (const k of ["create", "delete", "script", "scriptDigest"] as const) {
            assert.deepEqual(await hostWorkProvider.diff!("id", outs, { ...news, [k]: "x" }), { changes: true, replaces: [] }, k);
        }
        assert.deepEqual(await hostWorkProvider.diff!("id", outs, { ...news, connection: { ...nowhere, port: 2222 } }), { changes: true, replaces: [] });
        assert.deepEqual(await hostWorkProvider.diff!("id", { ...outs, triggers: ["a"] }, { ...news, triggers: ["b"] }), { changes: true, replaces: ["triggers"] });
    });

    it("upgrade: a remote.Command's state with the same command line and script is rewritten as HostWork's, with no host contact", async function () {
        assert.ok(isLegacyCommand(legacy as never));
        assert.ok(!isLegacyCommand({ ...news, stdout: "{}" }));
        assert.deepEqual(await hostWorkProvider.diff!("id", legacy as never, news), { changes: true, replaces: [] });
        assert.ok(legacyUnchanged(legacy, news));
        const r = await hostWorkProvider.update!("id", legacy as never, news);
        assert.deepEqual(r.outs, { ...news, stdout: legacy.stdout }, "the state keeps no stdin, stderr or command options");
    });

    it("upgrade: a remote.Command whose command line, script or connection changed runs create (and so tries the host)", async function () {
        assert.ok(!legacyUnchanged({ ...legacy, create: `${legacy.create} x` }, news));
        assert.ok(!legacyUnchanged({ ...legacy, stdin: `${text}\n# older` }, news));
        assert.ok(!legacyUnchanged({ ...legacy, connection: { ...nowhere, host: "192.0.2.2" } }, news));
        await assert.rejects(hostWorkProvider.update!("id", { ...legacy, stdin: "older script" } as never, news), /Cannot parse privateKey|ssh root@192\.0\.2\.1:22/, "it connects");
    });

    it("delete runs nothing when the step has no delete command", async function () {
        await hostWorkProvider.delete!("id", { ...news, delete: undefined });
    });

    it("keeps in state a provider text of a few hundred bytes that loads the installed package's module", function () {
        const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));
        for (const [name, [spec]] of Object.entries(BY_REFERENCE)) {
            const t = referenceText(name);
            assert.ok(t.length < 700, `${name}: ${t.length} bytes`);
            assert.ok(pkg.exports[`./${spec.slice("hardened-hosts/".length)}`], `${spec} is an export of the package`);
            assert.doesNotMatch(t, new RegExp(repoRoot.replace(/[/.]/g, "\\$&")));
        }
    });
});
